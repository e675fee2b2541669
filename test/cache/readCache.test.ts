/**
 * The read cache's rules without a database (src/cache/): LRU and TTL bounds, one load for
 * concurrent misses, a load overtaken by an invalidation is not stored, and nothing is served
 * or stored while the invalidation feed is down.
 */
import { ReadCache } from "../../src/cache/cache.ts";
import { LruCache } from "../../src/cache/lru.ts";
import { memoryStore } from "../../src/cache/store.ts";

function deferred<T>(): { promise: Promise<T>; resolve: (value: T) => void } {
  let resolve!: (value: T) => void;
  const promise = new Promise<T>((r) => (resolve = r));
  return { promise, resolve };
}

async function liveCache(): Promise<ReadCache> {
  const cache = new ReadCache(memoryStore({ maxEntries: 100, ttlMs: 60_000 }));
  await cache.resume();
  return cache;
}

describe("LruCache", () => {
  it("drops the least recently read entry when full", () => {
    const lru = new LruCache<number>({ maxEntries: 2, ttlMs: 1000 });
    lru.set("a", 1);
    lru.set("b", 2);
    expect(lru.get("a")).toBe(1); // b is now the oldest
    lru.set("c", 3);
    expect(lru.get("b")).toBeUndefined();
    expect(lru.get("a")).toBe(1);
    expect(lru.get("c")).toBe(3);
    expect(lru.size).toBe(2);
  });

  it("forgets an entry once its TTL has passed", () => {
    let now = 1000;
    const lru = new LruCache<string>({ maxEntries: 10, ttlMs: 500, now: () => now });
    lru.set("k", "v");
    now += 499;
    expect(lru.get("k")).toBe("v");
    now += 1;
    expect(lru.get("k")).toBeUndefined();
    expect(lru.size).toBe(0);
  });
});

describe("ReadCache", () => {
  it("loads once, then serves from the store; concurrent misses share one load", async () => {
    const cache = await liveCache();
    let loads = 0;
    const gate = deferred<void>();
    const load = async (): Promise<number> => {
      loads += 1;
      await gate.promise;
      return 42;
    };
    const both = Promise.all([cache.get("trending:all", load), cache.get("trending:all", load)]);
    gate.resolve();
    expect(await both).toEqual([42, 42]);
    expect(await cache.get("trending:all", load)).toBe(42);
    expect(loads).toBe(1);
    expect(cache.stats).toMatchObject({ hits: 2, misses: 1 });
  });

  it("does not store a load that an invalidation overtook (it may have read the old row)", async () => {
    const cache = await liveCache();
    const gate = deferred<void>();
    const started = deferred<void>();
    const running = cache.get("trending:all", async () => {
      started.resolve(); // it has read the row…
      await gate.promise;
      return "old";
    });
    await started.promise;
    await cache.invalidate("trending:all"); // …which changed before the load finished
    gate.resolve();
    expect(await running).toBe("old"); // its own caller started before the change
    expect(await cache.get("trending:all", () => Promise.resolve("new"))).toBe("new");
    expect(await cache.get("trending:all", () => Promise.resolve("newer"))).toBe("new");
  });

  it("invalidation drops the value", async () => {
    const cache = await liveCache();
    await cache.get("trending:all", () => Promise.resolve(1));
    await cache.invalidate("trending:all");
    expect(await cache.get("trending:all", () => Promise.resolve(2))).toBe(2);
  });

  it("while suspended (feed down) neither serves nor stores; resuming starts empty", async () => {
    const cache = await liveCache();
    await cache.get("trending:all", () => Promise.resolve("before"));
    await cache.suspend();
    expect(cache.available).toBe(false);
    expect(await cache.get("trending:all", () => Promise.resolve("during"))).toBe("during");
    expect(await cache.get("trending:all", () => Promise.resolve("during 2"))).toBe("during 2");
    await cache.resume();
    expect(await cache.get("trending:all", () => Promise.resolve("after"))).toBe("after");
  });
});
