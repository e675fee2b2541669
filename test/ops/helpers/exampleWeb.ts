/**
 * The example web app (examples/web) as a browser gets it: built with Vite into a temp folder
 * and served by a small static file server on a free loopback port.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";

import { PROJECT_ROOT } from "../../../src/paths.ts";
import { startProcess } from "../../helpers/process.ts";

const TYPES: Record<string, string> = {
  ".html": "text/html; charset=utf-8",
  ".js": "text/javascript; charset=utf-8",
  ".css": "text/css; charset=utf-8",
  ".svg": "image/svg+xml",
};

export interface ExampleWeb {
  readonly url: string;
  close(): Promise<void>;
}

/** `vite build` of examples/web into `outDir`; throws with Vite's output if it fails. */
export async function buildExampleWeb(outDir: string): Promise<void> {
  const build = startProcess(
    [
      path.join(PROJECT_ROOT, "node_modules/vite/bin/vite.js"),
      "build",
      "--config",
      "examples/web/vite.config.ts",
      "--outDir",
      outDir,
      "--logLevel",
      "warn",
    ],
    {},
  );
  const code = await build.exited;
  if (code !== 0) throw new Error(`vite build failed (${code}):\n${build.output()}`);
}

export async function serveExampleWeb(): Promise<ExampleWeb> {
  const outDir = await mkdtemp(path.join(tmpdir(), "mking-example-web-"));
  await buildExampleWeb(outDir);
  const server: Server = createServer((req, res) => {
    const pathname = new URL(req.url ?? "/", "http://localhost").pathname;
    const file = path.join(outDir, pathname === "/" ? "index.html" : pathname);
    if (!file.startsWith(outDir + path.sep)) {
      res.writeHead(404).end();
      return;
    }
    readFile(file).then(
      (body) => {
        res.writeHead(200, {
          "content-type": TYPES[path.extname(file)] ?? "application/octet-stream",
        });
        res.end(body);
      },
      () => res.writeHead(404).end(),
    );
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address ? address.port : 0;
  return {
    url: `http://127.0.0.1:${port}`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await rm(outDir, { recursive: true, force: true });
    },
  };
}
