/**
 * The last net under /graphql: a response grafserv built itself for an exception thrown outside
 * execution (while building the request's context, say) is a 5xx whose error says "Unknown error
 * occurred" with no code. A client must always get a stable code (docs/error_codes.md), so such
 * a response is answered as every other unexpected error is: `INTERNAL_SERVER_ERROR` with an
 * error id that is in the log (`SERVICE_UNAVAILABLE` for a 503: the schema not ready in time).
 * Responses whose errors carry codes, and every response under 500, pass untouched.
 */
import { randomUUID } from "node:crypto";

import "postgraphile";
import type { Result } from "postgraphile/grafserv";

import type { ErrorCode } from "../src/errors.ts";
import type { Logger } from "../src/log.ts";

interface ErrorsBody {
  errors?: unknown;
}

const hasCode = (error: unknown): boolean => {
  const code = (error as { extensions?: { code?: unknown } } | null)?.extensions?.code;
  return typeof code === "string" && code !== "";
};

/** The errors of a result's body; null when it has none, or the body is not a JSON object. */
function errorsOf(result: Result): unknown[] | null {
  let body: unknown;
  if (result.type === "json") body = result.json;
  else if (result.type === "buffer") {
    try {
      body = JSON.parse(result.buffer.toString("utf8"));
    } catch {
      return null;
    }
  } else return null;
  const errors = (body as ErrorsBody | null)?.errors;
  return Array.isArray(errors) ? errors : null;
}

/**
 * `result` as the client should get it: a 5xx GraphQL response with an error without a code
 * becomes one coded error (logged with its id); anything else is returned as it is.
 */
export function codedServerError(result: Result | null, log: Logger): Result | null {
  if (!result || result.statusCode < 500) return result;
  if (result.type !== "json" && result.type !== "buffer") return result;
  const errors = errorsOf(result);
  if (!errors || errors.length === 0 || errors.every(hasCode)) return result;
  const unavailable = result.statusCode === 503;
  const errorId = randomUUID();
  log.error("unexpected error answered by grafserv", {
    errorId,
    status: result.statusCode,
    // grafserv's own words ("Unknown error occurred"); the exception itself went to stderr
    error: errors.map((e) => String((e as { message?: unknown } | null)?.message)).join("; "),
  });
  const code: ErrorCode = unavailable ? "SERVICE_UNAVAILABLE" : "INTERNAL_SERVER_ERROR";
  const message = unavailable
    ? `The service is not ready; try again shortly (error id ${errorId}).`
    : `An unexpected error occurred; it was logged with id ${errorId}.`;
  const body = { errors: [{ message, extensions: { code, errorId } }] };
  const buffer = Buffer.from(JSON.stringify(body), "utf8");
  return {
    type: "buffer",
    statusCode: result.statusCode,
    headers: {
      ...result.headers,
      "content-type": "application/json; charset=utf-8",
      "content-length": String(buffer.length),
    },
    buffer,
  };
}

export function makeUnexpectedErrorsPlugin(log: Logger): GraphileConfig.Plugin {
  return {
    name: "MkingUnexpectedErrorsPlugin",
    version: "1.0.0",
    grafserv: {
      middleware: {
        async processRequest(next) {
          return codedServerError(await next(), log);
        },
      },
    },
  };
}
