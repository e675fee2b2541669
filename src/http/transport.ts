/**
 * What reaches grafserv at /graphql is one GraphQL operation, POSTed as JSON, that is not a
 * subscription. Everything else is refused here, before grafserv or GraphQL runs, with a JSON
 * GraphQL error and a stable code (docs/error_codes.md):
 *
 * | refused | status | code |
 * | --- | --- | --- |
 * | a method other than POST (OPTIONS without CORS: 204 with `Allow`) | 405 | METHOD_NOT_ALLOWED |
 * | a Content-Type other than application/json (or application/graphql) | 415 | UNSUPPORTED_MEDIA_TYPE |
 * | a body over MAX_REQUEST_BYTES | 413 | PAYLOAD_TOO_LARGE |
 * | a body that is not JSON | 400 | MALFORMED_JSON |
 * | an array of operations | 400 | BATCH_NOT_SUPPORTED |
 * | a body that is not `{ query, variables?, operationName?, extensions? }` | 400 | BAD_REQUEST |
 * | variables or extensions nested more than 64 levels deep (src/http/jsonDepth.ts) | 400 | BAD_REQUEST |
 * | a subscription (any Accept header): websockets only | 400 | SUBSCRIPTIONS_REQUIRE_WEBSOCKET |
 * | an Accept header that allows no GraphQL response type | 406 | NOT_ACCEPTABLE |
 *
 * Subscriptions are served only over the websocket (src/realtime/sockets.ts), where the token's
 * expiry and the per-user limits are enforced; grafserv would otherwise stream them over HTTP.
 */
import express, { type NextFunction, type Request, type Response } from "express";
import { getOperationAST, parse } from "postgraphile/graphql";

import { tooDeepJson } from "./jsonDepth.ts";
import { refuse } from "./respond.ts";

const ALLOWED_METHODS = "POST, OPTIONS";
const JSON_TYPE = "application/json";
const GRAPHQL_TYPE = "application/graphql";
const RESPONSE_TYPES = ["application/graphql-response+json", "application/json"];

export interface TransportOptions {
  /** MAX_REQUEST_BYTES */
  maxRequestBytes: number;
  /**
   * Trusted documents are on (GRAPHQL_TRUSTED_DOCUMENTS): a body may name a registered document
   * by `documentId` or `extensions.persistedQuery` instead of sending `query`; the trusted
   * documents gate (src/graphql/trustedDocuments.ts) checks it, subscriptions included.
   */
  documentIds: boolean;
  /**
   * GRAPHQL_MAX_TOKENS: telling a subscription apart parses the document, and that parse must
   * stop where grafserv's would (src/graphql/shape.ts); an over-long one is refused there.
   */
  maxTokens: number;
}

function mediaType(req: Request): string | null {
  const header = req.headers["content-type"];
  return header ? (header.split(";")[0] ?? "").trim().toLowerCase() : null;
}

function onlyPost(req: Request, res: Response, next: NextFunction): void {
  if (req.method === "POST") return next();
  if (req.method === "OPTIONS") {
    res.status(204).set("Allow", ALLOWED_METHODS).end();
    return;
  }
  refuse(
    res,
    405,
    "METHOD_NOT_ALLOWED",
    `${req.method} is not supported here; POST the operation as JSON`,
    { Allow: ALLOWED_METHODS },
  );
}

function onlyJson(req: Request, res: Response, next: NextFunction): void {
  const type = mediaType(req);
  if (type === JSON_TYPE || type === GRAPHQL_TYPE) return next();
  refuse(
    res,
    415,
    "UNSUPPORTED_MEDIA_TYPE",
    type === null
      ? "The request has no Content-Type; send it as application/json"
      : `Content-Type ${type} is not supported; send the request as application/json`,
  );
}

interface BodyParserError {
  type?: unknown;
  status?: unknown;
}

/** body-parser's failures (https://github.com/expressjs/body-parser#errors), as refusals. */
function bodyErrors(maxRequestBytes: number) {
  return (error: unknown, _req: Request, res: Response, next: NextFunction): void => {
    const { type, status } = (error ?? {}) as BodyParserError;
    if (type === "entity.too.large") {
      return refuse(
        res,
        413,
        "PAYLOAD_TOO_LARGE",
        `The request body is larger than ${maxRequestBytes} bytes`,
      );
    }
    if (type === "entity.parse.failed") {
      return refuse(res, 400, "MALFORMED_JSON", "The request body is not valid JSON");
    }
    if (type === "charset.unsupported" || type === "encoding.unsupported") {
      return refuse(
        res,
        415,
        "UNSUPPORTED_MEDIA_TYPE",
        "The request body's charset or encoding is not supported; send UTF-8 JSON",
      );
    }
    if (typeof status === "number" && status >= 400 && status < 500) {
      return refuse(res, status, "BAD_REQUEST", "The request body could not be read");
    }
    next(error);
  };
}

export interface OperationRequest {
  /** null: the body names a trusted document instead. */
  query: string | null;
  operationName: string | null;
}

const isObject = (value: unknown): value is Record<string, unknown> =>
  typeof value === "object" && value !== null && !Array.isArray(value);

/** The operation of a parsed body, or the refusal's message when it is not one operation. */
export function operationOf(
  body: unknown,
  type: string | null,
  documentIds: boolean,
): { operation: OperationRequest } | { batch: true } | { problem: string } {
  if (type === GRAPHQL_TYPE && typeof body === "string") {
    return { operation: { query: body, operationName: null } };
  }
  if (Array.isArray(body)) return { batch: true };
  if (!isObject(body)) {
    return { problem: "The request body must be a JSON object with a `query` string" };
  }
  const { query, operationName, variables, extensions, documentId } = body;
  const namesDocument =
    documentIds &&
    query === undefined &&
    (typeof documentId === "string" || (isObject(extensions) && "persistedQuery" in extensions));
  if (typeof query !== "string" && !namesDocument) {
    return { problem: "`query` must be a string" };
  }
  if (operationName != null && typeof operationName !== "string") {
    return { problem: "`operationName`, if given, must be a string" };
  }
  if (variables != null && !isObject(variables)) {
    return { problem: "`variables`, if given, must be an object" };
  }
  if (extensions != null && !isObject(extensions)) {
    return { problem: "`extensions`, if given, must be an object" };
  }
  const tooDeep = tooDeepJson(variables, extensions);
  if (tooDeep !== null) return { problem: tooDeep };
  return {
    operation: {
      query: typeof query === "string" ? query : null,
      operationName: operationName ?? null,
    },
  };
}

/** Whether the operation the request would run is a subscription (unparsable: left to grafserv). */
export function isSubscription(
  { query, operationName }: OperationRequest,
  maxTokens: number,
): boolean {
  if (query === null || !/\bsubscription\b/.test(query)) return false;
  try {
    return (
      getOperationAST(parse(query, { maxTokens }), operationName)?.operation === "subscription"
    );
  } catch {
    return false;
  }
}

const oneOperation =
  (documentIds: boolean, maxTokens: number) =>
  (req: Request, res: Response, next: NextFunction): void => {
    const result = operationOf(req.body, mediaType(req), documentIds);
    if ("batch" in result) {
      return refuse(
        res,
        400,
        "BATCH_NOT_SUPPORTED",
        "Batched operations are not supported; send one operation per request",
      );
    }
    if ("problem" in result) return refuse(res, 400, "BAD_REQUEST", result.problem);
    if (isSubscription(result.operation, maxTokens)) {
      return refuse(
        res,
        400,
        "SUBSCRIPTIONS_REQUIRE_WEBSOCKET",
        "Subscriptions are served over websockets only: connect to /graphql with the graphql-transport-ws protocol",
      );
    }
    next();
  };

function acceptableResponse(req: Request, res: Response, next: NextFunction): void {
  if (req.accepts(RESPONSE_TYPES)) return next();
  refuse(
    res,
    406,
    "NOT_ACCEPTABLE",
    "The Accept header allows no GraphQL response type; accept application/graphql-response+json or application/json",
  );
}

/** The handlers to mount, in order, for the GraphQL endpoint (before grafserv). */
export function graphqlTransport(options: TransportOptions) {
  const limit = options.maxRequestBytes;
  return [
    onlyPost,
    onlyJson,
    express.json({ type: JSON_TYPE, limit, strict: false }),
    express.text({ type: GRAPHQL_TYPE, limit }),
    bodyErrors(limit),
    oneOperation(options.documentIds, options.maxTokens),
    acceptableResponse,
  ];
}
