/**
 * What a live subscription yields (src/realtime/hub.ts): events, or, once, the error that ended
 * it (CLIENT_TOO_SLOW, SUBSCRIPTION_INTERRUPTED). The error is not thrown from `next()`: grafast
 * drops an error thrown there when its consumer is not waiting at that moment, and the client
 * would see the subscription complete as if nothing went wrong. `raiseFailure` turns it into the field's
 * error.
 */
import { appError } from "../errors.ts";

export type Query = <R>(text: string, values: unknown[]) => Promise<R[]>;

const FAILURE = Symbol("live failure");

/** The last item of a subscription that failed: its error, for the client. */
export interface LiveFailure {
  readonly [FAILURE]: unknown;
}

/** The last item of a subscription that ended with `error`. */
export function failure(error: unknown): LiveFailure {
  return { [FAILURE]: error };
}

/** An item of a live topic as it is: an event, or the error that ended the subscription. */
export function raiseFailure<E extends object>(item: E | LiveFailure): E {
  if (FAILURE in item) throw item[FAILURE];
  return item;
}

/**
 * Why a subscription ended when the server lost its event feed (the LISTEN connection: a
 * database restart, a network cut, shutting down): events may have been missed meanwhile.
 */
export function interrupted(): Error {
  return appError(
    "SUBSCRIPTION_INTERRUPTED",
    "The server lost its event feed; subscribe again and catch up by query",
  );
}
