/**
 * The example app (`npm run example:web`): Vite's dev server on 127.0.0.1:5173, next to the API
 * of `npm start` (VITE_API_URL, default http://127.0.0.1:3000; development allows localhost
 * origins, README "CORS"). It imports the typed client from ../../clients/typescript by path.
 */
import { fileURLToPath } from "node:url";

import { defineConfig } from "vite";

const here = fileURLToPath(new URL(".", import.meta.url));
const repo = fileURLToPath(new URL("../..", import.meta.url));

export default defineConfig({
  root: here,
  server: { host: "127.0.0.1", port: 5173, fs: { allow: [repo] } },
  preview: { host: "127.0.0.1", port: 4173 },
  build: { outDir: "dist", emptyOutDir: true },
});
