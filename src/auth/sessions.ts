/**
 * Which sessions are live, as far as this API instance knows — so an access token stops working
 * the moment its session ends (logout, logoutEverywhere, a password change or reset, a
 * suspension, an account deletion), without a database round trip per request.
 *
 * - A session this instance has not seen is looked up once (`SessionSource`: the database);
 *   the answer is kept: live (with its user) until told otherwise, ended for good (a session
 *   never comes back, and an unknown one — a token for an account that never existed or was
 *   deleted — never appears).
 * - Every instance is told when a session ends (`ended`, fed by LISTEN/NOTIFY:
 *   src/auth/sessionFeed.ts) and tells its listeners (open websockets close).
 * - While the feed is down the cache is not trusted: every check asks the source. When it is
 *   back, the sessions believed live are looked up again (ends may have been missed) before the
 *   cache is trusted again.
 */
import type { VerifiedToken } from "./tokens.ts";

export type SessionState = "live" | "ended";

/** Where the truth is: which of these sessions are live, each with its user. */
export interface SessionSource {
  liveSessions(sessionIds: readonly string[]): Promise<Map<string, string>>;
}

export interface SessionRegistryOptions {
  source: SessionSource;
  /**
   * How long an ended session is remembered: at least the access tokens' lifetime, after which
   * no token of it can still be valid.
   */
  endedRetentionMs: number;
  now?: () => number;
}

interface LiveSession {
  userId: string;
  /** The latest expiry of a token seen for it: forgotten after that (sweep). */
  until: number;
}

interface Lookup {
  answer: Promise<string | null>;
  /** Whether the cache may keep the answer: the feed was up, in this epoch, when it was asked. */
  cacheable: boolean;
  epoch: number;
}

/** Sessions asked about per query when the feed comes back. */
const RESYNC_BATCH = 5000;

export class SessionRegistry {
  readonly #source: SessionSource;
  readonly #retentionMs: number;
  readonly #now: () => number;
  readonly #live = new Map<string, LiveSession>();
  /** Ended (or unknown) sessions → when to forget them. */
  readonly #ended = new Map<string, number>();
  readonly #lookups = new Map<string, Lookup>();
  readonly #listeners = new Set<(sessionId: string) => void>();
  #listening = false;
  /** Incremented whenever the feed goes down: answers asked before then are not cached. */
  #epoch = 0;

  constructor(options: SessionRegistryOptions) {
    this.#source = options.source;
    this.#retentionMs = options.endedRetentionMs;
    this.#now = options.now ?? Date.now;
  }

  /** Whether ends are being heard (the cache is trusted). */
  get listening(): boolean {
    return this.#listening;
  }

  /** Sessions known live and known ended right now (metrics, tests). */
  get size(): { live: number; ended: number } {
    return { live: this.#live.size, ended: this.#ended.size };
  }

  /**
   * Whether the token's session is live and belongs to the token's user. Synchronous when the
   * answer is known (the common case); a promise when the source must be asked.
   */
  check(identity: VerifiedToken): SessionState | Promise<SessionState> {
    const { sessionId } = identity;
    if (this.#ended.has(sessionId)) return "ended";
    if (this.#listening) {
      const known = this.#live.get(sessionId);
      if (known) {
        const until = identity.expiresAt.getTime();
        if (until > known.until) known.until = until;
        return known.userId === identity.userId ? "live" : "ended";
      }
    }
    return this.#lookUp(identity);
  }

  /** What this instance knows of a session, without asking anyone (tests). */
  known(sessionId: string): SessionState | undefined {
    if (this.#ended.has(sessionId)) return "ended";
    return this.#live.has(sessionId) ? "live" : undefined;
  }

  /** The session has ended (NOTIFY): refuse its tokens from now on and tell the listeners. */
  ended(sessionId: string): void {
    this.#ended.set(sessionId, this.#now() + this.#retentionMs);
    this.#live.delete(sessionId);
    for (const listener of this.#listeners) listener(sessionId);
  }

  /** Calls `listener` with every session that ends from now on; returns the unsubscribe. */
  onEnded(listener: (sessionId: string) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The feed is down: ends may be missed, so stop trusting the cache. */
  disconnected(): void {
    this.#listening = false;
    this.#epoch += 1;
  }

  /**
   * The feed is up (again): look up every session believed live — one may have ended while
   * nobody listened — then trust the cache. Throws if the source fails (the feed retries).
   */
  async resynchronise(): Promise<void> {
    const epoch = this.#epoch;
    const believed = [...this.#live.keys()];
    for (let i = 0; i < believed.length; i += RESYNC_BATCH) {
      const batch = believed.slice(i, i + RESYNC_BATCH);
      const live = await this.#source.liveSessions(batch);
      for (const sessionId of batch) {
        const known = this.#live.get(sessionId);
        if (!known) continue; // ended meanwhile
        const owner = live.get(sessionId);
        if (owner === undefined) this.ended(sessionId);
        else if (owner !== known.userId) this.#live.delete(sessionId);
      }
    }
    if (epoch === this.#epoch) this.#listening = true;
  }

  /** Forgets live sessions whose tokens have all expired, and ended ones past retention. */
  sweep(): void {
    const now = this.#now();
    for (const [sessionId, session] of this.#live) {
      if (session.until < now) this.#live.delete(sessionId);
    }
    for (const [sessionId, forgetAt] of this.#ended) {
      if (forgetAt < now) this.#ended.delete(sessionId);
    }
  }

  async #lookUp(identity: VerifiedToken): Promise<SessionState> {
    const { sessionId } = identity;
    let lookup = this.#lookups.get(sessionId);
    if (!lookup || lookup.epoch !== this.#epoch) {
      const answer = this.#source
        .liveSessions([sessionId])
        .then((live) => live.get(sessionId) ?? null);
      const created: Lookup = { answer, cacheable: this.#listening, epoch: this.#epoch };
      lookup = created;
      this.#lookups.set(sessionId, created);
      const forget = (): void => {
        if (this.#lookups.get(sessionId) === created) this.#lookups.delete(sessionId);
      };
      answer.then(forget, forget);
    }
    const owner = await lookup.answer;
    // an end announced while we asked wins
    if (this.#ended.has(sessionId)) return "ended";
    if (owner === null) {
      // never to be live: a session does not come back, an unknown one does not appear
      this.#ended.set(sessionId, this.#now() + this.#retentionMs);
      return "ended";
    }
    if (lookup.cacheable && this.#listening && lookup.epoch === this.#epoch) {
      const until = identity.expiresAt.getTime();
      const known = this.#live.get(sessionId);
      this.#live.set(sessionId, { userId: owner, until: Math.max(until, known?.until ?? 0) });
    }
    return owner === identity.userId ? "live" : "ended";
  }
}
