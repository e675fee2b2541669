/**
 * The read replicas (DATABASE_READ_URLS) and which of them are in rotation.
 *
 * Every DATABASE_READ_POLL_MS one statement per server: the primary's `pg_current_wal_lsn()`
 * (kept as a short history of samples) and each replica's `pg_is_in_recovery()` and
 * `pg_last_wal_replay_lsn()`. A replica's lag is the age of the oldest primary sample it has not
 * replayed yet (0 when it has replayed the newest one): measured on this process's clock only,
 * so clock skew between servers does not matter and an idle primary does not look like lag
 * (`now() - pg_last_xact_replay_timestamp()` would). A replica is in rotation while it answers,
 * is still a standby (a promoted one has left the primary's history) and lags at most
 * DATABASE_READ_MAX_LAG_MS; it comes back by itself when it catches up. Reads are spread
 * round-robin over the replicas in rotation that have replayed what the caller needs
 * (src/db/replicaRouting.ts); with none, they go to the primary. Each poll also reads the
 * primary's insert position as a "probe" (with a tick() ordering it against the session writes
 * this process hears of), which resolves how far a write heard from another instance reaches.
 */
import { EventEmitter } from "node:events";

import pg from "pg";
import { makePgAdaptorWithPgClient, type NodePostgresPgClient } from "postgraphile/adaptors/pg";
import type { WithPgClient } from "postgraphile/@dataplan/pg";

import type { Logger } from "../log.ts";
import { userOf, withUrlParts } from "./urls.ts";

/** A WAL position ("16/B374D848") as a number of bytes. */
export function parseLsn(text: string): bigint {
  const m = /^([0-9A-F]{1,8})\/([0-9A-F]{1,8})$/i.exec(text.trim());
  if (!m) throw new Error(`not a WAL position: ${JSON.stringify(text)}`);
  return (BigInt(`0x${m[1]}`) << 32n) + BigInt(`0x${m[2]}`);
}

/**
 * A replica URL with the authenticator's credentials (and database) from `authUrl` where it
 * names none: DATABASE_READ_URLS may list just postgres://host:port/db.
 */
export function replicaUrl(url: string, authUrl: string): string {
  const auth = new URL(authUrl);
  const own = new URL(url);
  return userOf(url) === ""
    ? withUrlParts(url, {
        user: decodeURIComponent(auth.username),
        password: decodeURIComponent(auth.password),
        ...(own.pathname.replace(/^\//, "") === "" ? { database: auth.pathname.slice(1) } : {}),
      })
    : url;
}

export interface ReplicaState {
  /** host:port, for logs and metrics (never the credentials). */
  readonly name: string;
  /** Answered the last poll. */
  reachable: boolean;
  /** Still a standby (false: promoted, or a primary listed by mistake). */
  standby: boolean;
  /** What it had replayed at the last poll; null before the first answer. */
  replayLsn: bigint | null;
  /** Milliseconds behind the primary at the last poll; null when unknown. */
  lagMs: number | null;
  inRotation: boolean;
}

export interface Replica extends ReplicaState {
  readonly pool: pg.Pool;
  readonly withPgClient: WithPgClient<NodePostgresPgClient>;
  /** The poll statement still running on it, if any. */
  pending: Promise<pg.QueryResult<StatusRow>> | null;
}

export interface ReadReplicasOptions {
  /** DATABASE_READ_URLS (credentials filled in from authUrl where missing). */
  urls: readonly string[];
  /** The authenticator's URL on the primary. */
  authUrl: string;
  /** The API's primary pool (one short statement per poll). */
  primaryPool: pg.Pool;
  maxLagMs: number;
  pollIntervalMs: number;
  /** Connections per replica pool (the primary pool's size). */
  poolSize: number;
  log: Logger;
}

interface StatusRow {
  standby: boolean;
  replay: string | null;
}

interface Sample {
  at: number;
  lsn: bigint;
}

/** The primary's WAL position, read by a statement sent at `tick` (ReadReplicas.tick()). */
export interface Probe {
  readonly tick: number;
  readonly lsn: bigint;
}

const POLL_TIMEOUT_MS = 2000;

function withTimeout<T>(promise: Promise<T>): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_resolve, reject) => {
    timer = setTimeout(
      () => reject(new Error(`no answer within ${POLL_TIMEOUT_MS} ms`)),
      POLL_TIMEOUT_MS,
    );
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

function endpointName(url: string): string {
  const u = new URL(url);
  return `${u.hostname}:${u.port || "5432"}`;
}

/**
 * The replicas and their health. Emits "change" (with the replica) whenever one enters or
 * leaves the rotation, "poll" after every poll, and "probe" for every answered probe of the
 * primary's position.
 */
export class ReadReplicas extends EventEmitter {
  readonly replicas: readonly Replica[];
  readonly #options: ReadReplicasOptions;
  readonly #samples: Sample[] = [];
  readonly #log: Logger;
  #timer: NodeJS.Timeout | null = null;
  #polling: Promise<void> | null = null;
  #next = 0;
  #closed = false;
  #ticks = 0;

  constructor(options: ReadReplicasOptions) {
    super();
    this.#options = options;
    this.#log = options.log.child({ component: "read-replicas" });
    this.replicas = options.urls.map((raw) => {
      const url = replicaUrl(raw, options.authUrl);
      const name = endpointName(url);
      const pool = new pg.Pool({
        connectionString: url,
        max: options.poolSize,
        connectionTimeoutMillis: POLL_TIMEOUT_MS,
        application_name: "mking-friend-api-read",
      });
      pool.on("error", (error) =>
        this.#log.warn("idle replica connection failed", { name, error }),
      );
      pool.on("connect", (client) => {
        client.on("error", (error) => this.#log.warn("replica connection failed", { name, error }));
      });
      return {
        name,
        pool,
        withPgClient: makePgAdaptorWithPgClient(pool),
        reachable: false,
        standby: false,
        replayLsn: null,
        lagMs: null,
        inRotation: false,
        pending: null,
      };
    });
  }

  /** Polls once (so the rotation is known before the first request), then on a timer. */
  async start(): Promise<void> {
    await this.poll();
    const tick = (): void => {
      if (this.#closed) return;
      this.#timer = setTimeout(() => {
        void this.poll().finally(tick);
      }, this.#options.pollIntervalMs);
      this.#timer.unref();
    };
    tick();
  }

  /** One poll of every server (concurrent polls share one). */
  poll(): Promise<void> {
    this.#polling ??= this.#pollOnce().finally(() => (this.#polling = null));
    return this.#polling;
  }

  /**
   * The next replica in rotation (round-robin) that has replayed `minLsn` (null: any), or null
   * when none may serve: the caller then reads from the primary.
   */
  pick(minLsn: bigint | null): Replica | null {
    const n = this.replicas.length;
    for (let i = 0; i < n; i++) {
      const replica = this.replicas[(this.#next + i) % n]!;
      if (!replica.inRotation) continue;
      if (minLsn !== null && (replica.replayLsn === null || replica.replayLsn < minLsn)) continue;
      this.#next = (this.#next + i + 1) % n;
      return replica;
    }
    return null;
  }

  /**
   * A strictly increasing count that orders this process's events: a probe of the primary's
   * position sent at tick t is at or past every commit this process had heard of before t.
   */
  tick(): number {
    return ++this.#ticks;
  }

  /**
   * Records a primary position read by a statement sent at `probe.tick` (polls, barriers) and
   * emits "probe" with it.
   */
  noteProbe(probe: Probe): void {
    this.emit("probe", probe);
  }

  /** Takes a replica out until its next good poll (a read on it just failed to connect). */
  markUnreachable(replica: Replica, error: unknown): void {
    if (!replica.reachable && !replica.inRotation) return;
    replica.reachable = false;
    this.#setRotation(replica, false, { reason: "unreachable", error });
  }

  async close(): Promise<void> {
    this.#closed = true;
    if (this.#timer) clearTimeout(this.#timer);
    await this.#polling?.catch(() => undefined);
    await Promise.all(this.replicas.map((r) => r.pool.end().catch(() => undefined)));
  }

  async #pollOnce(): Promise<void> {
    const now = Date.now();
    await this.#samplePrimary(now);
    await Promise.all(this.replicas.map((replica) => this.#pollReplica(replica, now)));
    this.emit("poll");
  }

  async #samplePrimary(now: number): Promise<void> {
    try {
      const tick = this.tick();
      // lag is measured against what the primary has written; a probe (what a session may have
      // committed) is the insert position, which is past every commit record even when
      // synchronous_commit = off returns before the WAL is written
      const { rows } = await withTimeout(
        this.#options.primaryPool.query<{ lsn: string; inserted: string }>(
          "select pg_current_wal_lsn()::text as lsn, pg_current_wal_insert_lsn()::text as inserted",
        ),
      );
      const lsn = parseLsn(rows[0]!.lsn);
      this.noteProbe({ tick, lsn: parseLsn(rows[0]!.inserted) });
      const last = this.#samples.at(-1);
      // only advances are kept: the age of the oldest unreplayed one is what lag means
      if (!last || lsn > last.lsn) this.#samples.push({ at: now, lsn });
      // enough history to tell any lag up to the limit (and a little beyond)
      const keepFrom = now - 2 * this.#options.maxLagMs - 10 * this.#options.pollIntervalMs;
      while (this.#samples.length > 1 && this.#samples[1]!.at < keepFrom) this.#samples.shift();
    } catch (error) {
      // lag cannot be told without the primary's position: keep the last verdicts
      this.#log.warn("could not read the primary's WAL position", { error });
    }
  }

  /** Milliseconds since the primary first wrote past `replay`; 0 when it has replayed all. */
  #lagOf(replay: bigint, now: number): number | null {
    const samples = this.#samples;
    if (samples.length === 0) return null;
    if (replay >= samples.at(-1)!.lsn) return 0;
    const firstAhead = samples.find((s) => s.lsn > replay)!;
    return now - firstAhead.at;
  }

  async #pollReplica(replica: Replica, now: number): Promise<void> {
    try {
      // a replica that hangs (a lost network) is out; its stuck statement is not asked again
      replica.pending ??= replica.pool
        .query<StatusRow>(
          "select pg_is_in_recovery() as standby, pg_last_wal_replay_lsn()::text as replay",
        )
        .finally(() => (replica.pending = null));
      const { rows } = await withTimeout(replica.pending);
      const row = rows[0]!;
      replica.reachable = true;
      replica.standby = row.standby;
      replica.replayLsn = row.replay === null ? null : parseLsn(row.replay);
      replica.lagMs = replica.replayLsn === null ? null : this.#lagOf(replica.replayLsn, now);
    } catch (error) {
      if (replica.reachable || replica.inRotation) {
        this.#log.warn("read replica unreachable", { name: replica.name, error });
      }
      replica.reachable = false;
      replica.lagMs = null;
    }
    const healthy =
      replica.reachable &&
      replica.standby &&
      replica.lagMs !== null &&
      replica.lagMs <= this.#options.maxLagMs;
    this.#setRotation(replica, healthy, {
      reason: !replica.reachable
        ? "unreachable"
        : !replica.standby
          ? "not a standby (promoted?)"
          : replica.lagMs === null
            ? "lag unknown"
            : `lag ${replica.lagMs} ms`,
    });
  }

  #setRotation(replica: Replica, inRotation: boolean, why: Record<string, unknown>): void {
    if (replica.inRotation === inRotation) return;
    replica.inRotation = inRotation;
    if (this.#closed) return;
    if (inRotation) this.#log.info("read replica in rotation", { name: replica.name });
    else this.#log.warn("read replica out of rotation", { name: replica.name, ...why });
    this.emit("change", replica);
  }
}
