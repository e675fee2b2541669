/**
 * Search stays fast because of its plans (issue #16), and row-level security still decides what
 * it shows:
 *
 * - searchPosts lists the matches the viewer may read, newest first, every one reachable with
 *   `after`, in one statement (the author included);
 * - a common word reads about a page's worth of the posts index newest first — not every match
 *   (the old search read all of them to rank the newest 1,000); a rare word reads one window of
 *   new posts, then the text index;
 * - app_hidden.search_post_ids applies the posts policies' rule while it walks (one walk, no post
 *   read again by key), and names exactly the posts row-level security lets each viewer read,
 *   groups, blocks and deleted posts included;
 *
 * The plans are pinned through PostgreSQL's own counters (the transaction's pending
 * pg_stat_user_indexes figures): how many index entries each index handed out for one search,
 * on 12,000 posts with "coffee" in 30% of them.
 */
import type pg from "pg";

import type { TestAccount } from "../helpers/accounts.ts";
import { ok, startApi, type Api } from "../helpers/api.ts";
import { withClient } from "../helpers/database.ts";

let api: Api;
let ana: TestAccount; // the viewer
let ben: TestAccount; // ana's friend
let cal: TestAccount; // a stranger
let dee: TestAccount; // blocked ana

const POSTS = 12_000;

beforeAll(async () => {
  api = await startApi({ GRAPHQL_EXPLAIN: "true" });
  [ana, ben, cal, dee] = (await Promise.all(
    ["ana_viewer", "ben_friend", "cal_stranger", "dee_blocker"].map((n) => api.register(n)),
  )) as [TestAccount, TestAccount, TestAccount, TestAccount];
  await api.sql(
    `insert into app_public.friendships (requester_id, addressee_id, status)
     values ($1, $2, 'accepted'), ($3, $1, 'blocked')`,
    [ana.id, ben.id, dee.id],
  );
  // authors and privacy levels cycle independently; "coffee" in 30% of the posts, "latte" in
  // 2%, "zyzzyva" in 4; one minute apart
  await api.sql(
    `insert into app_public.posts (author_id, content, privacy_level, created_at)
     select (array[$1, $2, $3, $4]::uuid[])[1 + i % 4],
            concat_ws(' ', 'post', i, case when i % 10 < 3 then 'coffee' end,
                      case when i % 50 = 1 then 'latte' end,
                      case when i % 3000 = 9 then 'zyzzyva' end,
                      'with some other words'),
            (array['public', 'friends', 'private'])[1 + i % 3],
            now() - i * interval '1 minute'
       from generate_series(1, $5) i`,
    [ana.id, ben.id, cal.id, dee.id, POSTS],
  );
  await api.sql(`analyze app_public.posts`);
});
afterAll(() => api.close());

interface Page {
  nodes: { id: string; createdAt: string; author: { username: string } }[];
  pageInfo: { endCursor: string | null; hasNextPage: boolean };
}

const SEARCH = /* GraphQL */ `
  query ($q: String!, $first: Int, $after: Cursor) {
    searchPosts(query: $q, first: $first, after: $after) {
      nodes {
        id
        createdAt
        author {
          username
        }
      }
      pageInfo {
        endCursor
        hasNextPage
      }
    }
  }
`;

async function searchPage(
  who: TestAccount | null,
  q: string,
  first: number,
  after: string | null,
): Promise<{ page: Page; sql: string[] }> {
  const { body } = await api.server.graphql(
    SEARCH,
    { q, first, after },
    { ...(who ? { token: who.accessToken } : {}), headers: { "x-graphql-explain": "sql" } },
  );
  const data = ok<{ searchPosts: Page }>(body);
  const explain = (
    body as { extensions?: { explain?: { operations?: { type: string; query?: string }[] } } }
  ).extensions?.explain;
  return {
    page: data.searchPosts,
    sql: (explain?.operations ?? []).filter((o) => o.type === "sql").map((o) => o.query ?? ""),
  };
}

/** Runs `fn` as the viewer would: their role, their claims (row-level security applies). */
async function asViewer<T>(who: TestAccount | null, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  return withClient(api.db.authUrl, async (c) => {
    await c.query("begin");
    try {
      await c.query(
        `select set_config('role', $1, true), set_config('jwt.claims.user_id', $2, true)`,
        [who ? "authenticated" : "anonymous", who?.id ?? ""],
      );
      return await fn(c);
    } finally {
      await c.query("rollback");
    }
  });
}

/**
 * Index entries each of these indexes handed out in the current transaction so far
 * (PostgreSQL's own counters, before they are flushed to pg_stat_user_indexes).
 */
async function indexReads(c: pg.Client, indexes: string[]): Promise<Record<string, number>> {
  const { rows } = await c.query<{ name: string; reads: string }>(
    `select i as name, pg_stat_get_xact_tuples_returned(('app_public.' || i)::regclass)::text as reads
       from unnest($1::text[]) i`,
    [indexes],
  );
  return Object.fromEntries(rows.map((r) => [r.name, Number(r.reads)]));
}

// the posts in time order (either of the design's two btree indexes), and the text index
const POST_INDEXES = ["idx_posts_created_at", "idx_posts_created_at_id", "idx_posts_search"];
const inTimeOrder = (reads: Record<string, number>): number =>
  (reads.idx_posts_created_at ?? 0) + (reads.idx_posts_created_at_id ?? 0);

/** One search as the viewer: the ids, and what it read of the posts indexes. */
function searchIds(
  who: TestAccount | null,
  q: string,
  n: number,
): Promise<{ ids: string[]; reads: Record<string, number> }> {
  return asViewer(who, async (c) => {
    const { rows } = await c.query<{ id: string }>(
      `select app_hidden.search_post_ids(websearch_to_tsquery('simple', $1), null, null, $2) as id`,
      [q, n],
    );
    return { ids: rows.map((r) => r.id), reads: await indexReads(c, POST_INDEXES) };
  });
}

describe("searchPosts", () => {
  it("pages through exactly the matches each viewer may read, newest first", async () => {
    for (const who of [ana, cal, null]) {
      const found: string[] = [];
      let after: string | null = null;
      for (;;) {
        const { page } = await searchPage(who, "latte", 50, after);
        found.push(...page.nodes.map((n) => n.id));
        if (!page.pageInfo.hasNextPage) break;
        after = page.pageInfo.endCursor;
      }
      const readable = await asViewer(who, async (c) => {
        const { rows } = await c.query<{ id: string }>(
          `select id from app_public.posts where content ~ '\\mlatte\\M'
            order by created_at desc, id desc`,
        );
        return rows.map((r) => r.id);
      });
      expect(readable.length).toBeGreaterThan(20);
      expect(found).toEqual(readable);
    }
  });

  it("never shows a blocker's posts, others' private posts or a stranger's friends-only posts", async () => {
    const { page } = await searchPage(ana, "coffee", 100, null);
    expect(page.nodes).toHaveLength(100);
    const shown = await api.sql<{ author_id: string; privacy_level: string }>(
      `select author_id, privacy_level from app_public.posts where id = any ($1)`,
      [page.nodes.map((n) => n.id)],
    );
    expect(shown.filter((p) => p.author_id === dee.id)).toEqual([]);
    expect(shown.filter((p) => p.author_id !== ana.id && p.privacy_level === "private")).toEqual(
      [],
    );
    expect(shown.filter((p) => p.author_id === cal.id && p.privacy_level === "friends")).toEqual(
      [],
    );
    // and ana's friend's friends-only posts are there
    expect(shown.some((p) => p.author_id === ben.id && p.privacy_level === "friends")).toBe(true);
  });

  it("answers in one statement, the author included, and the next page follows the first", async () => {
    const first = await searchPage(ana, "coffee", 20, null);
    expect(first.sql).toHaveLength(1);
    expect(first.sql[0]).toContain("app_hidden.search_post_ids(");
    expect(first.page.nodes[0]!.author.username).toMatch(/^(ana_viewer|ben_friend|cal_stranger)$/);
    const second = await searchPage(ana, "coffee", 20, first.page.pageInfo.endCursor);
    expect(second.sql).toHaveLength(1);
    const times = [...first.page.nodes, ...second.page.nodes].map((n) => Date.parse(n.createdAt));
    expect(times).toEqual([...times].sort((a, b) => b - a));
    expect(new Set([...first.page.nodes, ...second.page.nodes].map((n) => n.id)).size).toBe(40);
  });

  it("keeps offset (at most 1,000) for old clients", async () => {
    const all = (await searchPage(ana, "coffee", 30, null)).page.nodes.map((n) => n.id);
    const { body } = await api.server.graphql(
      `{ searchPosts(query: "coffee", first: 10, offset: 20) { nodes { id } } }`,
      {},
      { token: ana.accessToken },
    );
    const skipped = ok<{ searchPosts: { nodes: { id: string }[] } }>(body).searchPosts.nodes;
    expect(skipped.map((n) => n.id)).toEqual(all.slice(20, 30));
  });

  it("reads a common word newest first from the posts index, about a page's worth, not every match", async () => {
    const { ids, reads } = await searchIds(ana, "coffee", 21);
    expect(ids).toHaveLength(21);
    // 3,600 posts say coffee; a page of 21 the viewer may read is a few hundred entries away
    expect(inTimeOrder(reads)).toBeGreaterThan(0);
    expect(inTimeOrder(reads)).toBeLessThan(1000);
    expect(reads.idx_posts_search).toBe(0);
  });

  it("reads a rare word from the text index after one window of new posts, not by walking every post", async () => {
    const { ids, reads } = await searchIds(null, "zyzzyva", 21);
    expect(ids).toHaveLength(4);
    expect(reads.idx_posts_search).toBeGreaterThan(0);
    // one window of the newest posts found no match: the rest came from the text index, not
    // from walking the other 11,700 posts
    expect(inTimeOrder(reads)).toBeLessThanOrEqual(100);
  });
});

/**
 * The ids search_post_ids names for a viewer, page by page (pages of `size`, each after the
 * last one's position), until it names fewer than a page.
 */
async function pagedIds(c: pg.Client, q: string, size: number): Promise<string[]> {
  const all: string[] = [];
  let after: { created_at: string; id: string } | null = null;
  for (;;) {
    // the ids as named; the position from the post (read under row-level security: an id the
    // viewer may not read has none, and ends the paging)
    const page: pg.QueryResult<{ id: string; created_at: string | null }> = await c.query(
      `select s.id, p.created_at::text as created_at
         from app_hidden.search_post_ids(websearch_to_tsquery('simple', $1), $2::timestamptz, $3, $4)
              with ordinality s(id, k)
         left join app_public.posts p on p.id = s.id
        order by s.k`,
      [q, after?.created_at ?? null, after?.id ?? null, size],
    );
    all.push(...page.rows.map((r) => r.id));
    const last = page.rows[page.rows.length - 1];
    if (page.rows.length < size || !last?.created_at) return all;
    after = { created_at: last.created_at, id: last.id };
  }
}

describe("search_post_ids decides visibility as the posts policies do", () => {
  let open: string; // a public group
  let closed: string; // a private group: ana is a member, ben only asked to join

  beforeAll(async () => {
    [{ id: open }, { id: closed }] = (await api.sql<{ id: string }>(
      `insert into app_public.groups (name, group_type, created_by)
       values ('espresso lovers', 'public', $1), ('espresso club', 'private', $1) returning id`,
      [cal.id],
    )) as [{ id: string }, { id: string }];
    await api.sql(
      `insert into app_public.group_members (group_id, user_id, status)
       values ($1, $2, 'active'), ($1, $3, 'pending')`,
      [closed, ana.id, ben.id],
    );
    // every author × privacy × (no group, public group, private group), twice: half of them the
    // newest posts of all (found by the walk in time order), half among the old ones (found by
    // the text index); every seventh one deleted
    await api.sql(
      `insert into app_public.posts (author_id, content, privacy_level, group_id, created_at, deleted_at)
       select author, 'espresso ' || k, level, group_id,
              case when k % 2 = 0 then now() + k * interval '1 second'
                   else now() - k * interval '97 minutes' end,
              case when k % 7 = 3 then now() end
         from (select a.id as author, pr.level, g.id as group_id, row_number() over () as k
                 from unnest($1::uuid[]) a(id)
                cross join unnest(array['public', 'friends', 'private']) pr(level)
                cross join unnest(array[null, $2, $3]::uuid[]) g(id)
                cross join generate_series(1, 2) r) s`,
      [[ana.id, ben.id, cal.id, dee.id], open, closed],
    );
  });

  it("names exactly the posts each viewer may read, newest first, page after page", async () => {
    for (const who of [ana, ben, cal, dee, null]) {
      for (const q of ["espresso", "espresso -private", "latte or espresso", "zyzzyva"]) {
        const { expected, found } = await asViewer(who, async (c) => {
          // row-level security's answer
          const { rows } = await c.query<{ id: string }>(
            `select id from app_public.posts
              where to_tsvector('simple', content) @@ websearch_to_tsquery('simple', $1)
              order by created_at desc, id desc`,
            [q],
          );
          return { expected: rows.map((r) => r.id), found: await pagedIds(c, q, 7) };
        });
        expect({ who: who?.username ?? "anonymous", q, found }).toEqual({
          who: who?.username ?? "anonymous",
          q,
          found: expected,
        });
      }
    }
  });

  it("fills a page in one walk when the newest matches are hidden from the viewer", async () => {
    // the 100 newest posts all say coffee, and only their author may read them
    await api.sql(
      `insert into app_public.posts (author_id, content, privacy_level, created_at)
       select $1, 'coffee for me alone ' || i, 'private', now() + interval '1 hour' + i * interval '1 second'
         from generate_series(1, 100) i`,
      [cal.id],
    );
    const { ids, reads, readable } = await asViewer(ana, async (c) => {
      const { rows } = await c.query<{ id: string }>(
        `select app_hidden.search_post_ids(websearch_to_tsquery('simple', 'coffee'), null, null, 21) as id`,
      );
      const reads = await indexReads(c, [...POST_INDEXES, "posts_pkey"]);
      const policy = await c.query<{ id: string }>(
        `select id from app_public.posts where to_tsvector('simple', content) @@ 'coffee'::tsquery
          order by created_at desc, id desc limit 21`,
      );
      return { ids: rows.map((r) => r.id), reads, readable: policy.rows.map((r) => r.id) };
    });
    expect(ids).toEqual(readable);
    // the rule is applied while walking: no post is read again by its key to be filtered, and
    // the walk ends at the 21st readable match, ~140 posts past the hidden 100 (asking for 2n
    // matches of any visibility, then for 4x as many, walked ~500 and read 210 again by key)
    expect(reads.posts_pkey).toBe(0);
    expect(inTimeOrder(reads)).toBeGreaterThan(100);
    expect(inTimeOrder(reads)).toBeLessThan(350);
    // a common word, though the viewer may read none of its first 100 matches
    expect(reads.idx_posts_search).toBe(0);
  });
});
