/**
 * Every error a client can see, in one place.
 *
 * Clients get a GraphQL error with a stable `extensions.code` (docs/error_codes.md) and a human
 * message — never SQL text or a stack trace. Rules raise errors in SQL with our own SQLSTATEs
 * (five capitals, listed in SQLSTATE_CODES) or PostgreSQL's standard ones, and TypeScript code
 * throws `appError(...)`; `createMaskError` maps both on the way out.
 */
import { randomUUID } from "node:crypto";

import { isSafeError, SafeError } from "postgraphile/grafast";
import { GraphQLError, type GraphQLFormattedError } from "postgraphile/graphql";

import { isNotReady } from "./db/waitForDatabase.ts";
import type { Logger } from "./log.ts";

export const ERROR_CODES = [
  "GRAPHQL_PARSE_FAILED",
  "GRAPHQL_VALIDATION_FAILED",
  "BAD_REQUEST",
  "UNAUTHENTICATED",
  "FORBIDDEN",
  "NOT_FOUND",
  "INVALID_INPUT",
  "CONFLICT",
  "RATE_LIMITED",
  "EVENT_FULL",
  "QUERY_TOO_COMPLEX",
  "UNTRUSTED_DOCUMENT",
  "TOO_MANY_SUBSCRIPTIONS",
  "CLIENT_TOO_SLOW",
  "SUBSCRIPTION_INTERRUPTED",
  "TIMEOUT",
  "SERVICE_UNAVAILABLE",
  "INTERNAL_SERVER_ERROR",
  // Transport refusals, before GraphQL runs (src/http/transport.ts, src/http/cors.ts)
  "METHOD_NOT_ALLOWED",
  "UNSUPPORTED_MEDIA_TYPE",
  "PAYLOAD_TOO_LARGE",
  "MALFORMED_JSON",
  "BATCH_NOT_SUPPORTED",
  "NOT_ACCEPTABLE",
  "SUBSCRIPTIONS_REQUIRE_WEBSOCKET",
  "ORIGIN_NOT_ALLOWED",
  // Media uploads (migrations/current.sql "media: uploads", src/media/routes.ts)
  "MEDIA_TYPE_NOT_ALLOWED",
  "UPLOAD_TOO_LARGE",
  "QUOTA_EXCEEDED",
  "UPLOAD_NOT_READY",
  "EXTERNAL_URL_NOT_ALLOWED",
  "UPLOAD_URL_INVALID",
  // "Download my data" links (src/http/exports.ts)
  "EXPORT_EXPIRED",
  "EXPORT_ALREADY_DOWNLOADED",
  // Second factors and passkeys (plugins/twoFactor.ts)
  "SECOND_FACTOR_INVALID",
  "CHALLENGE_INVALID",
  "SECOND_FACTOR_REQUIRED",
  // Sign-in with OpenID Connect providers (plugins/oidc.ts, src/http/oidc.ts)
  "OIDC_STATE_INVALID",
  "OIDC_TOKEN_REJECTED",
  "OIDC_PROVIDER_ERROR",
  "OIDC_EMAIL_NOT_VERIFIED",
  "OIDC_EMAIL_REQUIRED",
  "IDENTITY_ALREADY_LINKED",
  "LAST_SIGN_IN_METHOD",
] as const;
export type ErrorCode = (typeof ERROR_CODES)[number];

export interface AppErrorExtensions {
  code: ErrorCode;
  /** For INVALID_INPUT: the input field at fault (snake_case column or argument name). */
  field?: string;
  [key: string]: unknown;
}

/** An error whose message and extensions are safe to show to the client as they are. */
export function appError(
  code: ErrorCode,
  message: string,
  extra: Omit<AppErrorExtensions, "code"> = {},
): SafeError<AppErrorExtensions> {
  return new SafeError(message, { ...extra, code });
}

/** Our own SQLSTATEs, raised by SQL functions and policies: `raise ... using errcode = 'NTFND'`. */
export const SQLSTATE_CODES: Readonly<Record<string, ErrorCode>> = {
  NTFND: "NOT_FOUND",
  DNIED: "FORBIDDEN",
  INVAL: "INVALID_INPUT",
  CNFLT: "CONFLICT",
  RATEL: "RATE_LIMITED",
  EVFUL: "EVENT_FULL",
  LOGIN: "UNAUTHENTICATED",
  MTYPE: "MEDIA_TYPE_NOT_ALLOWED",
  MBIGF: "UPLOAD_TOO_LARGE",
  MQUOT: "QUOTA_EXCEEDED",
  MNRDY: "UPLOAD_NOT_READY",
  MEXTU: "EXTERNAL_URL_NOT_ALLOWED",
  OLINK: "IDENTITY_ALREADY_LINKED",
  OLAST: "LAST_SIGN_IN_METHOD",
};

/** PostgreSQL's own SQLSTATEs that describe a client mistake rather than a server fault. */
const STANDARD_SQLSTATE_CODES: Readonly<Record<string, { code: ErrorCode; message: string }>> = {
  "23505": { code: "CONFLICT", message: "That already exists." },
  "23503": { code: "INVALID_INPUT", message: "A referenced record does not exist." },
  "23514": { code: "INVALID_INPUT", message: "A value is not allowed." },
  "23502": { code: "INVALID_INPUT", message: "A required value is missing." },
  "22001": { code: "INVALID_INPUT", message: "A value is too long." },
  "22003": { code: "INVALID_INPUT", message: "A number is out of range." },
  "22007": { code: "INVALID_INPUT", message: "A date or time is not valid." },
  "22008": { code: "INVALID_INPUT", message: "A date or time is out of range." },
  "22P02": { code: "INVALID_INPUT", message: "A value has the wrong format." },
  // NUL in text (22021) or jsonb (22P05), a negative OFFSET/LIMIT: src/graphql/inputs.ts refuses
  // the first two before SQL runs; these mappings keep PostgreSQL's text hidden if one slips by.
  "22021": { code: "INVALID_INPUT", message: "Text must not contain the NUL character (U+0000)." },
  "22P05": { code: "INVALID_INPUT", message: "Text must not contain the NUL character (U+0000)." },
  "2201X": { code: "INVALID_INPUT", message: "`offset` must not be negative." },
  "2201W": { code: "INVALID_INPUT", message: "A page size must not be negative." },
  "42501": { code: "FORBIDDEN", message: "You are not allowed to do that." },
  "57014": { code: "TIMEOUT", message: "The request took too long and was cancelled." },
};

/** The shape of the errors `pg` raises (DatabaseError), read defensively. */
interface PgErrorLike {
  code?: unknown;
  message?: unknown;
  column?: unknown;
  constraint?: unknown;
  detail?: unknown;
}

/** `ck_posts_content` → `content`; `fk_likes_user_id` → `user_id` (names per CONVENTIONS). */
function fieldFromConstraint(table: string | undefined, constraint: string): string | undefined {
  const m = /^(?:ck|fk)_(.+)$/.exec(constraint);
  if (!m?.[1]) return undefined;
  if (table && m[1].startsWith(table + "_")) return m[1].slice(table.length + 1);
  return m[1];
}

function fromDatabaseError(
  e: PgErrorLike,
): { message: string; extensions: AppErrorExtensions } | null {
  const sqlstate = typeof e.code === "string" ? e.code : undefined;
  if (!sqlstate) return null;
  const custom = SQLSTATE_CODES[sqlstate];
  if (custom) {
    // Our own errors carry a human message; `detail` may name the field (`field=...`).
    const field = typeof e.detail === "string" ? /^field=(\w+)$/.exec(e.detail)?.[1] : undefined;
    return {
      message: String(e.message),
      extensions: { code: custom, ...(field ? { field } : {}) },
    };
  }
  const standard = STANDARD_SQLSTATE_CODES[sqlstate];
  if (!standard) return null;
  const table =
    typeof (e as { table?: unknown }).table === "string"
      ? (e as { table: string }).table
      : undefined;
  const field =
    typeof e.column === "string"
      ? e.column
      : typeof e.constraint === "string"
        ? fieldFromConstraint(table, e.constraint)
        : undefined;
  return {
    message: field ? `${standard.message} (${field})` : standard.message,
    extensions: { code: standard.code, ...(field ? { field } : {}) },
  };
}

export interface MaskErrorOptions {
  /** Show unexpected errors' own messages (development); production shows only an error id. */
  exposeInternalErrors: boolean;
  log: Logger;
}

/** The grafserv `maskError` hook: maps known errors to codes, hides the rest. */
export function createMaskError(
  options: MaskErrorOptions,
): (error: GraphQLError) => GraphQLError | GraphQLFormattedError {
  return (error) => {
    const original = error.originalError;
    const rebuild = (message: string, extensions: Record<string, unknown>): GraphQLError =>
      new GraphQLError(message, {
        nodes: error.nodes,
        source: error.source,
        positions: error.positions,
        path: error.path,
        originalError: original,
        extensions,
      });

    if (error.extensions?.code) return error;
    // Variable coercion: `Variable "$id" got invalid value ...` is bad input in a named field.
    const variable = /^Variable "\$(\w+)"/.exec(error.message)?.[1];
    if (variable) return rebuild(error.message, { code: "INVALID_INPUT", field: variable });
    if (!original) {
      // e.g. "Cannot return null for non-nullable field": a GraphQL-level problem.
      return rebuild(error.message, { code: "BAD_REQUEST" });
    }
    if (original instanceof GraphQLError) {
      return original.extensions?.code
        ? error
        : rebuild(error.message, { ...error.extensions, code: "BAD_REQUEST" });
    }
    if (isSafeError(original)) {
      const extensions = { code: "BAD_REQUEST", ...original.extensions };
      return rebuild(original.message, extensions);
    }
    const mapped = fromDatabaseError(original as PgErrorLike);
    if (mapped) return rebuild(mapped.message, mapped.extensions);
    // A generated delete mutation that matched no row you may delete (@dataplan/pg's wording).
    if (/^No values were deleted in collection/.test(original.message)) {
      return rebuild("Nothing was deleted: it does not exist or you may not delete it.", {
        code: "NOT_FOUND",
      });
    }

    // The database restarting, failing over or out of reach: not a fault of ours to report as
    // one (no error id to chase), and worth a retry by the client.
    if (isNotReady(original)) {
      options.log.warn("database unavailable during a GraphQL request", {
        error: original.message,
        sqlstate: (original as PgErrorLike).code,
        path: error.path?.join("."),
      });
      return rebuild("The database is unavailable for a moment; try again shortly.", {
        code: "SERVICE_UNAVAILABLE",
      });
    }
    const errorId = randomUUID();
    options.log.error("unexpected error in a GraphQL request", {
      errorId,
      error: original.message,
      sqlstate: (original as PgErrorLike).code,
      path: error.path?.join("."),
    });
    return rebuild(
      options.exposeInternalErrors
        ? original.message
        : `An unexpected error occurred; it was logged with id ${errorId}.`,
      { code: "INTERNAL_SERVER_ERROR", errorId },
    );
  };
}

/** An error of a GraphQL response, as far as its code is concerned. */
export interface ErrorLike {
  readonly extensions?: Readonly<Record<string, unknown>> | undefined;
}

/**
 * The code a response reports: "OK", or its first error's extensions.code (the access log and
 * the metrics both report it).
 */
export function responseCode(errors: readonly ErrorLike[] | undefined | null): string {
  const first = errors?.[0];
  if (!first) return "OK";
  const code = first.extensions?.code;
  return typeof code === "string" ? code : "INTERNAL_SERVER_ERROR";
}
