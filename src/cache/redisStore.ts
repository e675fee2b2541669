/**
 * The shared cache: values in Redis (REDIS_URL), seen by every API instance, each under
 * `mking:cache:<key>` with the TTL as its expiry. Client: node-redis 5 (`redis`), the Redis
 * project's own, with its TypeScript types. A Redis that does not answer makes reads misses
 * (the database answers instead), never errors for the client.
 */
import { createClient } from "redis";

import type { Logger } from "../log.ts";
import type { CacheStore } from "./store.ts";

export const REDIS_KEY_PREFIX = "mking:cache:";

export async function redisStore(options: {
  url: string;
  ttlMs: number;
  log: Logger;
}): Promise<CacheStore> {
  const log = options.log.child({ component: "cache" });
  const client = createClient({
    url: options.url,
    socket: { reconnectStrategy: (retries) => Math.min(100 * 2 ** retries, 5000) },
  });
  let warned = false;
  client.on("error", (error: unknown) => {
    if (!warned) log.warn("redis unavailable; the cache reads the database", { error });
    warned = true;
  });
  client.on("ready", () => void (warned = false));
  await client.connect();
  const key = (k: string): string => REDIS_KEY_PREFIX + k;
  return {
    kind: "redis",
    async get(k) {
      if (!client.isReady) return undefined;
      const raw = await client.get(key(k));
      return raw === null ? undefined : (JSON.parse(raw) as unknown);
    },
    async set(k, value) {
      if (!client.isReady) return;
      await client.set(key(k), JSON.stringify(value), {
        expiration: { type: "PX", value: options.ttlMs },
      });
    },
    async delete(k) {
      if (!client.isReady) return;
      await client.del(key(k));
    },
    async clear() {
      if (!client.isReady) return;
      for await (const keys of client.scanIterator({ MATCH: `${REDIS_KEY_PREFIX}*`, COUNT: 500 })) {
        if (keys.length > 0) await client.del(keys);
      }
    },
    async close() {
      if (client.isOpen) await client.close();
    },
  };
}
