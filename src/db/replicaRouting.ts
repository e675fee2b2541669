/**
 * Which server runs a GraphQL request's SQL when read replicas are configured
 * (src/db/readReplicas.ts); the GraphQL context hands PostGraphile the `withPgClient` chosen here
 * (graphile.config.ts).
 *
 * - queries read from a replica in rotation, round-robin; one replica for the whole request;
 * - mutations, subscriptions (their authorisation and every event's re-read) and anything not
 *   recognised run on the primary, in PostGraphile's transaction as before;
 * - read-your-writes, across API instances (docs/SCALING.md "Read replicas"):
 *   - a signed-in session's mutation publishes `pg_notify('mking_session_write',
 *     '<session id>:<instance id>')` inside its own transaction, so the notification exists
 *     exactly when the write does (delivered at commit, never for a rolled-back one);
 *   - the instance that ran it reads the primary's insert position after the commit (past the
 *     commit record) and remembers it for the session: its reads go only to a replica that has
 *     replayed that far, else to the primary;
 *   - every instance hears the notification on the session feed's LISTEN connection
 *     (src/auth/sessionFeed.ts) and sends the session's reads to the primary until a probe of the
 *     primary's position sent after it heard the write (the replica poll's, or a barrier's) tells
 *     it how far a replica must have replayed;
 *   - the race (the client has its answer from instance A and asks B before B has heard): before
 *     a signed-in session's read goes to a replica, B runs a barrier statement on that same LISTEN
 *     connection (`select pg_current_wal_insert_lsn()`, shared by the reads that arrive while it
 *     is in flight). The committing backend signals the listeners before the commit returns, and
 *     a backend sends pending notifications before the ReadyForQuery of its next statement, so
 *     when the barrier answers, B has heard every write committed before the read arrived;
 *   - no certainty, no replica: while the feed is down (or its barrier does not answer within
 *     BARRIER_TIMEOUT_MS), and for READ_YOUR_WRITES_WINDOW_MS after the feed (re)starts listening
 *     (writes may have been missed), signed-in sessions read from the primary;
 *   - a write is remembered for READ_YOUR_WRITES_WINDOW_MS (at least the lag limit plus one poll:
 *     any replica still in rotation after that has replayed it). When the position cannot be
 *     read, the session reads from the primary for the whole window. An access token younger
 *     than the window (a sign-up, sign-in or refresh, which were anonymous mutations, maybe on
 *     another instance) reads from the primary too.
 *
 * A read that fails on a replica because of the replica (it cannot be reached, shuts down,
 * cancels the statement for a conflict with recovery, or refuses a write) runs again on the
 * primary: reads are repeatable, and nobody sees the replica's trouble.
 */
import { randomUUID } from "node:crypto";

import type pg from "pg";
import { makePgAdaptorWithPgClient, type NodePostgresPgClient } from "postgraphile/adaptors/pg";
import type { WithPgClient as AnyWithPgClient } from "postgraphile/@dataplan/pg";
import { getOperationAST, type DocumentNode } from "postgraphile/graphql";

import { verifiedIdentity } from "../auth/request.ts";
import { SESSION_WRITE_CHANNEL, type SessionWriteFeed } from "../auth/sessionFeed.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import { replicaMetrics } from "../metrics/replicas.ts";
import type { ProcessMetrics } from "../metrics/registry.ts";
import { parseLsn, ReadReplicas, type Probe, type Replica } from "./readReplicas.ts";

type WithPgClient = AnyWithPgClient<NodePostgresPgClient>;

export type OperationKind = "query" | "mutation" | "subscription";
export type ReadTarget = "primary" | "replica";

/** The type of the operation a request runs, or null when the document names none. */
export function operationKindOf(args: {
  document?: DocumentNode | null;
  operationName?: string | null;
}): OperationKind | null {
  if (!args.document) return null;
  return getOperationAST(args.document, args.operationName ?? undefined)?.operation ?? null;
}

/** Who is asking, as far as routing cares. */
export interface Caller {
  /** The access token's session (jwt.claims.session_id); null when anonymous. */
  sessionId: string | null;
  /** When the access token was issued (ms since the epoch); null when unknown or anonymous. */
  tokenIssuedAt: number | null;
}

/**
 * SQLSTATEs a replica answers for its own trouble (class 08 connection, 57P0x shutdown,
 * 40001 "canceling statement due to conflict with recovery", 25006 "read-only transaction").
 */
const REPLICA_TROUBLE = /^(08...|57P0[1-3]|40001|40P01|25006)$/;
/** Errors of the driver, not of the server: the replica could not be reached or went away. */
const DRIVER_TROUBLE =
  /Connection terminated|connect ECONNREFUSED|timeout exceeded when trying to connect|ECONNRESET|Client has encountered a connection error/i;

export function isReplicaTrouble(error: unknown): boolean {
  if (typeof error !== "object" || error === null) return false;
  const { code, message } = error as { code?: unknown; message?: unknown };
  if (typeof code === "string" && /^[0-9A-Z]{5}$/.test(code)) return REPLICA_TROUBLE.test(code);
  return typeof message === "string" && DRIVER_TROUBLE.test(message);
}

/** Is the failure a connection failure (the replica is out until it answers a poll again)? */
function isUnreachable(error: unknown): boolean {
  const { code, message } = (error ?? {}) as { code?: unknown; message?: unknown };
  return (
    (typeof code === "string" && (/^08/.test(code) || /^57P0[1-3]$/.test(code))) ||
    (typeof message === "string" && DRIVER_TROUBLE.test(message))
  );
}

/** What an instance knows of a session's recent writes. */
export interface WriteRecord {
  /** A replica must have replayed this far to serve the session (0n: no constraint yet). */
  lsn: bigint;
  /** The position of a write could not be read: the primary until then (ms since the epoch). */
  primaryUntil: number;
  /**
   * A write heard from another instance at this tick (ReadReplicas.tick()) whose position is not
   * known yet: the primary until a probe sent after it answers. null: none pending.
   */
  heardTick: number | null;
  /** performance.now() when a write was last heard from another instance (measurements). */
  heardAt: number | null;
  /** Forgotten after this (ms since the epoch). */
  until: number;
}

/** How long a barrier on the session feed may take before the read goes to the primary. */
export const BARRIER_TIMEOUT_MS = 500;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function timeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, expired]).finally(() => clearTimeout(timer));
}

export interface ReadRouterOptions {
  replicas: ReadReplicas;
  /** PostGraphile's withPgClient on the primary pool. */
  primary: WithPgClient;
  /** The primary pool, for the WAL position after a mutation. */
  primaryPool: pg.Pool;
  /**
   * The session feed's LISTEN connection: other instances' writes and the barrier. Without it
   * (tests of one instance only) nothing is heard from other instances.
   */
  feed: SessionWriteFeed | null;
  readYourWritesWindowMs: number;
  log: Logger;
  /** Told every routing decision (metrics). */
  onRoute?: (target: ReadTarget) => void;
}

export class ReadRouter {
  readonly replicas: ReadReplicas;
  /** This instance, in its session write notifications (its own are not news to it). */
  readonly instanceId = randomUUID();
  /** Query operations routed to each, since start. */
  readonly routed: Record<ReadTarget, number> = { primary: 0, replica: 0 };
  /** Barriers sent on the session feed, since start. */
  barriers = 0;
  readonly #o: ReadRouterOptions;
  readonly #writes = new Map<string, WriteRecord>();
  /** Records with a write heard but its position not known yet. */
  readonly #pending = new Set<WriteRecord>();
  readonly #log: Logger;
  #sweepAt = 0;
  /** Signed-in sessions read from the primary until then: writes may have gone unheard. */
  #unheardUntil: number;
  #barrier: Promise<void> | null = null;
  #nextBarrier: Promise<void> | null = null;
  /** A barrier timed out and its statement has not answered yet: the feed is stuck. */
  #feedStuck = false;
  readonly #onWrite = (payload: string): void => this.#heard(payload);
  /** The first probe sent after a write was heard is at or past it. */
  readonly #onProbe = (probe: Probe): void => {
    for (const record of this.#pending) {
      if (record.heardTick === null || record.heardTick < probe.tick) {
        if (record.heardTick !== null && probe.lsn > record.lsn) record.lsn = probe.lsn;
        record.heardTick = null;
        this.#pending.delete(record);
      }
    }
  };
  readonly #onLost = (): void => {
    this.#unheardUntil = Infinity;
  };
  readonly #onListening = (): void => {
    this.#unheardUntil = Date.now() + this.#o.readYourWritesWindowMs;
  };

  constructor(options: ReadRouterOptions) {
    this.#o = options;
    this.replicas = options.replicas;
    this.#log = options.log.child({ component: "read-routing" });
    // writes of the last window, before this instance listened, were not heard (without a
    // feed, nothing is ever heard from other instances: only this instance's writes count)
    this.#unheardUntil =
      options.feed === null
        ? 0
        : options.feed.listening
          ? Date.now() + options.readYourWritesWindowMs
          : Infinity;
    this.replicas.on("probe", this.#onProbe);
    options.feed?.events.on("write", this.#onWrite);
    options.feed?.events.on("lost", this.#onLost);
    options.feed?.events.on("listening", this.#onListening);
  }

  /** Stops hearing the feed. */
  close(): void {
    this.replicas.off("probe", this.#onProbe);
    this.#o.feed?.events.off("write", this.#onWrite);
    this.#o.feed?.events.off("lost", this.#onLost);
    this.#o.feed?.events.off("listening", this.#onListening);
  }

  /** The withPgClient for one request. */
  withPgClientFor(kind: OperationKind | null, caller: Caller): WithPgClient {
    if (kind === "mutation") {
      return caller.sessionId === null ? this.#o.primary : this.#recordingWrites(caller.sessionId);
    }
    if (kind !== "query") return this.#o.primary;
    // decided when the request first needs the database, once for the whole request
    let decision: Promise<Replica | null> | null = null;
    return async (pgSettings, callback) => {
      decision ??= this.#decide(caller);
      const replica = await decision;
      return replica
        ? this.#onReplica(replica)(pgSettings, callback)
        : this.#o.primary(pgSettings, callback);
    };
  }

  /** What this instance knows of the session's writes (tests, debugging). */
  lastWriteOf(sessionId: string): WriteRecord | null {
    const record = this.#writes.get(sessionId);
    return record && record.until > Date.now() ? record : null;
  }

  async #decide(caller: Caller): Promise<Replica | null> {
    const replica = await this.#replicaFor(caller);
    const target = replica ? "replica" : "primary";
    this.routed[target] += 1;
    this.#o.onRoute?.(target);
    return replica;
  }

  async #replicaFor(caller: Caller): Promise<Replica | null> {
    const window = this.#o.readYourWritesWindowMs;
    if (caller.tokenIssuedAt !== null && Date.now() - caller.tokenIssuedAt < window) return null;
    // anonymous readers have no writes to see
    if (caller.sessionId === null) return this.replicas.pick(null);
    if (!this.replicas.replicas.some((r) => r.inRotation)) return null;
    if (this.#o.feed !== null) {
      if (Date.now() < this.#unheardUntil || this.#feedStuck) return null;
      try {
        await this.#barrierAfterNow();
      } catch (error) {
        this.#log.warn("session feed barrier failed; reading from the primary", { error });
        return null;
      }
    }
    const now = Date.now();
    if (now < this.#unheardUntil) return null; // the feed was lost meanwhile
    const record = this.#writes.get(caller.sessionId);
    if (!record || record.until <= now) return this.replicas.pick(null);
    if (now < record.primaryUntil || record.heardTick !== null) return null;
    return this.replicas.pick(record.lsn === 0n ? null : record.lsn);
  }

  /**
   * Resolves once a barrier sent after this call has answered: every write committed before the
   * call has been heard then. One barrier at a time; calls made while one is in flight share the
   * next.
   */
  #barrierAfterNow(): Promise<void> {
    if (this.#barrier === null) return (this.#barrier = this.#sendBarrier());
    this.#nextBarrier ??= this.#barrier
      .catch(() => undefined)
      .then(() => {
        this.#nextBarrier = null;
        return this.#barrierAfterNow();
      });
    return this.#nextBarrier;
  }

  #sendBarrier(): Promise<void> {
    const feed = this.#o.feed!;
    const tick = this.replicas.tick();
    this.barriers += 1;
    const answered = feed.query<{ lsn: string }>("select pg_current_wal_insert_lsn()::text as lsn");
    const sent = timeout(answered, BARRIER_TIMEOUT_MS).then(
      (rows) => {
        // also a probe: at or past every write heard before it was sent
        this.replicas.noteProbe({ tick, lsn: parseLsn(rows[0]!.lsn) });
      },
      (error: unknown) => {
        if (feed.listening && !this.#feedStuck) {
          // the statement is still queued on the connection: later barriers would wait for it
          this.#feedStuck = true;
          void answered
            .catch(() => undefined)
            .finally(() => {
              this.#feedStuck = false;
            });
        }
        throw error;
      },
    );
    const done = sent.finally(() => {
      if (this.#barrier === done) this.#barrier = null;
    });
    return done;
  }

  /** A `mking_session_write` notification: `<session id>:<instance id>`. */
  #heard(payload: string): void {
    const [sessionId, instanceId] = payload.split(":");
    if (!sessionId || !UUID.test(sessionId) || instanceId === this.instanceId) return;
    const now = Date.now();
    const record = this.#record(sessionId.toLowerCase(), now);
    record.heardTick = this.replicas.tick();
    record.heardAt = performance.now();
    this.#pending.add(record);
  }

  #record(sessionId: string, now: number): WriteRecord {
    let record = this.#writes.get(sessionId);
    if (!record || record.until <= now) {
      record = { lsn: 0n, primaryUntil: 0, heardTick: null, heardAt: null, until: 0 };
      this.#writes.set(sessionId, record);
    }
    record.until = now + this.#o.readYourWritesWindowMs;
    this.#sweep(now);
    return record;
  }

  #onReplica(replica: Replica): WithPgClient {
    const primary = this.#o.primary;
    return async (pgSettings, callback) => {
      try {
        return await replica.withPgClient(pgSettings, callback);
      } catch (error) {
        if (!isReplicaTrouble(error)) throw error;
        if (isUnreachable(error)) this.replicas.markUnreachable(replica, error);
        this.#log.warn("read on a replica failed; reading from the primary", {
          replica: replica.name,
          error,
        });
        return primary(pgSettings, callback);
      }
    };
  }

  #recordingWrites(sessionId: string): WithPgClient {
    const primary = this.#o.primary;
    const payload = `${sessionId}:${this.instanceId}`;
    return async (pgSettings, callback) => {
      try {
        // the session's claims are in pgSettings, so PostGraphile runs this in a transaction:
        // the notification is delivered at its commit, and never if it rolls back
        return await primary(pgSettings, async (client) => {
          const result = await callback(client);
          await client.query({
            text: "select pg_notify($1, $2)",
            values: [SESSION_WRITE_CHANNEL, payload],
          });
          return result;
        });
      } finally {
        // committed or not: a failed mutation may still have written (an earlier field)
        await this.#remember(sessionId);
      }
    };
  }

  async #remember(sessionId: string): Promise<void> {
    let lsn: bigint | null = null;
    try {
      const { rows } = await this.#o.primaryPool.query<{ lsn: string }>(
        "select pg_current_wal_insert_lsn()::text as lsn",
      );
      lsn = parseLsn(rows[0]!.lsn);
    } catch (error) {
      this.#log.warn("could not read the WAL position after a write; reading from the primary", {
        error,
      });
    }
    const now = Date.now();
    const record = this.#record(sessionId, now);
    // WAL positions only grow: this one is past every earlier write of the session too
    if (lsn === null) record.primaryUntil = record.until;
    else if (lsn > record.lsn) record.lsn = lsn;
  }

  /** Forgets expired records, at most once per window. */
  #sweep(now: number): void {
    if (now < this.#sweepAt) return;
    this.#sweepAt = now + this.#o.readYourWritesWindowMs;
    for (const [session, record] of this.#writes) {
      if (record.until > now) continue;
      this.#writes.delete(session);
      this.#pending.delete(record);
    }
  }
}

/** The routing of one API server: its replicas, its router, and how to stop them. */
export interface ReadRouting {
  readonly router: ReadRouter;
  /** The request's GraphQL context with the withPgClient its operation should use. */
  route(
    context: Partial<Grafast.Context>,
    requestContext: Partial<Grafast.RequestContext>,
    args: { document?: DocumentNode | null; operationName?: string | null },
  ): Partial<Grafast.Context>;
  close(): Promise<void>;
}

export interface ReadRoutingOptions {
  config: Config;
  /** The authenticator's URL on the primary (replica URLs borrow its credentials). */
  authUrl: string;
  /** The API's primary pool. */
  primaryPool: pg.Pool;
  /** The session feed's LISTEN connection (src/auth/sessionFeed.ts): other instances' writes. */
  feed: SessionWriteFeed | null;
  log: Logger;
  metrics?: ProcessMetrics | null;
}

/** Null when DATABASE_READ_URLS lists no replica; otherwise polls them once, then on a timer. */
export async function startReadRouting(o: ReadRoutingOptions): Promise<ReadRouting | null> {
  const settings = o.config.readReplicas;
  if (settings.urls.length === 0) return null;
  const replicas = new ReadReplicas({
    urls: settings.urls,
    authUrl: o.authUrl,
    primaryPool: o.primaryPool,
    maxLagMs: settings.maxLagMs,
    pollIntervalMs: settings.pollIntervalMs,
    poolSize: o.primaryPool.options.max ?? 10,
    log: o.log,
  });
  await replicas.start();
  const metrics = o.metrics ? replicaMetrics(o.metrics, replicas) : null;
  const router = new ReadRouter({
    replicas,
    primary: makePgAdaptorWithPgClient(o.primaryPool),
    primaryPool: o.primaryPool,
    feed: o.feed,
    readYourWritesWindowMs: settings.readYourWritesWindowMs,
    log: o.log,
    onRoute: metrics?.routed,
  });
  const ttlMs = o.config.auth.accessTokenTtlSeconds * 1000;
  o.log.info("read replicas", {
    replicas: replicas.replicas.map((r) => ({ name: r.name, inRotation: r.inRotation })),
  });
  return {
    router,
    route(context, requestContext, args) {
      const sessionId = context.pgSettings?.["jwt.claims.session_id"] ?? null;
      // HTTP requests: the verified token; its issue time is its expiry less the lifetime
      const identity = verifiedIdentity(requestContext.expressv4?.req);
      const withPgClient = router.withPgClientFor(operationKindOf(args), {
        sessionId,
        tokenIssuedAt: identity ? identity.expiresAt.getTime() - ttlMs : null,
      });
      return { ...context, withPgClient };
    },
    async close() {
      router.close();
      metrics?.unregister();
      await replicas.close();
    },
  };
}
