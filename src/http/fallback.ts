/**
 * The last handlers of the Express app: a path nobody serves gets a JSON 404 (NOT_FOUND), not
 * Express's HTML page; an error nobody handled gets a JSON error with a code, never Express's
 * HTML page with a stack trace. Unexpected errors are logged with an id the client sees.
 */
import { randomUUID } from "node:crypto";

import type { NextFunction, Request, Response } from "express";

import type { Logger } from "../log.ts";
import { refuse } from "./respond.ts";

export function notFound(_req: Request, res: Response): void {
  refuse(res, 404, "NOT_FOUND", "Nothing here: the API is POST /graphql");
}

export function unhandledErrors(log: Logger) {
  return (error: unknown, req: Request, res: Response, next: NextFunction): void => {
    if (res.headersSent) return next(error);
    const { status, statusCode } = (error ?? {}) as { status?: unknown; statusCode?: unknown };
    const code = typeof status === "number" ? status : statusCode;
    if (typeof code === "number" && code >= 400 && code < 500) {
      // body-parser's refusals (a route's own JSON body, e.g. /exports) say what they are, as
      // /graphql's do (src/http/transport.ts)
      const { type } = error as { type?: unknown };
      if (type === "entity.too.large") {
        return refuse(res, 413, "PAYLOAD_TOO_LARGE", "The request body is too large");
      }
      if (type === "entity.parse.failed") {
        return refuse(res, 400, "MALFORMED_JSON", "The request body is not valid JSON");
      }
      return refuse(res, code, "BAD_REQUEST", "The request could not be processed as sent");
    }
    const errorId = randomUUID();
    log.error("unexpected error in an HTTP request", {
      errorId,
      error,
      method: req.method,
      path: req.path,
    });
    res.status(500).json({
      errors: [
        {
          message: `An unexpected error occurred; it was logged with id ${errorId}.`,
          extensions: { code: "INTERNAL_SERVER_ERROR", errorId },
        },
      ],
    });
  };
}
