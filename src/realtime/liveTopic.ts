/**
 * One subscriber's view of a LISTEN/NOTIFY channel: PostGraphile's pg subscriber (one LISTEN
 * connection per API instance, shared by everyone) filtered by what this subscriber may see.
 *
 * - `authorize` runs once, before listening, under the subscriber's role: it refuses by
 *   throwing (e.g. not a participant of the conversation);
 * - `accept` runs for each event, under the subscriber's role: events they may no longer see
 *   (they left, were blocked, the row is gone) are dropped, never delivered as nulls;
 * - a probe notification confirms the LISTEN is in place before the subscription counts as
 *   live, so nothing committed after that moment is missed (the subscriber issues LISTEN in the
 *   background: a probe sent before it took effect is lost, so probes repeat until one arrives);
 * - events waiting for a slow client are bounded: beyond `maxQueued` the subscription ends with
 *   CLIENT_TOO_SLOW instead of holding memory (others are unaffected: each has its own queue).
 *
 * A subscription that fails after it started (too slow, the LISTEN connection lost) yields one
 * last `LiveFailure` and then ends. It is not thrown from `next()`: grafast drops an error thrown
 * there when its consumer is not waiting at that moment, and the client would see the
 * subscription complete as if nothing went wrong. `raiseFailure` turns it into the field's error.
 */
import { randomUUID } from "node:crypto";

import type { WithPgClient } from "postgraphile/@dataplan/pg";
import type { GrafastSubscriber } from "postgraphile/grafast";

import { appError } from "../errors.ts";
import type { Logger } from "../log.ts";

export type Query = <R>(text: string, values: unknown[]) => Promise<R[]>;

const FAILURE = Symbol("live failure");

/** The last item of a subscription that failed: its error, for the client. */
export interface LiveFailure {
  readonly [FAILURE]: unknown;
}

/** An item of a live topic as it is: an event, or the error that ended the subscription. */
export function raiseFailure<E extends object>(item: E | LiveFailure): E {
  if (FAILURE in item) throw item[FAILURE];
  return item;
}

export interface LiveTopicOptions<E extends object> {
  subscriber: GrafastSubscriber<Record<string, string>>;
  withPgClient: WithPgClient;
  pgSettings: Record<string, string | undefined> | null;
  topic: string;
  authorize?: (query: Query) => Promise<void>;
  /** The event to deliver (possibly enriched), or null to drop it. */
  accept: (event: E, query: Query) => Promise<E | null>;
  maxQueued: number;
  log: Logger;
  /** Told how many events were dropped when the subscription ends for a slow client. */
  onDropped?: (events: number) => void;
}

/** How often the probe is sent again while the LISTEN is not confirmed, and for how long. */
const PROBE_INTERVAL_MS = 50;
const PROBE_DEADLINE_MS = 10_000;

/** Sends probes until `isLive` settles; gives up (and calls `abandon`) after the deadline. */
async function confirmListening(
  isLive: Promise<void>,
  sendProbe: () => Promise<unknown>,
  abandon: () => void,
): Promise<void> {
  let confirmed = false;
  void isLive.then(() => (confirmed = true));
  const deadline = Date.now() + PROBE_DEADLINE_MS;
  while (!confirmed) {
    if (Date.now() > deadline) {
      abandon();
      throw appError("INTERNAL_SERVER_ERROR", "Could not start listening; try again");
    }
    await sendProbe();
    await Promise.race([
      isLive,
      new Promise<void>((resolve) => setTimeout(resolve, PROBE_INTERVAL_MS).unref()),
    ]);
  }
}

/** The events of one topic that this subscriber may see, as an async iterator. */
export async function liveTopic<E extends object>(
  options: LiveTopicOptions<E>,
): Promise<AsyncIterableIterator<E | LiveFailure>> {
  const { withPgClient, pgSettings, topic, log } = options;
  const query: Query = (text, values) =>
    withPgClient(pgSettings, async (client) => [
      ...(await client.query<never>({ text, values })).rows,
    ]);

  await options.authorize?.(query);
  const inner = await options.subscriber.subscribe(topic);
  const probe = randomUUID();
  let live!: () => void;
  const isLive = new Promise<void>((resolve) => (live = resolve));

  // The pump takes raw events off the shared subscriber as they arrive, so the backlog is
  // visible here; the consumer checks each one when it gets to it.
  const backlog: E[] = [];
  const waiting: { wake: (() => void) | null } = { wake: null };
  let ended: { error?: unknown } | null = null;
  const end = (outcome: { error?: unknown }): void => {
    ended ??= outcome;
    waiting.wake?.();
  };
  void (async () => {
    try {
      for await (const raw of inner) {
        let event: (E & { probe?: string }) | null = null;
        try {
          event = JSON.parse(raw) as E & { probe?: string };
        } catch {
          log.warn("realtime: ignored a malformed event", { topic });
        }
        if (event === null) continue;
        if (event.probe !== undefined) {
          if (event.probe === probe) live();
          continue;
        }
        backlog.push(event);
        if (backlog.length > options.maxQueued) {
          log.warn("realtime: subscriber too slow; subscription ended", {
            topic,
            queued: backlog.length,
          });
          options.onDropped?.(backlog.length);
          backlog.length = 0; // nothing more is delivered: free the memory now
          end({
            error: appError(
              "CLIENT_TOO_SLOW",
              `More than ${options.maxQueued} events were waiting for this client; subscribe again and catch up by query`,
            ),
          });
          break;
        }
        waiting.wake?.();
      }
      end({});
    } catch (error) {
      log.error("realtime: subscription failed", { topic, error });
      backlog.length = 0;
      end({ error });
    } finally {
      live();
    }
  })();

  await confirmListening(
    isLive,
    () => query(`select pg_notify($1, $2)`, [topic, JSON.stringify({ probe })]),
    () => void inner.return?.(),
  );
  log.debug("realtime: subscription live", { topic });

  let failureDelivered = false;
  const iterator: AsyncIterableIterator<E | LiveFailure> = {
    [Symbol.asyncIterator]() {
      return this;
    },
    async next(): Promise<IteratorResult<E | LiveFailure>> {
      for (;;) {
        const outcome: { error?: unknown } | null = ended;
        if (outcome?.error !== undefined && !failureDelivered) {
          failureDelivered = true;
          return { done: false, value: { [FAILURE]: outcome.error } };
        }
        const event = backlog.shift();
        if (event !== undefined) {
          const accepted = await options.accept(event, query);
          if (accepted) return { done: false, value: accepted };
          log.debug("realtime: event withheld", { topic, event: JSON.stringify(event) });
          continue;
        }
        if (outcome) return { done: true, value: undefined };
        await new Promise<void>((resolve) => (waiting.wake = resolve));
        waiting.wake = null;
      }
    },
    async return(): Promise<IteratorResult<E | LiveFailure>> {
      end({});
      await inner.return?.();
      return { done: true, value: undefined };
    },
    async throw(error: unknown): Promise<IteratorResult<E | LiveFailure>> {
      failureDelivered = true; // the consumer raised it: nothing to hand back
      end({ error });
      await inner.return?.();
      throw error;
    },
  };
  return iterator;
}
