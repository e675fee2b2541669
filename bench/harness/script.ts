/**
 * What every benchmark script (bench/cli.ts, realtime.ts, cache.ts, overhead.ts, scaleout.ts,
 * backup.ts, media.ts, partitioning.ts, seed/cli.ts) starts with: its voice on stderr, prefixed
 * with its name; a problem that ends it with exit code 1; its command line read, a mistake in it
 * told in one line; the check of a numeric option; and, on
 * Ctrl-C or SIGTERM, stopping what it started (servers, the embedded database) before leaving
 * with exit code 130.
 */
import { parseArgs, type ParseArgsConfig } from "node:util";

/** A never-returning failure, typed so that TypeScript narrows after a call to it. */
export type Fail = (message: string) => never;

/** What `parse` returns for `config`: node:util's own parseArgs result. */
export type Parsed<T extends ParseArgsConfig> = ReturnType<typeof parseArgs<T>>;

export interface Script {
  /** A progress line on stderr: `<name>: <line>`. */
  say(line: string): void;
  /**
   * Says `message` and ends the script with exit code 1. Give it a typed name before use
   * (`const fail: Fail = run.fail`): TypeScript narrows only after a call to such a name.
   */
  fail: Fail;
  /**
   * The command line's options (node:util parseArgs, `args` defaulting to the process's); an
   * unknown option or a missing value is a line and exit code 1, not a stack trace.
   */
  parse<T extends ParseArgsConfig>(config: T): Parsed<T>;
  /** `raw` as a number above 0, or fails naming the option `--<name>`. */
  positive(name: string, raw: string | undefined): number;
  /** `raw` rounded to a whole number above 0, or fails naming the option `--<name>`. */
  whole(name: string, raw: string | undefined): number;
  /** On SIGINT or SIGTERM: says so, runs `stop` (its failure ignored), exits with 130. */
  stopOnSignals(stop: () => Promise<unknown>): void;
}

export function script(name: string): Script {
  const say = (line: string): void => void process.stderr.write(`${name}: ${line}\n`);
  const fail = (message: string): never => {
    say(message);
    process.exit(1);
  };
  return {
    say,
    fail,
    parse(config) {
      try {
        return parseArgs(config);
      } catch (error) {
        const code = (error as { code?: unknown }).code;
        if (typeof code === "string" && code.startsWith("ERR_PARSE_ARGS_")) {
          fail((error as Error).message.split("\n")[0]!);
        }
        throw error;
      }
    },
    positive(option, raw) {
      const n = Number(raw);
      if (raw === undefined || raw.trim() === "" || !Number.isFinite(n) || n <= 0) {
        fail(`--${option} must be a positive number (got ${raw ?? "nothing"})`);
      }
      return n;
    },
    whole(option, raw) {
      const n = Math.round(Number(raw));
      if (raw === undefined || raw.trim() === "" || !Number.isFinite(n) || n <= 0) {
        fail(`--${option} must be a whole number above 0 (got ${raw ?? "nothing"})`);
      }
      return n;
    },
    stopOnSignals(stop) {
      for (const signal of ["SIGINT", "SIGTERM"] as const) {
        process.once(signal, () => {
          say(`${signal}: stopping`);
          void stop()
            .catch(() => undefined)
            .finally(() => process.exit(130));
        });
      }
    },
  };
}
