/**
 * Presence (issue #15): who is online, without a row per heartbeat. A user is online while they
 * hold at least one live authenticated websocket on any API instance.
 *
 * - Each instance counts its own users' sockets (src/realtime/sockets.ts tells it) and announces
 *   transitions with NOTIFY on `presence`: {"u": user, "i": instance, "on": true|false}.
 * - Every `heartbeatMs` it sends, on `presence_heartbeat`, the users it holds (in parts: a
 *   NOTIFY payload is at most 8000 bytes), so the others rebuild their view after they start
 *   (a starting instance also says hello, and is answered at once) or after a missed notice.
 * - Every instance keeps user → instances (src/realtime/presenceState.ts); an instance not heard
 *   from for `timeoutMs` is dropped, and its users go offline unless held elsewhere.
 * - Going offline everywhere is stored once, as the user's last-seen time
 *   (app_hidden.record_last_seen), before anyone is told: by the instance that saw the last
 *   socket close (in the same transaction as its notice), or by each instance that drops a dead
 *   one. A clean shutdown announces its users offline and says goodbye.
 *
 * Listening: one connection of its own (reconnecting, 100 ms to 5 s); publishing: one pooled
 * connection acting as `authenticated`, so notices leave in the order they were made.
 */
import { randomUUID } from "node:crypto";

import pg from "pg";

import type { Logger } from "../log.ts";
import { PresenceState } from "./presenceState.ts";

export const PRESENCE_CHANNEL = "presence";
export const HEARTBEAT_CHANNEL = "presence_heartbeat";
/** Users per heartbeat part: 150 ids of 39 bytes stay well under NOTIFY's 8000 bytes. */
const USERS_PER_PART = 150;
const APPLICATION_NAME = "mking-friend-presence";
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export type PresenceListener = (userId: string, online: boolean) => void;

export interface PresenceOptions {
  /** The authenticator's URL. */
  authUrl: string;
  heartbeatMs: number;
  timeoutMs: number;
  log: Logger;
}

/** The sockets' side (src/realtime/sockets.ts). */
export interface PresenceHook {
  connected(userId: string): void;
  disconnected(userId: string): void;
}

export interface Presence extends PresenceHook {
  readonly instanceId: string;
  isOnline(userId: string): boolean;
  /** Everyone online now, on any instance (as this one knows it). */
  online(): Set<string>;
  /** Told of every transition, after a last-seen time it implies is stored; returns a stop. */
  onChange(listener: PresenceListener): () => void;
  close(): Promise<void>;
}

interface Notice {
  i?: unknown;
  u?: unknown;
  on?: unknown;
  hello?: unknown;
  bye?: unknown;
  b?: unknown;
  p?: unknown;
  n?: unknown;
}

const isUuid = (v: unknown): v is string => typeof v === "string" && UUID.test(v);

export async function startPresence(options: PresenceOptions): Promise<Presence> {
  const log = options.log.child({ component: "presence" });
  const instanceId = randomUUID();
  const listeners = new Set<PresenceListener>();
  const pool = new pg.Pool({
    connectionString: options.authUrl,
    max: 1,
    idleTimeoutMillis: 30_000,
    application_name: APPLICATION_NAME,
    options: "-c role=authenticated",
  });
  pool.on("error", (error) => log.warn("idle presence connection failed", { error }));

  // transitions reach listeners in order, each once what it waits for (a last-seen write) is done
  let told: Promise<void> = Promise.resolve();
  let waitFor: Promise<unknown> | null = null;
  const state = new PresenceState((userId, online) => {
    const before = waitFor ?? Promise.resolve();
    told = told
      .then(() => before)
      .catch(() => undefined)
      .then(() => {
        for (const l of listeners) l(userId, online);
      });
  });
  /** Runs `change`; transitions it makes wait for `stored` (started after, given them). */
  const transition = <T>(change: () => T, stored: (result: T) => Promise<unknown>): T => {
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    waitFor = gate;
    let result: T;
    try {
      result = change();
    } finally {
      waitFor = null;
    }
    void stored(result)
      .catch((error: unknown) => log.warn("presence: could not publish", { error }))
      .finally(release);
    return result;
  };

  const publish = (text: string, values: unknown[]): Promise<unknown> => pool.query(text, values);
  const notice = (channel: string, payload: object): Promise<unknown> =>
    publish(`select pg_notify($1, $2)`, [channel, JSON.stringify(payload)]);
  const recordOffline = (userIds: string[]): Promise<unknown> =>
    userIds.length === 0
      ? Promise.resolve()
      : publish(`select app_hidden.record_last_seen(u) from unnest($1::uuid[]) u`, [userIds]);

  let beat = 0;
  const sendHeartbeat = (): Promise<unknown> => {
    beat += 1;
    const users = state.localUsers();
    const parts: string[] = [];
    const n = Math.max(1, Math.ceil(users.length / USERS_PER_PART));
    for (let p = 0; p < n; p += 1) {
      const u = users.slice(p * USERS_PER_PART, (p + 1) * USERS_PER_PART);
      parts.push(JSON.stringify({ i: instanceId, b: beat, p, n, u }));
    }
    return publish(
      `select pg_notify($1, x) from unnest($2::text[]) with ordinality t(x, k) order by k`,
      [HEARTBEAT_CHANNEL, parts],
    ).catch((error: unknown) => log.warn("presence: heartbeat failed", { error }));
  };

  const received = (channel: string, payload: string | undefined): void => {
    let m: Notice;
    try {
      m = JSON.parse(payload ?? "") as Notice;
    } catch {
      return;
    }
    if (!isUuid(m.i) || m.i === instanceId) return;
    const now = Date.now();
    if (channel === PRESENCE_CHANNEL) {
      if (m.hello === true) void sendHeartbeat();
      else if (m.bye === true) state.left(m.i);
      else if (isUuid(m.u) && typeof m.on === "boolean") state.announced(m.i, m.u, m.on, now);
    } else if (channel === HEARTBEAT_CHANNEL) {
      const { b, p, n, u } = m;
      if (typeof b !== "number" || typeof p !== "number" || typeof n !== "number") return;
      if (!Array.isArray(u) || !u.every(isUuid)) return;
      state.heartbeat(m.i, b, p, n, u, now);
    }
  };

  // the LISTEN connection, reconnecting
  let closed = false;
  let client: pg.Client | null = null;
  let retry: NodeJS.Timeout | null = null;
  let backoffMs = 100;
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
      log.warn("presence: listen connection lost; reconnecting", error ? { error } : {});
      schedule();
    };
    c.on("error", onLost);
    c.on("end", () => onLost());
    c.on("notification", (message) => received(message.channel, message.payload));
    try {
      await c.connect();
      await c.query(`listen ${PRESENCE_CHANNEL}; listen ${HEARTBEAT_CHANNEL}`);
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
    // ask the others for their users now rather than at their next heartbeat
    await notice(PRESENCE_CHANNEL, { i: instanceId, hello: true });
  };
  const schedule = (): void => {
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = null;
      listen().catch(() => undefined); // onLost scheduled the next attempt
    }, backoffMs);
    retry.unref();
    backoffMs = Math.min(backoffMs * 2, 5000);
  };

  try {
    await listen();
  } catch (error) {
    closed = true;
    if (retry) clearTimeout(retry);
    await pool.end();
    throw error;
  }

  const heartbeats = setInterval(() => void sendHeartbeat(), options.heartbeatMs);
  heartbeats.unref();
  const sweeper = setInterval(
    () => {
      transition(
        () => state.expire(Date.now() - options.timeoutMs),
        (offline) => {
          if (offline.length > 0) log.info("presence: instance dropped", { users: offline.length });
          return recordOffline(offline);
        },
      );
    },
    Math.max(10, Math.min(options.heartbeatMs, Math.floor(options.timeoutMs / 3))),
  );
  sweeper.unref();
  await sendHeartbeat();

  return {
    instanceId,
    isOnline: (userId) => state.isOnline(userId),
    online: () => state.online(),
    onChange(listener) {
      listeners.add(listener);
      return () => listeners.delete(listener);
    },
    connected(userId) {
      transition(
        () => state.opened(userId),
        (first) =>
          first
            ? notice(PRESENCE_CHANNEL, { u: userId, i: instanceId, on: true })
            : Promise.resolve(),
      );
    },
    disconnected(userId) {
      transition(
        () => state.closed(userId),
        (last) => {
          if (!last) return Promise.resolve();
          const payload = { u: userId, i: instanceId, on: false };
          // the last-seen time is stored in the notice's transaction: whoever hears it can read it
          return state.isOnline(userId)
            ? notice(PRESENCE_CHANNEL, payload)
            : publish(`select app_hidden.record_last_seen($1), pg_notify($2, $3)`, [
                userId,
                PRESENCE_CHANNEL,
                JSON.stringify(payload),
              ]);
        },
      );
    },
    async close() {
      if (closed) return;
      closed = true;
      clearInterval(heartbeats);
      clearInterval(sweeper);
      if (retry) clearTimeout(retry);
      // users still here (sockets normally close first): offline, then goodbye
      const offline = state.localUsers().filter((u) => state.dropLocal(u));
      await recordOffline(offline).catch((error: unknown) =>
        log.warn("presence: could not record last seen", { error }),
      );
      await told;
      await notice(PRESENCE_CHANNEL, { i: instanceId, bye: true }).catch(() => undefined);
      const c = client;
      client = null;
      await Promise.all([c?.end().catch(() => undefined), pool.end()]);
    },
  };
}
