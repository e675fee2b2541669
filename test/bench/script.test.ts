/**
 * The benchmark scripts' common start (bench/harness/script.ts), run for real in a child process:
 * a mistake on the command line is one line and exit code 1 (never a stack trace), and a signal
 * stops what the script started before it leaves with 130.
 */
import { spawn } from "node:child_process";
import path from "node:path";

import { PROJECT_ROOT } from "../../src/paths.ts";

interface Ended {
  code: number | null;
  stderr: string;
}

function run(args: string[], onLine?: (line: string, kill: () => void) => void): Promise<Ended> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "" },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => {
      const lines = chunk.toString().split("\n");
      stderr += chunk.toString();
      for (const line of lines) if (line) onLine?.(line, () => child.kill("SIGTERM"));
    });
    child.once("error", reject);
    child.once("exit", (code) => resolve({ code, stderr }));
  });
}

/** The script's own lines (not Node's warnings about experimental features). */
const own = (stderr: string, prefix: string): string[] =>
  stderr.split("\n").filter((line) => line.startsWith(`${prefix}: `));

test.each([
  [
    ["bench/overhead.ts", "--rounds", "0"],
    "bench:overhead",
    "--rounds must be a whole number above 0 (got 0)",
  ],
  [["bench/overhead.ts", "--nope"], "bench:overhead", "Unknown option '--nope'"],
  [["bench/cli.ts", "--scale"], "bench", "Option '--scale <value>' argument missing"],
  [
    ["bench/cache.ts", "--seconds", "x"],
    "bench:cache",
    "--seconds must be a positive number (got x)",
  ],
  [
    ["bench/media.ts", "--uploads", "0.2"],
    "bench:media",
    "--uploads must be a whole number above 0 (got 0.2)",
  ],
])("%j: one line, exit code 1", async (args, prefix, message) => {
  const ended = await run(args);
  expect(ended.code).toBe(1);
  expect(own(ended.stderr, prefix)).toEqual([`${prefix}: ${message}`]);
  expect(ended.stderr).not.toMatch(/\n\s+at /); // no stack trace
});

test("a signal stops what the script started, then it leaves with 130", async () => {
  const harness = path.join(PROJECT_ROOT, "bench", "harness", "script.ts");
  const program = `
    import { script } from ${JSON.stringify(harness)};
    const cli = script("demo");
    cli.stopOnSignals(async () => cli.say("stopped what it started"));
    cli.say("ready");
    setInterval(() => undefined, 60_000);
  `;
  const ended = await run(["--input-type=module", "-e", program], (line, kill) => {
    if (line === "demo: ready") kill();
  });
  expect(ended.code).toBe(130);
  expect(own(ended.stderr, "demo")).toEqual([
    "demo: ready",
    "demo: SIGTERM: stopping",
    "demo: stopped what it started",
  ]);
});
