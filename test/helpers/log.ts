/** A logger for tests: keeps lines in memory (for assertions), prints them only with TEST_LOG=1. */
import { createLogger, type Logger } from "../../src/log.ts";

export interface TestLogger extends Logger {
  readonly lines: string[];
}

export function testLogger(): TestLogger {
  const lines: string[] = [];
  const echo = process.env.TEST_LOG === "1";
  const log = createLogger({
    level: "debug",
    json: false,
    write: (_level, line) => {
      lines.push(line);
      if (echo) process.stderr.write(line + "\n");
    },
  });
  return Object.assign(log, { lines });
}
