/** The one client of the app: the API's URL, and the session kept in localStorage. */
import { createClient, webStorageStore } from "../../../clients/typescript/src/index.ts";

/** ?api=… in the page's address, else VITE_API_URL at build time, else npm start's address. */
export const API_URL =
  new URLSearchParams(location.search).get("api") ??
  import.meta.env.VITE_API_URL ??
  "http://127.0.0.1:3000";

export const api = createClient({ url: API_URL, store: webStorageStore(localStorage) });
