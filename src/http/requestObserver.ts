/**
 * Watches every request to /graphql from arrival to the last byte: gives it a request id (an
 * incoming `X-Request-Id`, if sane, else a new one; returned in the response's `X-Request-Id`),
 * counts it in flight, and when it ends records the operation's duration and response code
 * (src/metrics/api.ts) and writes one access log line.
 *
 * What the request was is filled in on the way (its record lives in `res.locals`): the operation's
 * name and type by plugins/metrics.ts when it executes, the response's errors by
 * plugins/metrics.ts (GraphQL responses, as sent: masked) or src/http/respond.ts (refusals
 * before GraphQL).
 *
 * The access log line holds the request id, operation name and type, duration, HTTP status, code
 * and a salted hash of the user id: never the token, never the variables.
 *
 * It runs on every request, so it does little: the user id's hash is computed once per user
 * (kept for the last USER_TAG_CACHE_SIZE users), the line's fields go into one object of a fixed
 * shape, and the logger (src/log.ts) builds the line as a string and writes it with the others of
 * the same turn of the event loop.
 */
import { createHash, randomBytes, randomUUID } from "node:crypto";

import type { NextFunction, Request, Response } from "express";

import { verifiedIdentity } from "../auth/request.ts";
import type { Logger } from "../log.ts";
import { responseCode, type ErrorLike } from "../errors.ts";
import type { ApiMetrics, OperationType } from "../metrics/api.ts";

export interface RequestRecord {
  readonly id: string;
  readonly startedAt: number;
  operationName: string | null;
  operationType: OperationType | null;
  /** The response's errors; null when it had none or nobody reported them. */
  errors: readonly ErrorLike[] | null;
}

const KEY = "mkingRequest";
const SANE_REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The record of the request `res` answers, if it is observed. */
export function requestRecord(
  res: { locals?: Record<string, unknown> } | undefined,
): RequestRecord | undefined {
  return res?.locals?.[KEY] as RequestRecord | undefined;
}

/** A short, salted, one-way tag for a user id: lines of one user can be matched, not named. */
export function userTag(userId: string, salt: string): string {
  return createHash("sha256").update(salt).update(userId).digest("hex").slice(0, 16);
}

/** Users whose tag is remembered (a tag is 16 characters: a few hundred kB at most). */
export const USER_TAG_CACHE_SIZE = 10_000;

/** `userTag` with the tags of recent users remembered (the oldest forgotten first). */
export function cachedUserTags(
  salt: string,
  size = USER_TAG_CACHE_SIZE,
): (userId: string) => string {
  const tags = new Map<string, string>();
  return (userId) => {
    let tag = tags.get(userId);
    if (tag === undefined) {
      tag = userTag(userId, salt);
      if (tags.size >= size) tags.delete(tags.keys().next().value as string);
      tags.set(userId, tag);
    }
    return tag;
  };
}

export interface RequestObserverOptions {
  metrics: ApiMetrics | null;
  /** null: no access log. */
  accessLog: Logger | null;
  /** Salt of the user id hashes (ACCESS_LOG_SALT; default: random per process). */
  userIdSalt?: string | null;
}

export function observeRequests(options: RequestObserverOptions) {
  const { metrics, accessLog } = options;
  const tagOf = cachedUserTags(options.userIdSalt || randomBytes(16).toString("hex"));
  return (req: Request, res: Response, next: NextFunction): void => {
    const incoming = req.headers["x-request-id"];
    const id =
      typeof incoming === "string" && SANE_REQUEST_ID.test(incoming) ? incoming : randomUUID();
    const record: RequestRecord = {
      id,
      startedAt: performance.now(),
      operationName: null,
      operationType: null,
      errors: null,
    };
    res.locals[KEY] = record;
    res.setHeader("X-Request-Id", id);
    metrics?.requestStarted();
    res.once("close", () => {
      const seconds = (performance.now() - record.startedAt) / 1000;
      const body = req.body as { operationName?: unknown } | undefined;
      const name =
        record.operationName ??
        (typeof body?.operationName === "string" ? body.operationName : null);
      const errors =
        record.errors ??
        (res.statusCode >= 400 ? [{ extensions: { code: `HTTP_${res.statusCode}` } }] : []);
      if (metrics) {
        metrics.requestEnded();
        metrics.operation(name, record.operationType, seconds, errors);
      }
      if (accessLog) {
        const userId = verifiedIdentity(req)?.userId;
        // undefined fields are left out of the line
        accessLog.info("request", {
          requestId: id,
          operation: name ?? "anonymous",
          type: record.operationType ?? "unknown",
          ms: Math.round(seconds * 1e5) / 100,
          status: res.statusCode,
          code: responseCode(errors),
          user: userId ? tagOf(userId) : undefined,
          aborted: res.writableFinished ? undefined : true,
        });
      }
    });
    next();
  };
}
