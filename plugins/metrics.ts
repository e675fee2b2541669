/**
 * Tells the request observer (src/http/requestObserver.ts) what each HTTP GraphQL request was:
 * the operation's name and type when it executes, and the errors of its response, as the client
 * sees them (masked: src/errors.ts). Websocket operations are observed in src/realtime/sockets.ts.
 *
 * It runs on every request, so it adds no wrapper of its own around the execution: the operation
 * is read in grafast's `prepareArgs` (one lookup per document, remembered), the errors from the
 * response grafserv is about to send, as the client gets it (masked, refusals of the guards
 * included).
 */
import "postgraphile";
import type { GraphQLError } from "postgraphile/graphql";

import { requestRecord, type RequestRecord } from "../src/http/requestObserver.ts";
import { operationOf } from "./lib/operation.ts";

type RequestContext = Partial<Grafast.RequestContext> | undefined;

const recordOf = (ctx: RequestContext): RequestRecord | undefined =>
  requestRecord(ctx?.expressv4?.res);

const ERRORS_KEY = '"errors":[';

/**
 * The errors of a response as sent (masked). Responses are `{"data":…,"errors":[…]}` or
 * `{"errors":[…]}`: one without the key is not parsed (the search is native and cheap; inside a
 * string value the quotes would be escaped); one with it (rare: errors, or a field aliased
 * `errors`) is parsed and its top-level errors taken.
 */
function errorsOfBuffer(buffer: Buffer): RequestRecord["errors"] {
  if (buffer.lastIndexOf(ERRORS_KEY) === -1) return null;
  try {
    const body = JSON.parse(buffer.toString("utf8")) as { errors?: unknown };
    return Array.isArray(body.errors) && body.errors.length > 0
      ? (body.errors as GraphQLError[])
      : null;
  } catch {
    return null;
  }
}

export const MetricsPlugin: GraphileConfig.Plugin = {
  name: "MkingMetricsPlugin",
  version: "2.0.0",
  grafast: {
    middleware: {
      prepareArgs(next, { args }) {
        const record = recordOf(args.requestContext);
        if (record) {
          const info = operationOf(args.document, args.operationName);
          if (info) {
            record.operationType = info.type;
            record.operationName = info.name;
          }
        }
        return next();
      },
    },
  },
  grafserv: {
    middleware: {
      async processRequest(next, event) {
        const result = await next();
        const record = recordOf(event.requestDigest.requestContext);
        if (!record || !result || record.errors !== null) return result;
        if (result.type === "buffer") record.errors = errorsOfBuffer(result.buffer);
        else if (result.type === "json") {
          const errors = (result.json as { errors?: unknown } | null)?.errors;
          if (Array.isArray(errors) && errors.length > 0) record.errors = errors as GraphQLError[];
        }
        return result;
      },
    },
  },
};
