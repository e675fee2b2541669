/**
 * Start-up against DATABASE_URL waits for the server: a process (re)started while PostgreSQL
 * is starting, restarting or failing over (a container platform, a crash-restart loop) retries
 * instead of exiting. Only "not there yet" is retried: a refused connection, a server that is
 * starting or shutting down, a dropped connection. A wrong password, a missing database or role
 * is a configuration error and fails at once.
 */
import pg from "pg";

import type { Logger } from "../log.ts";
import { redactUrl } from "./urls.ts";

/** SQLSTATEs of a server that is there but not ready (class 57P: operator intervention). */
const NOT_READY_SQLSTATES = new Set(["57P01", "57P02", "57P03", "08006", "08001", "08004"]);
/** Node socket errors of a server that is not (yet) listening or went away. */
const NOT_THERE_CODES = new Set([
  "ECONNREFUSED",
  "ECONNRESET",
  "EPIPE",
  "ETIMEDOUT",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "EAI_AGAIN",
]);

export class DatabaseUnavailableError extends Error {
  readonly attempts: number;
  constructor(message: string, attempts: number) {
    super(message);
    this.name = "DatabaseUnavailableError";
    this.attempts = attempts;
  }
}

/** Whether `error` means "try again shortly" rather than "this will never work". */
export function isNotReady(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  if (typeof code === "string" && (NOT_READY_SQLSTATES.has(code) || NOT_THERE_CODES.has(code))) {
    return true;
  }
  // pg: "Connection terminated unexpectedly" while the server shuts down (no code)
  // pg-pool: no connection within connectionTimeoutMillis (the server slow to accept, or gone);
  // pg: a client whose connection broke earlier ("… and is not queryable")
  return (
    error instanceof Error &&
    /Connection terminated|timeout exceeded when trying to connect|is not queryable/i.test(
      error.message,
    )
  );
}

export interface WaitOptions {
  url: string;
  /** 0: one attempt. */
  waitSeconds: number;
  log: Logger;
  /** First pause between attempts (doubles up to 5 s). */
  firstDelayMs?: number;
}

/** Resolves once `url` answers `select 1`; throws at once on a configuration error. */
export async function waitForDatabase(o: WaitOptions): Promise<{ attempts: number }> {
  const deadline = Date.now() + o.waitSeconds * 1000;
  let delay = o.firstDelayMs ?? 250;
  for (let attempt = 1; ; attempt++) {
    const client = new pg.Client({ connectionString: o.url, connectionTimeoutMillis: 5000 });
    client.on("error", () => undefined);
    try {
      await client.connect();
      await client.query("select 1");
      if (attempt > 1) o.log.info("database: answering", { attempts: attempt });
      return { attempts: attempt };
    } catch (error) {
      const message = error instanceof Error ? error.message : String(error);
      if (!isNotReady(error)) throw error;
      if (Date.now() + delay > deadline) {
        throw new DatabaseUnavailableError(
          `database ${redactUrl(o.url)} did not accept connections within ` +
            `${o.waitSeconds} s (DATABASE_WAIT_SECONDS): ${message}`,
          attempt,
        );
      }
      o.log.warn("database: not answering yet, retrying", {
        attempt,
        retryInMs: delay,
        reason: message,
      });
      await new Promise((resolve) => setTimeout(resolve, delay));
      delay = Math.min(delay * 2, 5000);
    } finally {
      await client.end().catch(() => undefined);
    }
  }
}
