/**
 * The database side of the session registry (src/auth/sessions.ts), per API instance:
 *
 * - the source: `app_hidden.live_sessions(uuid[])`, asked on a small pool of authenticator
 *   connections that act as `authenticated` (the only role it is granted to);
 * - the feed: one connection LISTENing on `mking_session_ended`, which the triggers on
 *   `app_private.refresh_tokens` notify at commit with the id of every session that ends
 *   (migrations). If that connection is lost, the registry stops trusting its cache until the
 *   feed is back and it has re-checked what it believed (ends may have been missed meanwhile);
 *   reconnects back off from 100 ms to 5 s.
 * - the same connection LISTENs on `mking_session_write` for the read replicas' read-your-writes
 *   across instances (src/db/replicaRouting.ts): `writes` passes those notifications on and runs
 *   its barrier statement on this connection.
 */
import { EventEmitter } from "node:events";

import pg from "pg";

import type { Logger } from "../log.ts";
import { SessionRegistry, type SessionSource } from "./sessions.ts";

export const SESSION_ENDED_CHANNEL = "mking_session_ended";
/** A session's write, published by the API instance that ran it (src/db/replicaRouting.ts). */
export const SESSION_WRITE_CHANNEL = "mking_session_write";
const APPLICATION_NAME = "mking-friend-sessions";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface SessionFeedOptions {
  /** The authenticator's URL. */
  authUrl: string;
  /** The access tokens' lifetime: how long an ended session must be remembered. */
  accessTokenTtlSeconds: number;
  log: Logger;
  /** How often expired entries are forgotten. */
  sweepMs?: number;
}

/** The feed's LISTEN connection as src/db/replicaRouting.ts uses it. */
export interface SessionWriteFeed {
  /**
   * "write" (the payload of a `mking_session_write` notification), "lost" (the connection is
   * gone: notifications may be missed until "listening"), "listening" (listening again).
   */
  readonly events: EventEmitter;
  /** Whether the connection listens now. */
  readonly listening: boolean;
  /**
   * Runs one statement on the LISTEN connection (rejects while there is none). When it resolves,
   * every notification committed before it was sent has been handled: the server delivers
   * pending notifications before the statement's ReadyForQuery, and pg emits them in order.
   */
  query<R extends pg.QueryResultRow>(text: string): Promise<R[]>;
}

export interface SessionFeed {
  readonly registry: SessionRegistry;
  readonly writes: SessionWriteFeed;
  close(): Promise<void>;
}

/** Asks the database which sessions are live (one query for any number of them). */
export function databaseSessionSource(pool: pg.Pool): SessionSource {
  return {
    async liveSessions(sessionIds) {
      const { rows } = await pool.query<{ session_id: string; user_id: string }>(
        `select session_id, user_id from app_hidden.live_sessions($1::uuid[])`,
        [sessionIds],
      );
      return new Map(rows.map((r) => [r.session_id, r.user_id]));
    },
  };
}

/** Starts the registry and its feed; resolves once the feed listens (start-up fails if it cannot). */
export async function startSessionFeed(options: SessionFeedOptions): Promise<SessionFeed> {
  const log = options.log.child({ component: "sessions" });
  const pool = new pg.Pool({
    connectionString: options.authUrl,
    max: 2,
    idleTimeoutMillis: 30_000,
    application_name: APPLICATION_NAME,
    options: "-c role=authenticated",
  });
  pool.on("error", (error) => log.warn("idle session-check connection failed", { error }));
  const registry = new SessionRegistry({
    source: databaseSessionSource(pool),
    // a minute of slack for clocks
    endedRetentionMs: (options.accessTokenTtlSeconds + 60) * 1000,
  });

  let closed = false;
  let client: pg.Client | null = null;
  let retry: NodeJS.Timeout | null = null;
  let backoffMs = 100;
  const writeEvents = new EventEmitter();

  const listen = async (): Promise<void> => {
    const c = new pg.Client({
      connectionString: options.authUrl,
      application_name: APPLICATION_NAME,
    });
    let lost = false;
    const onLost = (error?: unknown): void => {
      if (lost) return;
      lost = true;
      if (client === c) client = null;
      c.end().catch(() => undefined);
      if (closed) return;
      registry.disconnected();
      writeEvents.emit("lost");
      log.warn("session feed lost; reconnecting", error ? { error } : {});
      schedule();
    };
    c.on("error", onLost);
    c.on("end", () => onLost());
    c.on("notification", (message) => {
      if (
        message.channel === SESSION_ENDED_CHANNEL &&
        message.payload &&
        UUID.test(message.payload)
      )
        registry.ended(message.payload.toLowerCase());
      else if (message.channel === SESSION_WRITE_CHANNEL && message.payload)
        writeEvents.emit("write", message.payload);
    });
    try {
      await c.connect();
      await c.query(`listen ${SESSION_ENDED_CHANNEL}`);
      await c.query(`listen ${SESSION_WRITE_CHANNEL}`);
      await registry.resynchronise();
    } catch (error) {
      onLost(error);
      throw error;
    }
    if (lost) return;
    if (closed) {
      await c.end().catch(() => undefined);
      return;
    }
    client = c;
    backoffMs = 100;
    writeEvents.emit("listening");
  };

  const schedule = (): void => {
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = null;
      listen()
        .then(() => log.info("session feed listening again"))
        .catch(() => undefined); // onLost scheduled the next attempt
    }, backoffMs);
    retry.unref();
    backoffMs = Math.min(backoffMs * 2, 5000);
  };

  const sweeper = setInterval(() => registry.sweep(), options.sweepMs ?? 60_000);
  sweeper.unref();

  try {
    await listen();
  } catch (error) {
    closed = true;
    clearInterval(sweeper);
    if (retry) clearTimeout(retry);
    await pool.end();
    throw error;
  }

  const writes: SessionWriteFeed = {
    events: writeEvents,
    get listening() {
      return client !== null;
    },
    async query<R extends pg.QueryResultRow>(text: string) {
      if (client === null) throw new Error("the session feed is not listening");
      return (await client.query<R>(text)).rows;
    },
  };

  return {
    registry,
    writes,
    async close() {
      closed = true;
      clearInterval(sweeper);
      if (retry) clearTimeout(retry);
      const c = client;
      client = null;
      await Promise.all([c?.end().catch(() => undefined), pool.end()]);
    },
  };
}
