/** A logger for tests: keeps lines in memory (for assertions), prints them only with TEST_LOG=1. */
import { createLogger, type Logger } from "../../src/log.ts";

export interface TestLogger extends Logger {
  readonly lines: string[];
  /**
   * Resolves with the first line matching `pattern` written after this call (call it before
   * the action that logs, so the line cannot be missed).
   */
  next(pattern: RegExp): Promise<string>;
}

export function testLogger(): TestLogger {
  const lines: string[] = [];
  const waiting: { pattern: RegExp; resolve: (line: string) => void }[] = [];
  const echo = process.env.TEST_LOG === "1";
  const log = createLogger({
    level: "debug",
    json: false,
    write: (_level, line) => {
      lines.push(line);
      if (echo) process.stderr.write(line + "\n");
      for (const w of [...waiting]) {
        if (w.pattern.test(line)) {
          waiting.splice(waiting.indexOf(w), 1);
          w.resolve(line);
        }
      }
    },
  });
  return Object.assign(log, {
    lines,
    next: (pattern: RegExp) => new Promise<string>((resolve) => waiting.push({ pattern, resolve })),
  });
}
