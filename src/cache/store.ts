/**
 * Where cached values live: this process's memory (the default), or Redis shared by every API
 * instance (REDIS_URL: src/cache/redisStore.ts). Values are JSON-serialisable.
 */
import { LruCache } from "./lru.ts";

export interface CacheStore {
  readonly kind: "memory" | "redis";
  get(key: string): Promise<unknown>;
  set(key: string, value: unknown): Promise<void>;
  delete(key: string): Promise<void>;
  /** Forgets every value (after invalidations may have been missed). */
  clear(): Promise<void>;
  close(): Promise<void>;
}

export function memoryStore(options: { maxEntries: number; ttlMs: number }): CacheStore {
  const lru = new LruCache<unknown>(options);
  return {
    kind: "memory",
    get: (key) => Promise.resolve(lru.get(key)),
    set: (key, value) => Promise.resolve(lru.set(key, value)),
    delete: (key) => Promise.resolve(lru.delete(key)),
    clear: () => Promise.resolve(lru.clear()),
    close: () => Promise.resolve(lru.clear()),
  };
}
