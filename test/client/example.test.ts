/**
 * The example web app (examples/web) type-checks (with the DOM's types, which the project's own
 * tsconfig leaves out) and builds with Vite. In a browser it is tested by npm run test:ops
 * (test/ops/browser.test.ts, Debian's Chromium).
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { PROJECT_ROOT } from "../../src/paths.ts";
import { startProcess } from "../helpers/process.ts";
import { buildExampleWeb } from "../ops/helpers/exampleWeb.ts";

it("type-checks", async () => {
  const tsc = startProcess(
    [path.join(PROJECT_ROOT, "node_modules/typescript/bin/tsc"), "-p", "examples/web"],
    {},
  );
  const code = await tsc.exited;
  expect(tsc.output()).toBe("");
  expect(code).toBe(0);
});

it("builds into a page and one script that holds the client", async () => {
  const outDir = await mkdtemp(path.join(tmpdir(), "mking-example-build-"));
  try {
    await buildExampleWeb(outDir);
    const html = await readFile(path.join(outDir, "index.html"), "utf8");
    const [script] = html.match(/\/assets\/index-[\w-]+\.js/) ?? [];
    expect(script).toBeDefined();
    const bundle = await readFile(path.join(outDir, script!), "utf8");
    // the typed client's documents and its websocket protocol made it into the bundle
    expect(bundle).toContain("messageAdded");
    expect(bundle).toContain("graphql-transport-ws");
    expect((await readdir(path.join(outDir, "assets"))).length).toBe(2); // script + stylesheet
  } finally {
    await rm(outDir, { recursive: true, force: true });
  }
});
