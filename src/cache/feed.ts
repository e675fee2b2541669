/**
 * The cache's invalidations: one connection per API instance LISTENing on `mking_cache`, which
 * triggers notify at commit with `<kind>:<id>` of what changed (migrations/committed/000014.sql,
 * section "cache invalidation"). Each instance drops the key from its cache (and from Redis: every
 * instance does, so one that stored a value just before hearing of the change deletes it again).
 *
 * A session feature, so a direct connection, never through the pooler. When it is lost the cache
 * is suspended and cleared (invalidations may be missed meanwhile) until it listens again;
 * reconnects back off from 100 ms to 5 s.
 */
import pg from "pg";

import type { Logger } from "../log.ts";
import type { ReadCache } from "./cache.ts";

export const CACHE_CHANNEL = "mking_cache";
const APPLICATION_NAME = "mking-friend-cache";
const KEY = /^[a-z_]+:[A-Za-z0-9_-]{1,100}$/;

export interface CacheFeed {
  close(): Promise<void>;
}

export async function startCacheFeed(options: {
  /** A direct connection (not the pooler): the authenticator's. */
  url: string;
  cache: ReadCache;
  log: Logger;
}): Promise<CacheFeed> {
  const log = options.log.child({ component: "cache" });
  const { cache } = options;
  let closed = false;
  let client: pg.Client | null = null;
  let retry: NodeJS.Timeout | null = null;
  let backoffMs = 100;

  const listen = async (): Promise<void> => {
    const c = new pg.Client({ connectionString: options.url, application_name: APPLICATION_NAME });
    let lost = false;
    const onLost = (error?: unknown): void => {
      if (lost) return;
      lost = true;
      if (client === c) client = null;
      c.end().catch(() => undefined);
      void cache.suspend();
      if (closed) return;
      log.warn("cache invalidation feed lost; cache off until it is back", error ? { error } : {});
      schedule();
    };
    c.on("error", onLost);
    c.on("end", () => onLost());
    c.on("notification", (message) => {
      if (message.channel === CACHE_CHANNEL && message.payload && KEY.test(message.payload)) {
        void cache.invalidate(message.payload);
      }
    });
    try {
      await c.connect();
      await c.query(`listen ${CACHE_CHANNEL}`);
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
    await cache.resume();
  };

  const schedule = (): void => {
    if (closed || retry) return;
    retry = setTimeout(() => {
      retry = null;
      listen()
        .then(() => log.info("cache invalidation feed listening again"))
        .catch(() => undefined); // onLost scheduled the next attempt
    }, backoffMs);
    retry.unref();
    backoffMs = Math.min(backoffMs * 2, 5000);
  };

  try {
    await listen();
  } catch (error) {
    closed = true;
    if (retry) clearTimeout(retry);
    throw error;
  }

  return {
    async close() {
      closed = true;
      if (retry) clearTimeout(retry);
      const c = client;
      client = null;
      await c?.end().catch(() => undefined);
      await cache.suspend();
    },
  };
}
