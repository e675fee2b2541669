/**
 * The logger's JSON lines (built as strings, src/log.ts) say what JSON.stringify of the same
 * fields would; stdout lines are gathered and written once per turn of the event loop.
 */
import { jest } from "@jest/globals";

import { createLogger, flushLogs, type LogFields } from "../src/log.ts";

function jsonLines(bound: LogFields = {}): {
  lines: string[];
  log: ReturnType<typeof createLogger>;
} {
  const lines: string[] = [];
  const log = createLogger(
    { level: "debug", json: true, write: (_level, line) => lines.push(line) },
    bound,
  );
  return { lines, log };
}

/** What the logger wrote before it built lines by hand. */
function expected(level: string, message: string, fields: LogFields): Record<string, unknown> {
  const plain = Object.fromEntries(
    Object.entries(fields).map(([k, v]) => [k, v instanceof Error ? v.message : v]),
  );
  return JSON.parse(JSON.stringify({ level, message, ...plain })) as Record<string, unknown>;
}

describe("JSON lines", () => {
  it("hold the time, level, message, the child's fields and the line's, as JSON.stringify would", () => {
    const { lines, log } = jsonLines({ component: "access", n: 1 });
    const fields = {
      requestId: "r-1",
      ms: 1.25,
      ok: true,
      nothing: null,
      gone: undefined,
      nested: { a: [1, "two"] },
      quote: 'say "hi"\n\u0000',
      error: new Error("boom"),
      date: new Date(0),
    };
    log.child({ extra: "x" }).info("request", fields);
    expect(lines).toHaveLength(1);
    const parsed = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(parsed.time).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    delete parsed.time;
    expect(parsed).toEqual(
      expected("info", "request", { component: "access", n: 1, extra: "x", ...fields }),
    );
    expect(lines[0]).not.toContain("gone");
    expect(Object.keys(JSON.parse(lines[0]!) as object).slice(0, 3)).toEqual([
      "time",
      "level",
      "message",
    ]);
  });

  it("let a line's fields override the child's and the line's own keys, as before", () => {
    const { lines, log } = jsonLines({ component: "api" });
    log.warn("first", { component: "access", level: "custom" });
    log.child({ message: "bound" }).error("second", { x: 1 });
    const [first, second] = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(first).toMatchObject({ component: "access", level: "custom", message: "first" });
    expect(second).toMatchObject({ level: "error", message: "bound", x: 1 });
  });

  it("leave out what is below the level", () => {
    const lines: string[] = [];
    const log = createLogger({ level: "warn", json: true, write: (_l, line) => lines.push(line) });
    log.info("no");
    log.warn("yes");
    expect(lines.map((l) => (JSON.parse(l) as { message: string }).message)).toEqual(["yes"]);
  });
});

describe("text lines", () => {
  it("are `level message key=value`, undefined values left out", () => {
    const lines: string[] = [];
    const log = createLogger({
      level: "debug",
      json: false,
      write: (_l, line) => lines.push(line),
    });
    log.child({ component: "access" }).info("request", { a: "b c", gone: undefined, n: 2 });
    expect(lines).toEqual(['info  request component=access a="b c" n=2']);
  });
});

describe("the default writer", () => {
  it("writes the lines of one turn of the event loop to stdout in one write, in order", async () => {
    flushLogs();
    const writes: string[] = [];
    const spy = jest.spyOn(process.stdout, "write").mockImplementation((chunk: unknown) => {
      writes.push(String(chunk));
      return true;
    });
    try {
      const log = createLogger({ level: "info", json: true });
      log.info("one");
      log.info("two");
      log.info("three");
      expect(writes).toEqual([]);
      await new Promise((resolve) => setImmediate(resolve));
      expect(writes).toHaveLength(1);
      const messages = writes[0]!
        .trimEnd()
        .split("\n")
        .map((l) => (JSON.parse(l) as { message: string }).message);
      expect(messages).toEqual(["one", "two", "three"]);
    } finally {
      spy.mockRestore();
    }
  });

  it("writes what is gathered before a warning goes to stderr", () => {
    flushLogs();
    const order: string[] = [];
    const out = jest.spyOn(process.stdout, "write").mockImplementation((chunk: unknown) => {
      order.push(`out:${(JSON.parse(String(chunk)) as { message: string }).message}`);
      return true;
    });
    const err = jest.spyOn(process.stderr, "write").mockImplementation((chunk: unknown) => {
      order.push(`err:${(JSON.parse(String(chunk)) as { message: string }).message}`);
      return true;
    });
    try {
      const log = createLogger({ level: "info", json: true });
      log.info("before");
      log.warn("careful");
      expect(order).toEqual(["out:before", "err:careful"]);
    } finally {
      out.mockRestore();
      err.mockRestore();
    }
  });
});
