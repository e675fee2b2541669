/**
 * One API instance's live topics, shared by all of its subscriptions (issue #15).
 *
 * Each topic is listened to once (PostGraphile's pg subscriber); for each event, ONE statement
 * decides which of the instance's subscribers to it may see it (an `Audience`: a security
 * definer function in app_hidden that restates, for a set of users, what each one's row-level
 * security would say; test/realtime/audience.property.test.ts holds them to it), then the event
 * is handed to those subscribers' queues. Per event and topic that is one statement, however
 * many subscribe; before, every subscriber re-checked in its own transaction.
 *
 * - Joining a topic that is already live is immediate; the first subscriber confirms the LISTEN
 *   with a probe notification (repeated until one arrives), so nothing committed after the
 *   subscription is live is missed.
 * - Each subscriber has its own bounded queue: beyond `maxQueued` that subscription ends with
 *   CLIENT_TOO_SLOW; the topic and everyone else go on at their own pace.
 * - Events of a topic are decided concurrently and delivered in the order they arrived. An event
 *   whose audience cannot be decided (the statement failed: the database restarting, a pool
 *   error) ends the subscriptions that wanted it with SUBSCRIPTION_INTERRUPTED: before, it was
 *   dropped for them without a word, and a client held the subscription for live while it had
 *   missed a message (found by the chaos soak, test/realtime/hubFailures.test.ts).
 * - A subscription that cannot start listening (the probe cannot be sent or is not heard within
 *   PROBE_DEADLINE_MS: the database is down) is refused with SUBSCRIPTION_INTERRUPTED too — the
 *   client subscribes again — never an internal error.
 * - The LISTEN connection failing (terminated, a database restart, the subscriber released at
 *   shutdown) ends every subscription of the topic with SUBSCRIPTION_INTERRUPTED, never a plain
 *   completion: the events in between are lost, and the client must know to subscribe again and
 *   catch up by query. The topic is forgotten at once, so the next subscriber listens afresh
 *   (PgSubscriber takes a new connection and LISTENs again; the probe confirms it).
 */
import { randomUUID } from "node:crypto";

import type { WithPgClient } from "postgraphile/@dataplan/pg";
import type { GrafastSubscriber } from "postgraphile/grafast";

import { appError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { failure, interrupted, type LiveFailure, type Query } from "./liveTopic.ts";

/** Of `userIds`, who may see `event` now, each with the event as they get it. */
export type Audience<E> = (event: E, userIds: string[], query: Query) => Promise<Map<string, E>>;

export interface HubOptions {
  subscriber: GrafastSubscriber<Record<string, string>>;
  withPgClient: WithPgClient;
  /** The settings the audience statements run under (a role that may call them). */
  pgSettings: Record<string, string>;
  maxQueued: number;
  log: Logger;
  /** Told how many events were dropped when a subscription ends for a slow client. */
  onDropped?: (events: number) => void;
}

/** What the hub has done since it started (the benchmark reads it). */
export interface HubStats {
  events: number;
  statements: number;
  deliveries: number;
}

interface Member<E> {
  userId: string;
  /** Whether this subscription wants the event at all (e.g. inserts only). */
  wants: (event: E) => boolean;
  push: (event: E) => void;
  fail: (error: unknown) => void;
}

interface Topic<E> {
  members: Set<Member<E>>;
  /** Settles when the LISTEN is confirmed (or fails). */
  live: Promise<void>;
  stop: () => void;
}

const PROBE_INTERVAL_MS = 50;
/** How long a new topic may take to confirm its LISTEN (soak/invariants.ts relies on it). */
const PROBE_DEADLINE_MS = 10_000;

/** A subscription that could not start listening: the client subscribes again. */
function cannotListen(): Error {
  return appError(
    "SUBSCRIPTION_INTERRUPTED",
    "The server cannot listen for events right now; subscribe again shortly",
  );
}

/**
 * Ends a topic's LISTEN iterator. After its connection broke, PgSubscriber's `return()` rejects
 * with the error it ended the iterator with (already handled by the pump): left unhandled, that
 * rejection would end the process (found by the chaos soak, test/realtime/hubListenLost.test.ts).
 */
function closeQuietly(iterator: AsyncIterator<unknown>): void {
  iterator.return?.().catch(() => undefined);
}

export class TopicHub {
  readonly #options: HubOptions;
  readonly #topics = new Map<string, Topic<object>>();
  readonly stats: HubStats = { events: 0, statements: 0, deliveries: 0 };

  constructor(options: HubOptions) {
    this.#options = options;
  }

  /** One statement under the hub's settings. */
  readonly query: Query = (text, values) => {
    this.stats.statements += 1;
    return this.#options.withPgClient(this.#options.pgSettings, async (client) => [
      ...(await client.query<never>({ text, values })).rows,
    ]);
  };

  /** Topics listened to right now. */
  get topics(): number {
    return this.#topics.size;
  }

  /**
   * Subscribes `userId` to `topic`: the events `audience` lets them see (and `wants` asks for).
   * `key` names the topic together with its audience (two fields may share a channel).
   */
  async join<E extends object>(
    key: string,
    topic: string,
    audience: Audience<E>,
    userId: string,
    wants: (event: E) => boolean = () => true,
  ): Promise<AsyncIterableIterator<E | LiveFailure>> {
    const { log, maxQueued } = this.#options;
    const backlog: E[] = [];
    let wake: (() => void) | null = null;
    let ended: { error?: unknown } | null = null;
    let failureDelivered = false;
    const end = (outcome: { error?: unknown }): void => {
      ended ??= outcome;
      wake?.();
    };
    const member: Member<E> = {
      userId,
      wants,
      push: (event) => {
        if (ended) return;
        backlog.push(event);
        if (backlog.length > maxQueued) {
          log.warn("realtime: subscriber too slow; subscription ended", {
            topic,
            queued: backlog.length,
          });
          this.#options.onDropped?.(backlog.length);
          backlog.length = 0;
          leave();
          end({
            error: appError(
              "CLIENT_TOO_SLOW",
              `More than ${maxQueued} events were waiting for this client; subscribe again and catch up by query`,
            ),
          });
          return;
        }
        wake?.();
      },
      fail: (error) => {
        backlog.length = 0;
        end({ error });
      },
    };
    const entry = this.#topic(key, topic, audience);
    entry.members.add(member as unknown as Member<object>);
    const leave = (): void => {
      if (entry.members.delete(member as unknown as Member<object>) && entry.members.size === 0) {
        if (this.#topics.get(key) === entry) this.#topics.delete(key);
        entry.stop();
      }
    };
    try {
      await entry.live;
    } catch (error) {
      leave();
      throw error;
    }
    log.debug("realtime: subscription live", { topic });

    const iterator: AsyncIterableIterator<E | LiveFailure> = {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next(): Promise<IteratorResult<E | LiveFailure>> {
        for (;;) {
          const outcome: { error?: unknown } | null = ended;
          if (outcome?.error !== undefined && !failureDelivered) {
            failureDelivered = true;
            return { done: false, value: failure(outcome.error) };
          }
          const event = backlog.shift();
          if (event !== undefined) return { done: false, value: event };
          if (outcome) return { done: true, value: undefined };
          await new Promise<void>((resolve) => (wake = resolve));
          wake = null;
        }
      },
      async return(): Promise<IteratorResult<E | LiveFailure>> {
        leave();
        end({});
        return { done: true, value: undefined };
      },
      async throw(error: unknown): Promise<IteratorResult<E | LiveFailure>> {
        failureDelivered = true;
        leave();
        end({ error });
        throw error;
      },
    };
    return iterator;
  }

  /** The topic's shared listener, started by its first subscriber. */
  #topic<E extends object>(key: string, topic: string, audience: Audience<E>): Topic<E> {
    const existing = this.#topics.get(key);
    if (existing) return existing as unknown as Topic<E>;
    const { subscriber, log } = this.#options;
    const members = new Set<Member<E>>();
    const probe = randomUUID();
    let confirm!: () => void;
    const heard = new Promise<void>((resolve) => (confirm = resolve));
    let inner: AsyncIterator<string> | null = null;
    let stopped = false;
    const stop = (): void => {
      stopped = true;
      confirm();
      if (inner) closeQuietly(inner);
    };
    // events are decided concurrently and delivered in arrival order
    let delivered: Promise<void> = Promise.resolve();
    const decide = (event: E): void => {
      const wanting = [...members].filter((m) => m.wants(event));
      if (wanting.length === 0) return;
      this.stats.events += 1;
      const userIds = [...new Set(wanting.map((m) => m.userId))];
      const decision = audience(event, userIds, this.query).catch((error: unknown) => {
        log.error("realtime: could not decide an event's audience; subscriptions interrupted", {
          topic,
          subscriptions: wanting.length,
          error,
        });
        return null;
      });
      delivered = delivered.then(async () => {
        const allowed = await decision;
        for (const m of wanting) {
          if (!members.has(m)) continue;
          // they would miss this event: they must know, and catch up by query
          if (allowed === null) {
            m.fail(interrupted());
            continue;
          }
          const out = allowed.get(m.userId);
          if (out === undefined) {
            log.debug("realtime: event withheld", { topic, event: JSON.stringify(event) });
            continue;
          }
          this.stats.deliveries += 1;
          m.push(out);
        }
      });
    };
    const pump = async (): Promise<void> => {
      try {
        inner = (await subscriber.subscribe(topic))[Symbol.asyncIterator]();
        if (stopped) {
          closeQuietly(inner);
          return;
        }
        for (;;) {
          const next = await inner.next();
          if (next.done) break;
          let event: (E & { probe?: string }) | null = null;
          try {
            event = JSON.parse(next.value) as E & { probe?: string };
          } catch {
            log.warn("realtime: ignored a malformed event", { topic });
          }
          if (event === null) continue;
          if (event.probe !== undefined) {
            if (event.probe === probe) confirm();
            continue;
          }
          decide(event);
        }
        if (!stopped) throw new Error("The LISTEN connection ended");
      } catch (error) {
        if (stopped) return;
        log.error("realtime: lost the LISTEN connection; subscriptions interrupted", {
          topic,
          subscriptions: members.size,
          error,
        });
        if (this.#topics.get(key) === entry) this.#topics.delete(key);
        await delivered;
        for (const m of members) m.fail(interrupted());
        members.clear();
      } finally {
        confirm();
      }
    };
    const entry: Topic<E> = { members, live: Promise.resolve(), stop };
    this.#topics.set(key, entry as unknown as Topic<object>);
    void pump();
    entry.live = (async () => {
      let confirmed = false;
      void heard.then(() => (confirmed = true));
      const deadline = Date.now() + PROBE_DEADLINE_MS;
      while (!confirmed) {
        if (Date.now() > deadline) {
          stop();
          if (this.#topics.get(key) === entry) this.#topics.delete(key);
          throw cannotListen();
        }
        try {
          await this.#options.withPgClient(this.#options.pgSettings, (client) =>
            client.query({
              text: `select pg_notify($1, $2)`,
              values: [topic, JSON.stringify({ probe })],
            }),
          );
        } catch (error) {
          log.warn("realtime: could not start listening", { topic, error });
          stop();
          if (this.#topics.get(key) === entry) this.#topics.delete(key);
          throw cannotListen();
        }
        await Promise.race([
          heard,
          new Promise<void>((resolve) => setTimeout(resolve, PROBE_INTERVAL_MS).unref()),
        ]);
      }
    })();
    return entry;
  }
}
