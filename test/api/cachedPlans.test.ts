/**
 * PostgreSQL 18 caches the plans of SQL functions: from the sixth call on a connection a
 * function may run a generic plan, made without its arguments' values. The growth run
 * (issue #16) found feed_page_ids and search_post_ids reading far more than they need as the
 * data grows; these tests read the plans the functions actually run once the cache has taken
 * over (auto_explain, its nested statements sent to the client as notices). Sequential scans are
 * off so that the tiny test tables plan like large ones: the question is which index and which
 * conditions. (The search test pins the plan the fix gives; at this size the planner also chose
 * the text index without the fix: the 3M-post case is the growth run's.)
 */
import type pg from "pg";

import type { TestAccount } from "../helpers/accounts.ts";
import { startApi, type Api } from "../helpers/api.ts";
import { withClient } from "../helpers/database.ts";

let api: Api;
let ann: TestAccount;
let bob: TestAccount;
let cal: TestAccount;
let post: string;
const positions: { created_at: Date; id: string }[] = [];

beforeAll(async () => {
  api = await startApi();
  [ann, bob, cal] = (await Promise.all([api.register(), api.register(), api.register()])) as [
    TestAccount,
    TestAccount,
    TestAccount,
  ];
  // ann follows bob; ann and cal block each other's way (cal blocks ann); bob's post is liked
  await api.sql(`insert into app_public.followers (follower_id, following_id) values ($1, $2)`, [
    ann.id,
    bob.id,
  ]);
  await api.sql(
    `insert into app_public.friendships (requester_id, addressee_id, status) values ($1, $2, 'blocked')`,
    [cal.id, ann.id],
  );
  const rows = await api.sql<{ id: string; created_at: Date }>(
    `insert into app_public.posts (author_id, content, privacy_level, created_at)
     select $1, 'post ' || i, 'public', now() - i * interval '1 minute' from generate_series(1, 30) i
     returning id, created_at`,
    [bob.id],
  );
  positions.push(...rows.sort((a, b) => b.created_at.getTime() - a.created_at.getTime()));
  post = positions[0]!.id;
  await api.sql(
    `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $3), ($2, 'post', $3)`,
    [bob.id, cal.id, post],
  );
});
afterAll(() => api.close());

/** The plans of the statements inside `call`, as run on its eighth call on one connection. */
async function cachedPlans(viewer: TestAccount, call: string, params: unknown[]): Promise<string> {
  return withClient(api.db.superuserUrl, async (c: pg.Client) => {
    await c.query("load 'auto_explain'");
    await c.query(`set auto_explain.log_min_duration = 0`);
    await c.query(`set auto_explain.log_nested_statements = on`);
    await c.query(`set auto_explain.log_level = notice`);
    await c.query(`set enable_seqscan = off`);
    await c.query(`select set_config('jwt.claims.user_id', $1, false)`, [viewer.id]);
    let notices: string[] = [];
    c.on("notice", (n) => notices.push(n.message ?? ""));
    for (let i = 0; i < 8; i++) {
      notices = [];
      await c.query(call, params);
    }
    return notices.join("\n");
  });
}

it("feed_page_ids starts each source's index scan at the page's position, not at its newest post", async () => {
  const after = positions[9]!;
  const plans = await cachedPlans(ann, `select count(*) from app_hidden.feed_page_ids($1, $2, 5)`, [
    after.created_at,
    after.id,
  ]);
  // the answer is right (bob's posts 11–15)
  const ids = await withClient(api.db.superuserUrl, async (c) => {
    await c.query(`select set_config('jwt.claims.user_id', $1, false)`, [ann.id]);
    const { rows } = await c.query<{ id: string }>(
      `select id from app_hidden.feed_page_ids($1, $2, 5) id`,
      [after.created_at, after.id],
    );
    return rows.map((r) => r.id);
  });
  expect(ids).toEqual(positions.slice(10, 15).map((p) => p.id));
  // every scan of posts by author or group bounds the position in its index condition
  const scans =
    plans.match(
      /Index (Only )?Scan[^\n]* on posts p[^\n]*\n(\s+[^\n]*\n)*?\s+Index Cond: [^\n]*/g,
    ) ?? [];
  expect(scans.length).toBeGreaterThan(0);
  for (const scan of scans) expect(scan).toMatch(/Index Cond: .*created_at.*</);
  expect(plans).not.toMatch(/IS NULL\) OR \(ROW\(p\.created_at/);
});

it("search_post_ids reads the rest of a page from the text index once the first stretch had no match", async () => {
  // 80 newer posts without the word, then 200 older ones with it: the walk's first stretch
  // finds no match, so the rest comes from the text index. The word is in most posts, so the
  // planner, left to itself, would walk the time index filtering every post (what it did at
  // scale 3 for any word it has no statistics for: 2 s for a word in 300 of 3M posts)
  const word = `qx${Date.now().toString(36)}`;
  const older = await api.sql<{ id: string; created_at: Date }>(
    `insert into app_public.posts (author_id, content, privacy_level, created_at)
     select $1, 'old ' || $2 || ' ' || i, 'public', now() - interval '1 day' - i * interval '1 minute'
       from generate_series(1, 200) i
     returning id, created_at`,
    [bob.id, word],
  );
  await api.sql(
    `insert into app_public.posts (author_id, content, privacy_level, created_at)
     select $1, 'filler ' || i, 'public', now() - i * interval '1 second' from generate_series(1, 80) i`,
    [bob.id],
  );
  await api.sql(`analyze app_public.posts`);
  const call = `select count(*) from app_hidden.search_post_ids(websearch_to_tsquery('simple', $1), null, null, 21)`;
  const plans = await cachedPlans(ann, call, [word]);
  expect(plans).toContain("Bitmap Index Scan on idx_posts_search");
  const ids = await withClient(api.db.superuserUrl, async (c) => {
    await c.query(`select set_config('jwt.claims.user_id', $1, false)`, [ann.id]);
    const { rows } = await c.query<{ id: string }>(
      `select id from app_hidden.search_post_ids(websearch_to_tsquery('simple', $1), null, null, 21) id`,
      [word],
    );
    return rows.map((r) => r.id);
  });
  const newest = older
    .sort((a, b) => b.created_at.getTime() - a.created_at.getTime())
    .slice(0, 21)
    .map((r) => r.id);
  expect(ids).toEqual(newest);
});
