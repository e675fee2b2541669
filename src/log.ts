/**
 * A small structured logger: one JSON object per line in production (for log shippers),
 * `level message key=value` in development (for people). Fields whose value is undefined are
 * left out of both.
 *
 * It is on the request path (the access log writes a line per request), so it is cheap: a JSON
 * line is built as a string (a child logger's fields serialized once, when it is made; the time
 * formatted once per millisecond), and lines for stdout are gathered and written once per turn of
 * the event loop instead of one write each (flushed before a warning or error goes to stderr, and
 * when the process exits).
 */
import type { LogLevel } from "./config.ts";

export type LogFields = Readonly<Record<string, unknown>>;

export interface Logger {
  debug(message: string, fields?: LogFields): void;
  info(message: string, fields?: LogFields): void;
  warn(message: string, fields?: LogFields): void;
  error(message: string, fields?: LogFields): void;
  child(fields: LogFields): Logger;
}

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export interface LoggerOptions {
  level: LogLevel;
  json: boolean;
  /** Where lines go; defaults to stdout (info and below) and stderr (warn and above). */
  write?: (level: LogLevel, line: string) => void;
}

/** Lines for stdout not yet written; written together once per turn of the event loop. */
let pending = "";
let flushScheduled = false;
/** Past this much, lines are written at once rather than at the end of the turn. */
const MAX_PENDING_CHARS = 64 * 1024;

/** Writes what the default writer has gathered for stdout (synchronously called at exit). */
export function flushLogs(): void {
  if (pending === "") return;
  const text = pending;
  pending = "";
  process.stdout.write(text);
}

function scheduledFlush(): void {
  flushScheduled = false;
  flushLogs();
}

process.once("exit", flushLogs);

function defaultWrite(level: LogLevel, line: string): void {
  if (RANK[level] >= RANK.warn) {
    flushLogs(); // what came before it first
    process.stderr.write(line + "\n");
    return;
  }
  pending += line + "\n";
  if (pending.length >= MAX_PENDING_CHARS) flushLogs();
  else if (!flushScheduled) {
    flushScheduled = true;
    setImmediate(scheduledFlush).unref();
  }
}

let isoMs = Number.NaN;
let iso = "";
/** The time as ISO 8601, formatted once per millisecond. */
function isoNow(): string {
  const ms = Date.now();
  if (ms !== isoMs) {
    isoMs = ms;
    iso = new Date(ms).toISOString();
  }
  return iso;
}

function formatValue(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  if (typeof value === "string") return /[\s="]/.test(value) ? JSON.stringify(value) : value;
  return JSON.stringify(value) ?? "undefined";
}

/** `,"key":value` for each field (errors as their message; undefined values left out, as JSON.stringify does). */
function jsonMembers(fields: LogFields): string {
  let out = "";
  for (const key in fields) {
    if (!Object.hasOwn(fields, key)) continue;
    const value = fields[key];
    const json = JSON.stringify(value instanceof Error ? value.message : value) as
      string | undefined;
    if (json !== undefined) out += "," + JSON.stringify(key) + ":" + json;
  }
  return out;
}

/** Keys that a line's own fields would override: they take the general (slower) path. */
const LINE_KEYS = new Set(["time", "level", "message"]);

export function createLogger(options: LoggerOptions, bound: LogFields = {}): Logger {
  const write = options.write ?? defaultWrite;
  const threshold = RANK[options.level];
  const boundKeys = new Set(Object.keys(bound));
  const reserved = boundKeys.size === 0 ? LINE_KEYS : new Set([...LINE_KEYS, ...boundKeys]);
  // the bound fields, serialized once (unless they override the line's own keys)
  const boundJson = [...boundKeys].some((k) => LINE_KEYS.has(k)) ? null : jsonMembers(bound);
  const overrides = (fields: LogFields): boolean => {
    for (const key in fields) if (reserved.has(key)) return true;
    return false;
  };
  const jsonLine = (level: LogLevel, message: string, fields: LogFields): string => {
    if (boundJson !== null && !overrides(fields)) {
      return (
        `{"time":"${isoNow()}","level":"${level}","message":` +
        JSON.stringify(message) +
        boundJson +
        jsonMembers(fields) +
        "}"
      );
    }
    const all = { ...bound, ...fields };
    const plain = Object.fromEntries(
      Object.entries(all).map(([k, v]) => [k, v instanceof Error ? v.message : v]),
    );
    return JSON.stringify({ time: isoNow(), level, message, ...plain });
  };
  const emit = (level: LogLevel, message: string, fields: LogFields = {}): void => {
    if (RANK[level] < threshold) return;
    if (options.json) {
      write(level, jsonLine(level, message, fields));
    } else {
      const extras = Object.entries({ ...bound, ...fields })
        .filter(([, v]) => v !== undefined)
        .map(([k, v]) => `${k}=${formatValue(v)}`)
        .join(" ");
      write(level, `${level.padEnd(5)} ${message}${extras ? " " + extras : ""}`);
    }
  };
  return {
    debug: (m, f) => emit("debug", m, f),
    info: (m, f) => emit("info", m, f),
    warn: (m, f) => emit("warn", m, f),
    error: (m, f) => emit("error", m, f),
    child: (fields) => createLogger(options, { ...bound, ...fields }),
  };
}
