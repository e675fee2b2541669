/**
 * Tells the request observer (src/http/requestObserver.ts) what each HTTP GraphQL request was:
 * the operation's name and type when it executes, and the errors of its response, as the client
 * sees them (masked: src/errors.ts). Websocket operations are observed in src/realtime/sockets.ts.
 *
 * The execution result is kept by reference: grafserv masks its errors in place before sending
 * it, and the observer reads them when the response has ended.
 */
import "postgraphile";
import { isAsyncIterable } from "postgraphile/grafast";
import { getOperationAST, type GraphQLError } from "postgraphile/graphql";

import { requestRecord, type RequestRecord } from "../src/http/requestObserver.ts";

type RequestContext = Partial<Grafast.RequestContext> | undefined;

const recordOf = (ctx: RequestContext): RequestRecord | undefined =>
  requestRecord(ctx?.expressv4?.res);

/** Errors of a refusal grafserv answers itself (e.g. thrown by a body hook): rare, so parsed. */
function errorsOfBuffer(buffer: Buffer): RequestRecord["errors"] {
  try {
    const body = JSON.parse(buffer.toString("utf8")) as { errors?: unknown };
    return Array.isArray(body.errors) ? (body.errors as GraphQLError[]) : null;
  } catch {
    return null;
  }
}

export const MetricsPlugin: GraphileConfig.Plugin = {
  name: "MkingMetricsPlugin",
  version: "1.0.0",
  grafserv: {
    middleware: {
      setPreset(next, event) {
        const getExecutionConfig = event.getExecutionConfig;
        event.getExecutionConfig = async function (ctx) {
          const config = await getExecutionConfig.call(this, ctx);
          const record = recordOf(ctx);
          if (!record) return config;
          const parseAndValidate: typeof config.parseAndValidate = (query) => {
            const result = config.parseAndValidate(query);
            if (result.errors) record.errors = result.errors;
            return result;
          };
          const execute: typeof config.execute = async (args) => {
            const operation = getOperationAST(args.document, args.operationName);
            if (operation) {
              record.operationType = operation.operation;
              record.operationName = operation.name?.value ?? null;
            }
            const result = await config.execute(args);
            if (!isAsyncIterable(result)) record.result = result;
            return result;
          };
          return { ...config, parseAndValidate, execute };
        };
        return next();
      },
      async processRequest(next, event) {
        const result = await next();
        const record = recordOf(event.requestDigest.requestContext);
        if (
          record &&
          record.errors === null &&
          result?.type === "buffer" &&
          result.statusCode >= 400
        ) {
          record.errors = errorsOfBuffer(result.buffer);
        }
        return result;
      },
    },
  },
};
