/**
 * People search (issue #16): what a good result is, who is never shown, and the plan that keeps
 * it fast.
 *
 * - the order: the exact username, then usernames starting with the text (alphabetical), then
 *   display names starting with it (alphabetical, then by username), then names containing it
 *   or spelled similarly (most similar first);
 * - never shown: people on either side of a block with the viewer, accounts that are suspended
 *   or awaiting erasure, and to a signed-out visitor anyone whose profile is not public;
 * - one statement per request; a common name ("ana", 3,000 display names here) reads about a
 *   page of the display-name prefix index and never the trigram indexes; a rare one asks the
 *   trigram indexes.
 *
 * The plans are pinned through PostgreSQL's own counters (the transaction's pending
 * pg_stat_user_indexes figures).
 */
import type pg from "pg";

import type { TestAccount } from "../helpers/accounts.ts";
import { ok, refusal, startApi, type Api } from "../helpers/api.ts";
import { withClient } from "../helpers/database.ts";

let api: Api;
let viewer: TestAccount;
const people = new Map<string, TestAccount>();

const CROWD = 20_000; // 3,000 of them (15%) named "Ana …"

/** username → display name; every one of them matches "mira" in some way. */
const MIRAS: Record<string, string> = {
  mira: "Exactly Her", // 1: the username itself
  mira_b: "Bee", // 2: username prefix
  Mira_A: "Ay", // 2 (case does not matter)
  zed_two: "mira z", // 3: display-name prefix
  zed_one: "Mira A", // 3
  aa_zed: "Mira A", // 3: same display name, the username breaks the tie
  xx_amira: "Xavier", // 4: username contains it
  yy_sam: "Sa Miranda", // 4: display name contains it
  mira_blocker: "Blocker", // blocked the viewer: never shown to them
  mira_blocked: "Blocked", // the viewer blocked her: never shown either
  mira_gone: "Deleting her account", // awaiting erasure
  mira_away: "Suspended", // suspended
  mira_private: "Private profile", // shown when signed in, not to anonymous visitors
};

beforeAll(async () => {
  api = await startApi({ GRAPHQL_EXPLAIN: "true" });
  viewer = await api.register("viewer_vi");
  for (const [username, displayName] of Object.entries(MIRAS)) {
    const account = await api.register(username);
    people.set(username, account);
    await api.sql(`update app_public.user_profiles set display_name = $2 where user_id = $1`, [
      account.id,
      displayName,
    ]);
  }
  const id = (name: string): string => people.get(name)!.id;
  await api.sql(
    `insert into app_public.friendships (requester_id, addressee_id, status)
     values ($1, $2, 'blocked'), ($2, $3, 'blocked')`,
    [id("mira_blocker"), viewer.id, id("mira_blocked")],
  );
  await api.sql(
    `update app_public.users set status = 'deleted', deletion_requested_at = now(),
            deletion_scheduled_for = now() + interval '30 days' where id = $1`,
    [id("mira_gone")],
  );
  await api.sql(`update app_public.users set status = 'suspended' where id = $1`, [
    id("mira_away"),
  ]);
  await api.sql(
    `update app_public.user_profiles set privacy_level = 'private' where user_id = $1`,
    [id("mira_private")],
  );
  // a crowd: 20,000 people, 3,000 of them "Ana …" (the benchmark's common name), one
  // "Zebulon Quixote" (its rare one)
  await api.sql(
    `with u as (
       insert into app_public.users (email, status)
       select 'crowd' || i || '@test.example', 'active' from generate_series(1, $1) i
       returning id, substr(email, 6, position('@' in email) - 6)::int as i)
     insert into app_public.user_profiles (user_id, username, display_name, privacy_level)
     select u.id, 'crowd' || u.i,
            case when u.i = 5 then 'Zebulon Quixote'
                 else (array['Ana', 'Ana', 'Ana', 'Ben', 'Cat', 'Dan', 'Eve', 'Gus', 'Ivan', 'Jia',
                             'Kofi', 'Lea', 'Max', 'Nia', 'Omar', 'Pia', 'Rui', 'Tom', 'Uma', 'Wen'])[1 + u.i % 20]
                      || ' ' || (array['Silva', 'Smith', 'Kim', 'Costa'])[1 + (u.i / 20) % 4] end,
            case when u.i % 10 < 7 then 'public' else 'friends' end
       from u`,
    [CROWD],
  );
  // as autovacuum would: statistics, and the trigram indexes' pending entries merged
  await api.sql(`vacuum analyze app_public.user_profiles`);
  await api.sql(`analyze app_public.users`);
});
afterAll(() => api.close());

interface Page {
  nodes: { id: string; username: string; displayName: string | null }[];
  pageInfo: { endCursor: string | null; hasNextPage: boolean };
}

const SEARCH = /* GraphQL */ `
  query ($q: String!, $first: Int, $after: Cursor, $offset: Int) {
    searchUsers(query: $q, first: $first, after: $after, offset: $offset) {
      nodes {
        id
        username
        displayName
      }
      pageInfo {
        endCursor
        hasNextPage
      }
    }
  }
`;

async function search(
  who: TestAccount | null,
  q: string,
  args: { first?: number; after?: string | null; offset?: number } = {},
): Promise<{ page: Page; sql: string[] }> {
  const { body } = await api.server.graphql(
    SEARCH,
    { q, first: args.first ?? 20, after: args.after ?? null, offset: args.offset ?? null },
    { ...(who ? { token: who.accessToken } : {}), headers: { "x-graphql-explain": "sql" } },
  );
  const explain = (
    body as { extensions?: { explain?: { operations?: { type: string; query?: string }[] } } }
  ).extensions?.explain;
  return {
    page: ok<{ searchUsers: Page }>(body).searchUsers,
    sql: (explain?.operations ?? []).filter((o) => o.type === "sql").map((o) => o.query ?? ""),
  };
}

const usernames = (page: Page): string[] => page.nodes.map((n) => n.username);

/** Runs `fn` as the viewer would: their role, their claims. */
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

const PROFILE_INDEXES = [
  "idx_user_profiles_username_lower",
  "idx_user_profiles_username_prefix",
  "idx_user_profiles_display_name_prefix",
  "idx_user_profiles_username_trgm",
  "idx_user_profiles_display_name_trgm",
];

interface IndexUse {
  scans: number;
  reads: number;
}

/** Scans of, and entries handed out by, these indexes in the current transaction so far. */
async function indexUse(c: pg.Client): Promise<Record<string, IndexUse>> {
  const { rows } = await c.query<{ name: string; scans: string; reads: string }>(
    `select i as name,
            pg_stat_get_xact_numscans(('app_public.' || i)::regclass)::text as scans,
            pg_stat_get_xact_tuples_returned(('app_public.' || i)::regclass)::text as reads
       from unnest($1::text[]) i`,
    [PROFILE_INDEXES],
  );
  return Object.fromEntries(
    rows.map((r) => [r.name, { scans: Number(r.scans), reads: Number(r.reads) }]),
  );
}

/** One search as the viewer, in SQL: the ids and what it asked of the profile indexes. */
function matches(
  who: TestAccount | null,
  q: string,
  n: number,
): Promise<{ ids: string[]; use: Record<string, IndexUse> }> {
  return asViewer(who, async (c) => {
    const { rows } = await c.query<{ id: string }>(
      `select id from app_hidden.search_user_matches($1, $2) order by ord`,
      [q, n],
    );
    return { ids: rows.map((r) => r.id), use: await indexUse(c) };
  });
}

describe("searchUsers", () => {
  it("orders the exact username, username prefixes, display-name prefixes, then names containing the text", async () => {
    const { page } = await search(viewer, "mira");
    expect(usernames(page)).toEqual([
      "mira",
      "Mira_A",
      "mira_b",
      "mira_private",
      "aa_zed",
      "zed_one",
      "zed_two",
      ...usernames(page).slice(7),
    ]);
    expect(new Set(usernames(page).slice(7))).toEqual(new Set(["xx_amira", "yy_sam"]));
  });

  it("never shows people on either side of a block, nor suspended or departing accounts", async () => {
    const shown = usernames((await search(viewer, "mira")).page);
    for (const hidden of ["mira_blocker", "mira_blocked", "mira_gone", "mira_away"]) {
      expect(shown).not.toContain(hidden);
    }
    // the blocked ones are not shown the viewer either
    for (const who of ["mira_blocker", "mira_blocked"]) {
      const theirs = usernames((await search(people.get(who)!, "viewer_vi")).page);
      expect(theirs).toEqual([]);
    }
    // someone else still finds both
    const other = usernames((await search(people.get("mira")!, "mira_bl")).page);
    expect(other.slice(0, 2)).toEqual(["mira_blocked", "mira_blocker"]);
  });

  it("shows a signed-out visitor only public profiles", async () => {
    const shown = usernames((await search(null, "mira")).page);
    expect(shown).toContain("mira");
    expect(shown).not.toContain("mira_private");
    const crowd = (await search(null, "ana", { first: 100 })).page.nodes;
    const levels = await api.sql<{ privacy_level: string }>(
      `select distinct privacy_level from app_public.user_profiles where user_id = any ($1)`,
      [crowd.map((n) => n.id)],
    );
    expect(levels).toEqual([{ privacy_level: "public" }]);
  });

  it("treats % and _ in the text as themselves", async () => {
    expect(usernames((await search(viewer, "mira_")).page).slice(0, 3)).toEqual([
      "Mira_A",
      "mira_b",
      "mira_private",
    ]);
    // no username starts with "crowd_" (as a pattern: "crowd" and any character, every one of
    // the crowd): the nearest spellings come first, crowd1 … crowd9, not crowd1, crowd10, …
    expect(usernames((await search(viewer, "crowd_", { first: 3 })).page)).toEqual([
      "crowd1",
      "crowd2",
      "crowd3",
    ]);
  });

  it("answers in one statement and pages by cursor through the same order, without repeats", async () => {
    const whole = await search(viewer, "ana", { first: 60 });
    expect(whole.sql).toHaveLength(1);
    expect(whole.sql[0]).toContain("app_hidden.search_user_matches(");
    const pages: string[] = [];
    let after: string | null = null;
    for (let i = 0; i < 3; i++) {
      const { page, sql } = await search(viewer, "ana", { first: 20, after });
      expect(sql).toHaveLength(1);
      expect(page.pageInfo.hasNextPage).toBe(true);
      pages.push(...page.nodes.map((n) => n.id));
      after = page.pageInfo.endCursor;
    }
    expect(pages).toEqual(whole.page.nodes.map((n) => n.id));
    // display names in order, ties broken by username
    const keys = whole.page.nodes.map((n) => [n.displayName!.toLowerCase(), n.username]);
    const sorted = [...keys].sort((a, b) =>
      a[0]! === b[0]! ? (a[1]! < b[1]! ? -1 : 1) : a[0]! < b[0]! ? -1 : 1,
    );
    expect(keys).toEqual(sorted);
    const skipped = await search(viewer, "ana", { first: 10, offset: 25 });
    expect(skipped.page.nodes.map((n) => n.id)).toEqual(pages.slice(25, 35));
  });

  it("refuses a text shorter than two characters", async () => {
    const { body } = await api.server.graphql(
      SEARCH,
      { q: " a", first: 5 },
      {
        token: viewer.accessToken,
      },
    );
    expect(refusal(body)).toEqual({ code: "INVALID_INPUT", field: "query" });
  });
});

describe("the plan", () => {
  it("reads a common name from the display-name prefix index, about a page of it, never the trigram indexes", async () => {
    const { ids, use } = await matches(viewer, "ana", 21);
    expect(ids).toHaveLength(21);
    expect(use.idx_user_profiles_display_name_prefix!.scans).toBeGreaterThan(0);
    // 3,000 display names start with "ana": a page (plus the viewer's hidden few) was read
    expect(use.idx_user_profiles_display_name_prefix!.reads).toBeLessThan(100);
    expect(use.idx_user_profiles_username_trgm!.scans).toBe(0);
    expect(use.idx_user_profiles_display_name_trgm!.scans).toBe(0);
  });

  it("reads username prefixes from their own index, in order", async () => {
    const { ids, use } = await matches(viewer, "crowd1", 11);
    expect(ids).toHaveLength(11);
    expect(use.idx_user_profiles_username_prefix!.scans).toBeGreaterThan(0);
    expect(use.idx_user_profiles_username_prefix!.reads).toBeLessThan(50);
    expect(use.idx_user_profiles_display_name_trgm!.scans).toBe(0);
    const names = await api.sql<{ username: string }>(
      `select p.username from unnest($1::uuid[]) with ordinality m(id, o)
         join app_public.user_profiles p on p.user_id = m.id order by m.o`,
      [ids],
    );
    // "crowd1", then "crowd10", "crowd100", "crowd1000", "crowd10000", "crowd10001", …
    const expected = Array.from({ length: CROWD }, (_, i) => `crowd${i + 1}`)
      .filter((n) => n.startsWith("crowd1"))
      .sort()
      .slice(0, 11);
    expect(names.map((r) => r.username)).toEqual(expected);
  });

  it("asks the trigram indexes only when the prefixes do not fill the page", async () => {
    const { ids, use } = await matches(null, "quixote", 21);
    expect(ids).toHaveLength(1);
    expect(
      use.idx_user_profiles_display_name_trgm!.scans + use.idx_user_profiles_username_trgm!.scans,
    ).toBeGreaterThan(0);
  });
});
