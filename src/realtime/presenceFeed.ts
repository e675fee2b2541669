/**
 * presenceChanged's fan-out on one API instance: each transition of src/realtime/presence.ts is
 * decided for all of the instance's subscribers in ONE statement (app_hidden.presence_audience:
 * the user's accepted friends among them, never across a block), then queued to those allowed,
 * in order. Each subscriber's queue is bounded: beyond `maxQueued` that subscription ends with
 * CLIENT_TOO_SLOW.
 */
import { appError } from "../errors.ts";
import type { Logger } from "../log.ts";
import { failure, type LiveFailure, type Query } from "./liveTopic.ts";
import type { Presence } from "./presence.ts";

export interface PresenceEvent {
  user_id: string;
  online: boolean;
}

interface Member {
  userId: string;
  push: (event: PresenceEvent) => void;
}

export class PresenceFeed {
  readonly #members = new Set<Member>();
  readonly #presence: Presence;
  readonly #query: Query;
  readonly #maxQueued: number;
  readonly #log: Logger;
  #stop: (() => void) | null = null;
  #delivered: Promise<void> = Promise.resolve();

  constructor(presence: Presence, query: Query, maxQueued: number, log: Logger) {
    this.#presence = presence;
    this.#query = query;
    this.#maxQueued = maxQueued;
    this.#log = log;
  }

  /** `userId`'s friends coming online and going offline, from now on. */
  join(userId: string): AsyncIterableIterator<PresenceEvent | LiveFailure> {
    const backlog: PresenceEvent[] = [];
    let wake: (() => void) | null = null;
    let ended: { error?: unknown } | null = null;
    let failureDelivered = false;
    const end = (outcome: { error?: unknown }): void => {
      ended ??= outcome;
      wake?.();
    };
    const leave = (): void => {
      this.#members.delete(member);
      if (this.#members.size === 0) {
        this.#stop?.();
        this.#stop = null;
      }
    };
    const member: Member = {
      userId,
      push: (event) => {
        if (ended) return;
        backlog.push(event);
        if (backlog.length > this.#maxQueued) {
          backlog.length = 0;
          leave();
          end({
            error: appError(
              "CLIENT_TOO_SLOW",
              `More than ${this.#maxQueued} events were waiting for this client; subscribe again and catch up by query`,
            ),
          });
          return;
        }
        wake?.();
      },
    };
    this.#members.add(member);
    this.#stop ??= this.#presence.onChange((user, online) => this.#decide(user, online));
    this.#log.debug("realtime: subscription live", { topic: "presence" });
    return {
      [Symbol.asyncIterator]() {
        return this;
      },
      async next(): Promise<IteratorResult<PresenceEvent | LiveFailure>> {
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
      async return(): Promise<IteratorResult<PresenceEvent | LiveFailure>> {
        leave();
        end({});
        return { done: true, value: undefined };
      },
      async throw(error: unknown): Promise<IteratorResult<PresenceEvent | LiveFailure>> {
        failureDelivered = true;
        leave();
        end({ error });
        throw error;
      },
    };
  }

  #decide(user: string, online: boolean): void {
    const members = [...this.#members].filter((m) => m.userId !== user);
    if (members.length === 0) return;
    const ids = [...new Set(members.map((m) => m.userId))];
    const decision = this.#query<{ user_id: string }>(
      `select app_hidden.presence_audience($1, $2::uuid[]) as user_id`,
      [user, ids],
    ).catch((error: unknown) => {
      this.#log.error("realtime: could not decide a presence event's audience", { error });
      return [];
    });
    this.#delivered = this.#delivered.then(async () => {
      const allowed = new Set((await decision).map((r) => r.user_id));
      const event = { user_id: user, online };
      for (const m of members) if (allowed.has(m.userId) && this.#members.has(m)) m.push(event);
    });
  }
}
