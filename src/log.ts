/**
 * A small structured logger: one JSON object per line in production (for log shippers),
 * `level message key=value` in development (for people).
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

function defaultWrite(level: LogLevel, line: string): void {
  (RANK[level] >= RANK.warn ? process.stderr : process.stdout).write(line + "\n");
}

function formatValue(value: unknown): string {
  if (value instanceof Error) return JSON.stringify(value.message);
  if (typeof value === "string") return /[\s="]/.test(value) ? JSON.stringify(value) : value;
  return JSON.stringify(value) ?? "undefined";
}

export function createLogger(options: LoggerOptions, bound: LogFields = {}): Logger {
  const write = options.write ?? defaultWrite;
  const emit = (level: LogLevel, message: string, fields: LogFields = {}): void => {
    if (RANK[level] < RANK[options.level]) return;
    const all = { ...bound, ...fields };
    if (options.json) {
      const plain = Object.fromEntries(
        Object.entries(all).map(([k, v]) => [k, v instanceof Error ? v.message : v]),
      );
      write(level, JSON.stringify({ time: new Date().toISOString(), level, message, ...plain }));
    } else {
      const extras = Object.entries(all)
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
