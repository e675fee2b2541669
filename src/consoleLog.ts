/**
 * Libraries' own console output in the structured log. PostGraphile's pieces write some of their
 * failures with `console.error` / `console.dir` (@dataplan/pg's LISTEN client: "Error on listening
 * client …"; grafserv: an exception outside execution, with its stack): in production, where the
 * log is one JSON object per line for a shipper, such lines would be the only ones a shipper
 * cannot parse, and they would carry no level. `routeConsoleTo` sends them through a logger
 * instead: `console.error`/`console.trace` as errors, `console.warn` as warnings, the rest as
 * info, each as one line (objects formatted as `util.inspect` does).
 */
import { format, inspect } from "node:util";

import type { Logger } from "./log.ts";

type ConsoleMethod = "log" | "info" | "debug" | "warn" | "error" | "trace" | "dir";

const LEVELS: Readonly<Record<ConsoleMethod, "info" | "warn" | "error">> = {
  log: "info",
  info: "info",
  debug: "info",
  dir: "info",
  warn: "warn",
  error: "error",
  trace: "error",
};

/** One line for the log: the console's own formatting, its line breaks kept as `\n` in JSON. */
function lineOf(method: ConsoleMethod, args: unknown[]): string {
  if (method === "dir") return inspect(args[0], { depth: 4, breakLength: Infinity });
  return format(...args);
}

/**
 * Routes `target`'s output methods (the global console by default) to `log` until the returned
 * function puts them back.
 */
export function routeConsoleTo(
  log: Logger,
  target: Pick<Console, ConsoleMethod> = console,
): () => void {
  const saved = new Map<ConsoleMethod, Console[ConsoleMethod]>();
  for (const method of Object.keys(LEVELS) as ConsoleMethod[]) {
    saved.set(method, target[method]);
    const level = LEVELS[method];
    const replacement = (...args: unknown[]): void => log[level](lineOf(method, args));
    (target as Record<ConsoleMethod, unknown>)[method] = replacement;
  }
  return () => {
    for (const [method, original] of saved) {
      (target as Record<ConsoleMethod, unknown>)[method] = original;
    }
  };
}
