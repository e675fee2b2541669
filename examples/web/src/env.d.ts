/// <reference types="vite/client" />

interface ImportMetaEnv {
  /** The API's origin, e.g. http://127.0.0.1:3000 */
  readonly VITE_API_URL?: string;
}
