/**
 * Prints one plain closing line, `N passed, N failed`, as the very last line of the run (after
 * jest's own summary), so a tool that reads the end of the output (CI) can count the tests
 * without knowing jest.
 */
export default class SummaryReporter {
  onRunComplete(_contexts, results) {
    const skipped = results.numPendingTests + results.numTodoTests;
    const line =
      `${results.numPassedTests} passed, ${results.numFailedTests} failed` +
      (skipped ? `, ${skipped} skipped` : "");
    // jest prints "Ran all test suites." after the reporters; stderr writes are synchronous.
    process.once("exit", () => process.stderr.write(line + "\n"));
  }
}
