/**
 * Refusals as values: every GraphQL error the API answers with carries a stable
 * `extensions.code` (docs/error_codes.md); the client throws it as an `ApiError` whose `code` is
 * typed, so `switch (error.code)` is checked against the server's list.
 */
import { ERROR_CODES, type ErrorCode } from "./generated/errorCodes.ts";

export type { ErrorCode };

/** One error of a GraphQL response, as the server formats it. */
export interface GraphQLErrorBody {
  message: string;
  path?: readonly (string | number)[];
  extensions?: Record<string, unknown>;
}

const KNOWN = new Set<string>(ERROR_CODES);

export class ApiError extends Error {
  /** The stable code (`extensions.code`); INTERNAL_SERVER_ERROR when the server sent none. */
  readonly code: ErrorCode;
  /** For UNAUTHENTICATED from an access token: `expired`, `invalid` or `revoked`. */
  readonly reason: string | undefined;
  /** For INVALID_INPUT: the input field at fault. */
  readonly field: string | undefined;
  /** The HTTP status (0 for errors that came over the websocket). */
  readonly status: number;
  readonly extensions: Record<string, unknown>;
  /** Every error of the response (this one is the first). */
  readonly errors: readonly GraphQLErrorBody[];

  constructor(errors: readonly GraphQLErrorBody[], status = 0) {
    const first = errors[0] ?? { message: "The API answered with an error" };
    super(first.message);
    this.name = "ApiError";
    this.extensions = first.extensions ?? {};
    const code = this.extensions.code;
    this.code =
      typeof code === "string" && KNOWN.has(code) ? (code as ErrorCode) : "INTERNAL_SERVER_ERROR";
    this.reason = typeof this.extensions.reason === "string" ? this.extensions.reason : undefined;
    this.field = typeof this.extensions.field === "string" ? this.extensions.field : undefined;
    this.status = status;
    this.errors = errors;
  }
}

/** Whether `error` is an ApiError, with this code if one is given. */
export function isApiError(error: unknown, code?: ErrorCode): error is ApiError {
  return error instanceof ApiError && (code === undefined || error.code === code);
}
