/**
 * Libraries' console output goes through the structured log in production (src/consoleLog.ts):
 * one JSON line each, with a level, instead of bare text among the JSON lines.
 */
import { Console } from "node:console";
import { Writable } from "node:stream";

import { routeConsoleTo } from "../src/consoleLog.ts";
import { createLogger } from "../src/log.ts";
import type { LogLevel } from "../src/config.ts";

/** A console of its own (the test runner's stays untouched), and what reached its stream. */
function aConsole(): { target: Console; written: string[] } {
  const written: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      written.push(chunk.toString("utf8"));
      done();
    },
  });
  return { target: new Console({ stdout: stream, stderr: stream }), written };
}

function jsonLog(): { log: ReturnType<typeof createLogger>; lines: [LogLevel, string][] } {
  const lines: [LogLevel, string][] = [];
  const log = createLogger({
    level: "debug",
    json: true,
    write: (level, line) => void lines.push([level, line]),
  });
  return { log, lines };
}

test("console.error, warn, log and dir become JSON lines with a level", () => {
  const { target, written } = aConsole();
  const { log, lines } = jsonLog();
  const restore = routeConsoleTo(log.child({ component: "console" }), target);
  target.error(`Error on listening client: ${new Error("terminating connection")}`);
  target.warn("careful %s", "now");
  target.log("count %d", 3);
  target.dir({ deep: { error: "x\ny" } });
  restore();
  expect(written).toEqual([]);
  const parsed = lines.map(([level, line]) => [level, JSON.parse(line)] as const);
  expect(parsed.map(([level]) => level)).toEqual(["error", "warn", "info", "info"]);
  expect(parsed[0]![1]).toMatchObject({
    level: "error",
    component: "console",
    message: "Error on listening client: Error: terminating connection",
  });
  expect(parsed[1]![1].message).toBe("careful now");
  expect(parsed[2]![1].message).toBe("count 3");
  expect(parsed[3]![1].message).toBe("{ deep: { error: 'x\\ny' } }");
  // one line each: nothing of a message spills onto a line of its own
  for (const [, line] of lines) expect(line).not.toContain("\n");
});

test("the returned function puts the console back", () => {
  const { target, written } = aConsole();
  const { log, lines } = jsonLog();
  routeConsoleTo(log, target)();
  target.error("straight to the stream");
  expect(lines).toEqual([]);
  expect(written.join("")).toBe("straight to the stream\n");
});
