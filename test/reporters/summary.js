/**
 * Prints one plain closing line, `N passed, N failed`, as the very last line of the run (after
 * jest's own summary), so a tool that reads the end of the output (CI) can count the tests
 * without knowing jest. Under `npm test` it first names the tests it did not run: those in
 * test/ops/, which need outside servers from Debian's packages (`npm run test:ops`).
 */
import { readdirSync } from "node:fs";
import path from "node:path";

function opsTestsNotRun(globalConfig, contexts) {
  // `roots` is a project setting: jest.ops.config.js's project is rooted at test/ops
  const ran = [...(contexts ?? [])].some((context) =>
    (context.config?.roots ?? []).some((root) => root.endsWith(`${path.sep}ops`)),
  );
  if (ran) return [];
  const dir = path.join(globalConfig.rootDir, "test", "ops");
  try {
    return readdirSync(dir).filter((f) => f.endsWith(".test.ts"));
  } catch {
    return [];
  }
}

export default class SummaryReporter {
  #globalConfig;
  constructor(globalConfig) {
    this.#globalConfig = globalConfig;
  }

  onRunComplete(contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const notRun = opsTestsNotRun(this.#globalConfig, contexts);
    const note = notRun.length
      ? `not run here (they need outside servers from Debian's packages; \`npm run test:ops\` installs them and runs them): ${notRun.map((f) => `test/ops/${f}`).join(", ")}\n`
      : "";
    const line =
      `${results.numPassedTests} passed, ${results.numFailedTests} failed` +
      (skipped ? `, ${skipped} skipped` : "");
    // jest prints "Ran all test suites." after the reporters; stderr writes are synchronous.
    process.once("exit", () => process.stderr.write(note + line + "\n"));
  }
}
