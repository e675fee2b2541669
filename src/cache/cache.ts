/**
 * The read cache for viewer-independent values (docs/SCALING.md "Cache"): a value is loaded
 * once, kept in the store (memory or Redis) at most the TTL, and dropped when the database says
 * it changed (NOTIFY mking_cache '<kind>:<id>', src/cache/feed.ts).
 *
 * Never stale past an invalidation:
 * - a load that was running when its key was invalidated (it may have read the old row) is
 *   returned to its callers but not stored;
 * - while the invalidation feed is down nothing is read from or written to the store, and the
 *   store is cleared when it comes back (invalidations may have been missed meanwhile).
 *
 * Concurrent misses of one key share one load.
 */
import type { CacheStore } from "./store.ts";

export interface CacheStats {
  hits: number;
  misses: number;
  invalidations: number;
  resets: number;
}

interface Flight {
  promise: Promise<unknown>;
  /** Invalidated while running: its value must not be stored. */
  dirty: boolean;
}

/** The kind of a key, `<kind>:<id>`: the label of its counters. */
export function keyKind(key: string): string {
  const i = key.indexOf(":");
  return i < 0 ? key : key.slice(0, i);
}

export interface CacheObserver {
  hit(kind: string): void;
  miss(kind: string): void;
}

export class ReadCache {
  readonly store: CacheStore;
  readonly stats: CacheStats = { hits: 0, misses: 0, invalidations: 0, resets: 0 };
  readonly #flights = new Map<string, Flight>();
  #available = false;
  readonly #observer: CacheObserver | null;
  /** Every invalidation, for tests that await one. */
  readonly #listeners = new Set<(key: string | null) => void>();

  constructor(store: CacheStore, observer: CacheObserver | null = null) {
    this.store = store;
    this.#observer = observer;
  }

  /** Whether the store is used (the invalidation feed is listening). */
  get available(): boolean {
    return this.#available;
  }

  /** The value of `key`: from the store, or loaded (and stored unless invalidated meanwhile). */
  async get<T>(key: string, load: () => Promise<T>): Promise<T> {
    if (!this.#available) {
      this.#count(key, false);
      return load();
    }
    const flight = this.#flights.get(key);
    if (flight) {
      this.#count(key, true);
      return flight.promise as Promise<T>;
    }
    let stored: unknown;
    try {
      stored = await this.store.get(key);
    } catch {
      stored = undefined; // a store that fails is a miss
    }
    if (stored !== undefined) {
      this.#count(key, true);
      return stored as T;
    }
    const running = this.#flights.get(key);
    if (running) {
      this.#count(key, true);
      return running.promise as Promise<T>;
    }
    this.#count(key, false);
    const own: Flight = { dirty: false, promise: Promise.resolve() };
    own.promise = (async () => {
      try {
        const value = await load();
        if (!own.dirty && this.#available) {
          await this.store.set(key, value).catch(() => undefined);
        }
        return value;
      } finally {
        if (this.#flights.get(key) === own) this.#flights.delete(key);
      }
    })();
    this.#flights.set(key, own);
    return own.promise as Promise<T>;
  }

  /** The database changed what `key` names: drop it (and any load of it running now). */
  async invalidate(key: string): Promise<void> {
    this.stats.invalidations += 1;
    const flight = this.#flights.get(key);
    if (flight) {
      flight.dirty = true;
      this.#flights.delete(key);
    }
    await this.store.delete(key).catch(() => undefined);
    this.#announce(key);
  }

  /** Invalidations may have been missed: stop using the store until `resume`, and forget it all. */
  async suspend(): Promise<void> {
    this.#available = false;
    await this.#forgetAll();
    this.#announce(null);
  }

  /** The feed listens (again): clear what may have been missed, then use the store. */
  async resume(): Promise<void> {
    await this.#forgetAll();
    this.#available = true;
    this.#announce(null);
  }

  /** Calls `listener` after each invalidation (key) and reset (null); returns the unsubscribe. */
  onInvalidate(listener: (key: string | null) => void): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  async close(): Promise<void> {
    this.#available = false;
    this.#listeners.clear();
    await this.store.close();
  }

  async #forgetAll(): Promise<void> {
    this.stats.resets += 1;
    for (const flight of this.#flights.values()) flight.dirty = true;
    this.#flights.clear();
    await this.store.clear().catch(() => undefined);
  }

  #count(key: string, hit: boolean): void {
    if (hit) {
      this.stats.hits += 1;
      this.#observer?.hit(keyKind(key));
    } else {
      this.stats.misses += 1;
      this.#observer?.miss(keyKind(key));
    }
  }

  #announce(key: string | null): void {
    for (const listener of this.#listeners) listener(key);
  }
}
