/**
 * The read cache through the API (src/cache/, plugins/cache.ts): trendingPosts served from the
 * cached ranking gives each viewer exactly the uncached answer (the ranking is shared, who may
 * see which post is still row-level security's), two instances drop their copy within one
 * NOTIFY round trip of a refresh, and a lost LISTEN connection empties the cache until it is back.
 */
import { openSessions } from "../helpers/accounts.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { buildWorld, type Actor, type Person, type World } from "../helpers/world.ts";
import { tokenServiceFor } from "../../src/server.ts";
import type { ReadCache } from "../../src/cache/cache.ts";

let db: TestDatabase;
let a: TestServer;
let b: TestServer;
let uncached: TestServer;
let world: World;
let tokenOf: (who: Person) => string;

const TRENDING = `query ($after: Cursor, $first: Int) {
  trendingPosts(first: $first, after: $after) {
    nodes { id }
    pageInfo { hasNextPage endCursor }
  }
}`;
interface Page {
  trendingPosts: { nodes: { id: string }[]; pageInfo: { hasNextPage: boolean; endCursor: string } };
}

const refresh = (): Promise<unknown> =>
  withClient(db.ownerUrl, (c) => c.query(`select app_private.refresh_views()`));

/** Resolves when `cache` has dropped `key` (null: been reset). */
const invalidated = (cache: ReadCache, key: string | null): Promise<void> =>
  new Promise((resolve) => {
    const stop = cache.onInvalidate((k) => {
      if (k === key) {
        stop();
        resolve();
      }
    });
  });

async function trending(server: TestServer, who: Actor, first = 100): Promise<string[]> {
  const token = who === "anonymous" ? {} : { token: tokenOf(who) };
  const { body } = await server.graphql(TRENDING, { first }, token);
  expect(body.errors).toBeUndefined();
  return (body.data as unknown as Page).trendingPosts.nodes.map((n) => n.id);
}

const cacheOf = (server: TestServer): ReadCache => server.readCache!.cache;

beforeAll(async () => {
  db = await createTestDatabase();
  world = await buildWorld(db.ownerUrl);
  await refresh();
  a = await startTestServer(db, { CACHE_ENABLED: "true" });
  b = await startTestServer(db, { CACHE_ENABLED: "true" });
  uncached = await startTestServer(db, { CACHE_ENABLED: "false" });
  const tokens = tokenServiceFor(a.config);
  const people = Object.keys(world.user) as Person[];
  const sessions = await openSessions(
    db.ownerUrl,
    people.map((p) => world.user[p]),
  );
  const sessionOf = new Map(people.map((p, i) => [p, sessions[i]!]));
  tokenOf = (who) => tokens.sign(world.user[who], sessionOf.get(who)!).token;
});
afterAll(async () => {
  await Promise.all([a?.close(), b?.close(), uncached?.close()]);
  await db?.drop();
});

describe("trendingPosts from the read cache", () => {
  it("is on with CACHE_ENABLED=true, off with false", () => {
    expect(uncached.readCache).toBeNull();
    expect(cacheOf(a).available).toBe(true);
  });

  it("gives every viewer the uncached answer, row for row, from one shared ranking", async () => {
    // fill the cache as olga, who sees her friends-only and private posts
    const olgas = await trending(a, "olga");
    expect(olgas).toEqual(expect.arrayContaining([world.row["post.private"]!]));
    const before = { ...cacheOf(a).stats };
    for (const who of ["anonymous", "olga", "fred", "stan", "bob", "ada", "mia"] as const) {
      expect(await trending(a, who)).toEqual(await trending(uncached, who));
    }
    // every one of them was served the cached ranking (no load)
    expect(cacheOf(a).stats.hits - before.hits).toBe(7);
    expect(cacheOf(a).stats.misses - before.misses).toBe(0);
    // the ranking holds olga's friends-only and private posts; strangers never get them
    for (const who of ["stan", "bob", "anonymous"] as const) {
      const seen = await trending(a, who);
      expect(seen).not.toContain(world.row["post.friends"]);
      expect(seen).not.toContain(world.row["post.private"]);
    }
    expect(await trending(a, "bob")).not.toContain(world.row["post.public"]); // olga blocked bob
    expect(await trending(a, "fred")).toContain(world.row["post.friends"]);
  });

  it("pages in the same order as the uncached field", async () => {
    const all = await trending(uncached, "fred");
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const { body } = await a.graphql(TRENDING, { first: 2, after }, { token: tokenOf("fred") });
      expect(body.errors).toBeUndefined();
      const page = (body.data as unknown as Page).trendingPosts;
      seen.push(...page.nodes.map((n) => n.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(seen).toEqual(all);
  });

  it("a refresh reaches both instances' caches within one NOTIFY round trip", async () => {
    await trending(a, "stan");
    await trending(b, "stan");
    const fresh = await withClient(db.ownerUrl, async (c) => {
      const { rows } = await c.query<{ id: string }>(
        `insert into app_public.posts (author_id, content, privacy_level)
         values ($1, 'suddenly popular', 'public') returning id`,
        [world.user.stan],
      );
      return rows[0]!.id;
    });
    expect(await trending(a, "stan")).not.toContain(fresh); // the ranking is the view's
    const dropped = Promise.all([
      invalidated(cacheOf(a), "trending:all"),
      invalidated(cacheOf(b), "trending:all"),
    ]);
    await refresh();
    await dropped;
    expect(await trending(a, "stan")).toContain(fresh);
    expect(await trending(b, "ada")).toContain(fresh);
    expect(await trending(a, "stan")).toEqual(await trending(uncached, "stan"));
  });

  it("a lost LISTEN connection empties the cache and turns it off until it listens again", async () => {
    const cache = cacheOf(a);
    await trending(a, "fred");
    expect(await cache.store.get("trending:all")).toBeDefined();
    // each reset, and whether the cache was on right after it
    const resets: boolean[] = [];
    const back = new Promise<void>((resolve) => {
      const stop = cache.onInvalidate((k) => {
        if (k !== null) return;
        resets.push(cache.available);
        if (cache.available) {
          stop();
          resolve();
        }
      });
    });
    // the server ends the LISTEN connections, as a restart or a network failure would
    await withClient(db.superuserUrl, (c) =>
      c.query(
        `select pg_terminate_backend(pid) from pg_stat_activity
          where application_name = 'mking-friend-cache' and datname = current_database()`,
      ),
    );
    await back;
    // first emptied and off (reads went to the database), then emptied again and on
    expect(resets).toEqual([false, true]);
    expect(await cache.store.get("trending:all")).toBeUndefined();
    expect(await trending(a, "fred")).toEqual(await trending(uncached, "fred"));
    const hits = cache.stats.hits;
    await trending(a, "fred");
    expect(cache.stats.hits).toBe(hits + 1);
  });

  it("reads on past the ranking's slice when row-level security hides most of it", async () => {
    // a dozen of stan's private posts (only stan sees them) become the most popular
    await withClient(db.ownerUrl, async (c) => {
      for (let i = 0; i < 12; i++) {
        const { rows } = await c.query<{ id: string }>(
          `insert into app_public.posts (author_id, content, privacy_level)
           values ($1, $2, 'private') returning id`,
          [world.user.stan, `stan's secret ${i}`],
        );
        for (const fan of ["olga", "fred", "ada", "mia", "bob"] as const) {
          await c.query(
            `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
            [world.user[fan], rows[0]!.id],
          );
        }
      }
    });
    const dropped = invalidated(cacheOf(a), "trending:all");
    await refresh();
    await dropped;
    const ranking = await trending(uncached, "stan");
    expect(ranking.length).toBeGreaterThan(12);
    // a page of 2 gets a slice of 9 ids (3 × (2 + 1)): all of them hidden from fred
    const page = async (server: TestServer, who: Person, first: number, after: string | null) => {
      const { body } = await server.graphql(
        `query ($first: Int, $after: Cursor, $offset: Int) {
          trendingPosts(first: $first, after: $after, offset: $offset) {
            nodes { id }
            pageInfo { hasNextPage endCursor }
          }
        }`,
        { first, after, offset: after === null ? 1 : null },
        { token: tokenOf(who) },
      );
      expect(body.errors).toBeUndefined();
      return (body.data as unknown as Page).trendingPosts;
    };
    for (const who of ["fred", "stan", "bob"] as const) {
      const all = await trending(uncached, who);
      // first page (with an offset of 1), then cursor pages of 2, as the uncached field gives
      const seen: string[] = [];
      let after: string | null = null;
      let pages = 0;
      for (;;) {
        const cached = await page(a, who, 2, after);
        if (after === null) {
          const plain = await page(uncached, who, 2, null);
          expect(cached.nodes).toEqual(plain.nodes);
          expect(cached.pageInfo.hasNextPage).toBe(plain.pageInfo.hasNextPage);
        }
        seen.push(...cached.nodes.map((n) => n.id));
        pages += 1;
        if (!cached.pageInfo.hasNextPage) break;
        after = cached.pageInfo.endCursor;
      }
      expect(seen).toEqual(all.slice(1));
      expect(pages).toBe(Math.max(1, Math.ceil((all.length - 1) / 2)));
    }
    expect((await trending(a, "stan")).slice(0, 12)).toEqual(ranking.slice(0, 12));
    expect(await trending(a, "fred")).toEqual(await trending(uncached, "fred"));
  });
});
