/**
 * Proves the PostGraphile 4 peer works on a seeded database:
 *
 *   npx node bench/peer/check.ts <ownerUrl> <authUrl>
 *
 * Installs bench/peer/pg4.sql, starts PG4 on a free port, picks a real user and fixture from
 * the data (as the owner), runs every scenario with that user's token, prints row counts, stops
 * PG4, and exits non-zero on any GraphQL error.
 */
import { createServer } from "node:net";

import pg from "pg";

import {
  PG4_SCENARIOS,
  installPg4Peer,
  pg4CliArgs,
  pg4FeedPage50Variables,
  pg4Request,
  pg4Token,
  startPostGraphile4,
  type Fixture,
  type ScenarioName,
} from "./postgraphile4.ts";

const JWT_SECRET = "pg4-peer-check-secret-0123456789abcdef";

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

interface CheckFixture {
  viewerId: string;
  fixture: Fixture;
  /** search_users gets a name-like term, search_posts a word from a post. */
  userTerm: string;
}

/** A viewer with a conversation whose feed is long, and things they can see. */
async function pickFixture(ownerUrl: string): Promise<CheckFixture> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const one = async (sql: string, params: unknown[] = []): Promise<Record<string, string>> => {
      const { rows } = await client.query<Record<string, string>>(sql, params);
      if (!rows[0]) throw new Error(`no fixture row for: ${sql.replace(/\s+/g, " ").trim()}`);
      return rows[0];
    };
    const viewer = await one(`
      select cp.user_id as id
        from app_public.conversation_participants cp
        -- whose feed is longest (the posts of the people they follow): page 50 must exist
        join (select f.follower_id, sum(a.n) as n from app_public.followers f
                join (select author_id, count(*) as n from app_public.posts group by 1) a
                  on a.author_id = f.following_id
               group by 1) f
          on f.follower_id = cp.user_id
       where cp.left_at is null
       order by f.n desc, cp.user_id
       limit 1`);
    const conversation = await one(
      `select cp.conversation_id as id
         from app_public.conversation_participants cp
        where cp.user_id = $1 and cp.left_at is null
        order by (select count(*) from app_public.messages m
                   where m.conversation_id = cp.conversation_id) desc
        limit 1`,
      [viewer.id],
    );
    const post = await one(`
      select p.id, p.content
        from app_public.posts p
       where p.deleted_at is null and p.group_id is null and p.privacy_level = 'public'
       order by (select count(*) from app_public.comments c
                  where c.post_id = p.id and c.parent_comment_id is null) desc, p.id
       limit 1`);
    const profile = await one(
      `select f.following_id as id, p.username
         from app_public.followers f
         join app_public.user_profiles p on p.user_id = f.following_id
        where f.follower_id = $1 and p.privacy_level = 'public'
        order by (select count(*) from app_public.posts x where x.author_id = f.following_id) desc
        limit 1`,
      [viewer.id],
    );
    const word =
      (post.content ?? "").split(/\W+/).find((w) => w.length >= 4) ?? post.content ?? "post";
    return {
      viewerId: viewer.id!,
      fixture: {
        postId: post.id!,
        conversationId: conversation.id!,
        profileUserId: profile.id!,
        term: word,
      },
      userTerm: (profile.username ?? "user").slice(0, 4),
    };
  } finally {
    await client.end();
  }
}

/** Row counts by path: how many items each list (`nodes`/`edges`) held, summed over parents. */
function countRows(
  value: unknown,
  at = "",
  counts = new Map<string, number>(),
): Map<string, number> {
  if (Array.isArray(value)) {
    counts.set(at, (counts.get(at) ?? 0) + value.length);
    for (const item of value) countRows(item, at, counts);
  } else if (value !== null && typeof value === "object") {
    for (const [key, child] of Object.entries(value)) {
      countRows(child, at ? `${at}.${key}` : key, counts);
    }
  }
  return counts;
}

const [ownerUrl, authUrl] = process.argv.slice(2);
if (!ownerUrl || !authUrl) {
  console.error("usage: npx node bench/peer/check.ts <ownerUrl> <authUrl>");
  process.exit(2);
}

await installPg4Peer(ownerUrl);
const { viewerId, fixture, userTerm } = await pickFixture(ownerUrl);
const port = await freePort();
console.log(
  `PG4 CLI args: ${pg4CliArgs({ authUrl: "<authUrl>", port, jwtSecret: "<secret>" }).join(" ")}`,
);
const started = Date.now();
const server = await startPostGraphile4({ authUrl, port, jwtSecret: JWT_SECRET });
console.log(`PostGraphile 4 answered at ${server.url} after ${Date.now() - started} ms`);
console.log(`viewer ${viewerId}, fixture ${JSON.stringify(fixture)}, user search "${userTerm}"`);

let failures = 0;
try {
  const token = pg4Token(viewerId, JWT_SECRET);
  let page50: Record<string, unknown> = {};
  try {
    page50 = await pg4FeedPage50Variables(server, token);
    console.log(`feed_page50 variables: ${JSON.stringify(page50)}`);
  } catch (error) {
    failures++;
    console.error(`FAIL pg4FeedPage50Variables: ${(error as Error).message}`);
  }
  for (const [name, scenario] of Object.entries(PG4_SCENARIOS) as [
    ScenarioName,
    (typeof PG4_SCENARIOS)[ScenarioName],
  ][]) {
    const variables =
      name === "feed_page50"
        ? page50
        : name === "search_users"
          ? scenario.variables({ ...fixture, term: userTerm })
          : scenario.variables(fixture);
    const t0 = performance.now();
    try {
      const data = await pg4Request(server, token, scenario.query, variables);
      const ms = (performance.now() - t0).toFixed(1);
      const counts = [...countRows(data)].map(([k, n]) => `${k}=${n}`).join(" ");
      const root = Object.values(data)[0];
      if (root === null) console.warn(`WARN ${name}: the root object is null (not visible?)`);
      console.log(`ok   ${name.padEnd(22)} ${ms.padStart(7)} ms  ${counts || "(no lists)"}`);
    } catch (error) {
      failures++;
      console.error(`FAIL ${name}: ${(error as Error).message}`);
    }
  }
  // Natural cursors are row numbers: the cursor's page must be the page at offset 980.
  const ids = (data: Record<string, unknown>): string =>
    JSON.stringify(
      (data as { homeFeed: { edges: { node: { id: string } }[] } }).homeFeed.edges.map(
        (e) => e.node.id,
      ),
    );
  const byOffset = await pg4Request(
    server,
    token,
    `{ homeFeed(n: 1001, first: 20, offset: 980) { edges { node { id } } } }`,
  );
  const byCursor = await pg4Request(server, token, PG4_SCENARIOS.feed_page50.query, page50);
  if (ids(byOffset) === ids(byCursor)) {
    console.log("ok   feed page 50 by cursor = by offset 980");
  } else {
    failures++;
    console.error("FAIL feed page 50 by cursor differs from offset 980");
  }
} finally {
  await server.close();
}
console.log(failures === 0 ? "all PG4 scenarios passed" : `${failures} PG4 scenario(s) failed`);
process.exit(failures === 0 ? 0 : 1);
