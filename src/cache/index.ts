/**
 * The read cache of one API instance (docs/SCALING.md "Cache"): the store (memory, or Redis
 * with REDIS_URL), the invalidation feed, the loaders of what is cached, and its counters.
 * On by default (CACHE_ENABLED; `npm run bench:cache` measured it, docs/SCALING.md "Cache");
 * off, nothing is cached and the plugin is not installed.
 */
import pg from "pg";

import type { CachedReads } from "../../plugins/cache.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { ProcessMetrics } from "../metrics/registry.ts";
import { ReadCache, type CacheObserver } from "./cache.ts";
import { startCacheFeed, type CacheFeed } from "./feed.ts";
import { redisStore } from "./redisStore.ts";
import { memoryStore, type CacheStore } from "./store.ts";

export interface ReadCacheService {
  readonly cache: ReadCache;
  readonly feed: CacheFeed;
  readonly reads: CachedReads;
  close(): Promise<void>;
}

/** mking_cache_requests_total{kind,result}: result hit|miss. */
function cacheCounters(metrics: ProcessMetrics): CacheObserver {
  const counter = metrics.counter({
    name: "mking_cache_requests_total",
    help: "Reads of the read cache, by kind of key and hit or miss.",
    labelNames: ["kind", "result"],
  });
  return {
    hit: (kind) => counter.series([kind, "hit"]).inc(),
    miss: (kind) => counter.series([kind, "miss"]).inc(),
  };
}

/** The loaders: each reads what it caches, as `anonymous` (nothing viewer-dependent). */
function cachedReads(cache: ReadCache, pool: pg.Pool): CachedReads {
  return {
    trendingPostIds: () =>
      cache.get("trending:all", async () => {
        const c = await pool.connect();
        try {
          await c.query("begin read only");
          await c.query("set local role anonymous");
          const { rows } = await c.query<{ ids: string[] }>(
            `select coalesce(array_agg(post_id::text order by score desc, post_id), '{}') as ids
               from app_hidden.trending_scores()`,
          );
          await c.query("commit");
          return rows[0]?.ids ?? [];
        } catch (error) {
          await c.query("rollback").catch(() => undefined);
          throw error;
        } finally {
          c.release();
        }
      }),
  };
}

export async function startReadCache(options: {
  config: Config;
  /** The authenticator's direct URL (the feed LISTENs: never the pooler). */
  authUrl: string;
  log: Logger;
  metrics?: ProcessMetrics | null;
}): Promise<ReadCacheService | null> {
  const { cache: settings } = options.config;
  if (!settings.enabled) return null;
  const log = options.log.child({ component: "cache" });
  const store: CacheStore = settings.redisUrl
    ? await redisStore({ url: settings.redisUrl, ttlMs: settings.ttlSeconds * 1000, log })
    : memoryStore({ maxEntries: settings.maxEntries, ttlMs: settings.ttlSeconds * 1000 });
  const cache = new ReadCache(store, options.metrics ? cacheCounters(options.metrics) : null);
  const pool = new pg.Pool({
    connectionString: options.authUrl,
    max: 2,
    idleTimeoutMillis: 30_000,
    application_name: "mking-friend-cache-load",
  });
  pool.on("error", (error) => log.warn("idle cache connection failed", { error }));
  let feed: CacheFeed;
  try {
    feed = await startCacheFeed({ url: options.authUrl, cache, log });
  } catch (error) {
    await Promise.all([pool.end(), cache.close()]);
    throw error;
  }
  log.info("read cache on", { store: store.kind });
  return {
    cache,
    feed,
    reads: cachedReads(cache, pool),
    async close() {
      await feed.close();
      await Promise.all([pool.end(), cache.close()]);
    },
  };
}
