/**
 * Keeps the read plans honest (issue #16): the conversation list is one SQL statement whatever
 * the page size, with row-level security still deciding what it shows; the home feed reads
 * its sources' index. The SQL the API ran comes from the response's `extensions.explain`
 * (GRAPHQL_EXPLAIN, development mode).
 */
import createDebug from "debug";

import type { TestAccount } from "../helpers/accounts.ts";
import { ok, startApi, type Api } from "../helpers/api.ts";
import { withClient } from "../helpers/database.ts";
import type { GraphQLBody } from "../helpers/server.ts";

let api: Api;
beforeAll(async () => {
  api = await startApi({ GRAPHQL_EXPLAIN: "true" });
});
afterAll(() => api.close());

interface Explained extends GraphQLBody {
  extensions?: { explain?: { operations?: { type: string; query?: string; explain?: string }[] } };
}

/** The SQL statements the API ran for one request. */
async function statements(
  who: TestAccount,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<{ data: Record<string, unknown>; sql: string[] }> {
  const body = (await api.as(who)(query, variables)) as Explained;
  const data = ok(body);
  const sql = (body.extensions?.explain?.operations ?? [])
    .filter((o) => o.type === "sql")
    .map((o) => o.query ?? "");
  return { data, sql };
}

const START = `mutation ($id: UUID!) { startDirectConversation(input: { userId: $id }) { conversation { id } } }`;
const GROUP = `mutation ($t: String!, $ids: [UUID]!) { createGroupConversation(input: { title: $t, participantIds: $ids }) { conversation { id } } }`;
const SEND = `mutation ($c: UUID!, $t: String) { sendMessage(input: { conversationId: $c, content: $t }) { message { id } } }`;

async function direct(a: TestAccount, b: TestAccount): Promise<string> {
  return ok<{ startDirectConversation: { conversation: { id: string } } }>(
    await api.as(a)(START, { id: b.id }),
  ).startDirectConversation.conversation.id;
}
async function group(admin: TestAccount, title: string, others: TestAccount[]): Promise<string> {
  return ok<{ createGroupConversation: { conversation: { id: string } } }>(
    await api.as(admin)(GROUP, { t: title, ids: others.map((o) => o.id) }),
  ).createGroupConversation.conversation.id;
}
async function send(who: TestAccount, conversation: string, text: string): Promise<void> {
  ok(await api.as(who)(SEND, { c: conversation, t: text }));
}

/** The benchmark's conversations_list document (bench/scenarios.ts), at a page size. */
const LIST = (first: number) => /* GraphQL */ `
  {
    myConversations(first: ${first}) {
      nodes {
        id
        title
        conversationType
        unreadCount
        lastMessage {
          content
          createdAt
          sender {
            username
          }
        }
      }
    }
  }
`;
interface ListNode {
  id: string;
  title: string | null;
  conversationType: string;
  unreadCount: number;
  lastMessage: { content: string; createdAt: string; sender: { username: string } | null } | null;
}

describe("myConversations", () => {
  let ana: TestAccount;
  let ben: TestAccount;
  let cat: TestAccount;
  let dan: TestAccount;
  const ids: Record<string, string> = {};

  beforeAll(async () => {
    [ana, ben, cat, dan] = [
      await api.register(),
      await api.register(),
      await api.register(),
      await api.register(),
    ];
    ids.withBen = await direct(ana, ben);
    ids.withCat = await direct(ana, cat);
    ids.club = await group(ana, "Club", [ben, cat, dan]);
    ids.left = await group(dan, "Left behind", [ana, ben]);
    ids.quiet = await direct(ana, dan);
    await send(ben, ids.withBen, "hi ana");
    await send(ana, ids.withBen, "hi ben");
    await send(cat, ids.withCat, "hey");
    await send(cat, ids.withCat, "you there?");
    await send(dan, ids.left, "before ana left");
    ok(
      await api.as(ana)(
        `mutation ($c: UUID!) { leaveConversation(input: { conversationId: $c }) { success } }`,
        { c: ids.left },
      ),
    );
    await send(dan, ids.left, "after ana left");
    await send(dan, ids.club, "club news");
    // cat blocks ana: her card is hidden from ana from now on
    ok(
      await api.as(cat)(`mutation ($id: UUID!) { blockUser(input: { userId: $id }) { success } }`, {
        id: ana.id,
      }),
    );
  });

  it("is one SQL statement, whatever the page size", async () => {
    for (const first of [20, 5, 2]) {
      const { sql } = await statements(ana, LIST(first));
      expect(sql).toHaveLength(1);
    }
  });

  it("lists the active conversations, latest activity first, with unread counts and what row-level security lets the reader see", async () => {
    const { data, sql } = await statements(ana, LIST(20));
    expect(sql).toHaveLength(1);
    const nodes = (data as { myConversations: { nodes: ListNode[] } }).myConversations.nodes;
    expect(
      nodes.map((n) => ({
        id: n.id,
        unread: n.unreadCount,
        last: n.lastMessage?.content ?? null,
        sender: n.lastMessage ? (n.lastMessage.sender?.username ?? "(hidden)") : null,
      })),
    ).toEqual([
      { id: ids.club, unread: 1, last: "club news", sender: dan.username },
      { id: ids.withCat, unread: 2, last: "you there?", sender: "(hidden)" },
      { id: ids.withBen, unread: 1, last: "hi ben", sender: ana.username },
      { id: ids.quiet, unread: 0, last: null, sender: null },
    ]);
    // the conversation ana left is not listed; read directly, she sees it up to her leaving
    const left = ok<{ conversation: { lastMessage: { content: string } | null } }>(
      await api.as(ana)(
        `query ($id: UUID!) { conversation(id: $id) { lastMessage { content } } }`,
        {
          id: ids.left,
        },
      ),
    );
    expect(left.conversation.lastMessage).toEqual({ content: "before ana left" });
    // ... and a stranger sees none of it
    const eve = await api.register();
    const theirs = await statements(eve, LIST(20));
    expect(theirs.data).toEqual({ myConversations: { nodes: [] } });
  });

  it("pages by cursor, each conversation once", async () => {
    const PAGE = `query ($after: Cursor) { myConversations(first: 1, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } }`;
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page: {
        myConversations: {
          nodes: { id: string }[];
          pageInfo: { hasNextPage: boolean; endCursor: string | null };
        };
      } = ok(await api.as(ana)(PAGE, { after }));
      seen.push(...page.myConversations.nodes.map((n) => n.id));
      if (!page.myConversations.pageInfo.hasNextPage) break;
      after = page.myConversations.pageInfo.endCursor;
    }
    expect(seen).toEqual([ids.club, ids.withCat, ids.withBen, ids.quiet]);
  });
});

describe("homeFeed", () => {
  const people: Record<string, TestAccount> = {};
  const FEED = `query ($after: Cursor) { homeFeed(first: 20, after: $after) { edges { cursor node { id } } pageInfo { hasNextPage endCursor } } }`;

  beforeAll(async () => {
    for (const name of ["vic", "fay", "pat", "bo", "sam", "lee"])
      people[name] = await api.register();
    const { vic, fay, pat, bo, sam, lee } = people as Record<string, TestAccount>;
    // fay: vic's friend; pat, bo: followed by vic; bo then blocks vic; lee: vic's friend, blocked by vic
    await api.sql(
      `insert into app_public.friendships (requester_id, addressee_id, status)
       values ($1, $2, 'accepted'), ($3, $1, 'blocked'), ($1, $4, 'accepted')`,
      [vic!.id, fay!.id, bo!.id, lee!.id],
    );
    await api.sql(
      `update app_public.friendships set status = 'blocked' where requester_id = $1 and addressee_id = $2`,
      [vic!.id, lee!.id],
    );
    await api.sql(
      `insert into app_public.followers (follower_id, following_id) values ($1, $2), ($1, $3), ($1, $4)`,
      [vic!.id, pat!.id, bo!.id, sam!.id],
    );
    const groups = await api.sql<{ id: string; group_type: string }>(
      `insert into app_public.groups (name, group_type, created_by)
       values ('open', 'public', $1), ('closed', 'private', $1), ('hidden', 'secret', $2), ('elsewhere', 'public', $2)
       returning id, group_type`,
      [vic!.id, sam!.id],
    );
    const [open, closed, hidden, elsewhere] = groups.map((g) => g.id) as [
      string,
      string,
      string,
      string,
    ];
    await api.sql(
      `insert into app_public.group_members (group_id, user_id)
       select g, u from unnest($1::uuid[]) g, unnest($2::uuid[]) u on conflict do nothing`,
      [
        [open, closed, hidden],
        [fay!.id, pat!.id, sam!.id],
      ],
    );
    await api.sql(
      `insert into app_public.group_members (group_id, user_id) values ($1, $2) on conflict do nothing`,
      [elsewhere, fay!.id],
    );
    // every author × privacy × place (timeline, each group), some deleted: 3 rounds
    await api.sql(
      `insert into app_public.posts (author_id, content, privacy_level, group_id, deleted_at, created_at)
       select a, 'post', pr, g, case when (r + pr_i) % 7 = 0 then now() end,
              now() - (r * 1000 + row_number() over ()) * interval '1 second'
         from unnest($1::uuid[]) a,
              unnest(array['public', 'friends', 'private']) with ordinality pr(pr, pr_i),
              unnest(array[null, $2, $3, $4, $5]::uuid[]) g,
              generate_series(1, 3) r`,
      [[vic!.id, fay!.id, pat!.id, bo!.id, sam!.id, lee!.id], open, closed, hidden, elsewhere],
    );
  });

  it("is one SQL statement", async () => {
    const { sql } = await statements(people.vic!, FEED, { after: null });
    expect(sql).toHaveLength(1);
  });

  it("picks, for each viewer and page, exactly the newest posts row-level security shows from the viewer's sources", async () => {
    for (const viewer of Object.values(people)) {
      await withClient(api.db.authUrl, async (c) => {
        await c.query("begin");
        try {
          await c.query(
            `select set_config('role', 'authenticated', true), set_config('jwt.claims.user_id', $1, true)`,
            [viewer.id],
          );
          // the feed's sources, read under row-level security, newest first
          const { rows: expected } = await c.query<{ id: string; created_at: Date }>(
            `select p.id, p.created_at from app_public.posts p
              where p.deleted_at is null
                and (p.author_id = app_public.current_user_id()
                     or p.author_id in (select app_hidden.friend_ids())
                     or p.author_id in (select f.following_id from app_public.followers f
                                         where f.follower_id = app_public.current_user_id())
                     or p.group_id in (select app_hidden.active_group_ids()))
              order by p.created_at desc, p.id desc`,
          );
          expect(expected.length).toBeGreaterThan(0);
          // pages of 7 from the start and after each position
          for (let from = -1; from < expected.length; from += 7) {
            const after = from < 0 ? null : expected[from]!;
            const { rows } = await c.query<{ id: string }>(
              `select id from app_hidden.feed_page_ids($1, $2, 7) id`,
              [after?.created_at ?? null, after?.id ?? null],
            );
            expect(rows.map((r) => r.id)).toEqual(
              expected.slice(from + 1, from + 8).map((r) => r.id),
            );
          }
        } finally {
          await c.query("rollback");
        }
      });
    }
  });

  it("pages through the whole feed through the API, each visible post once", async () => {
    const seen: string[] = [];
    let after: string | null = null;
    for (;;) {
      const page: {
        homeFeed: {
          edges: { node: { id: string } }[];
          pageInfo: { hasNextPage: boolean; endCursor: string | null };
        };
      } = ok(await api.as(people.vic!)(FEED, { after }));
      seen.push(...page.homeFeed.edges.map((e) => e.node.id));
      if (!page.homeFeed.pageInfo.hasNextPage) break;
      after = page.homeFeed.pageInfo.endCursor;
    }
    const visible = await withClient(api.db.authUrl, async (c) => {
      await c.query("begin");
      try {
        await c.query(
          `select set_config('role', 'authenticated', true), set_config('jwt.claims.user_id', $1, true)`,
          [people.vic!.id],
        );
        const { rows } = await c.query<{ id: string }>(
          `select p.id from app_public.posts p
            where p.author_id = any ($1::uuid[]) or p.group_id in (select app_hidden.active_group_ids())
            order by p.created_at desc, p.id desc`,
          [[people.vic!.id, people.fay!.id, people.pat!.id, people.bo!.id, people.sam!.id]],
        );
        return rows.map((r) => r.id);
      } finally {
        await c.query("rollback");
      }
    });
    expect(seen).toEqual(visible);
  });

  it("reads a forward page's posts by key, with no friend, follow or group list of its own, and counts inline", async () => {
    // @dataplan/pg adds each statement's EXPLAIN (ANALYZE, VERBOSE) to extensions.explain
    const channel = "@dataplan/pg:PgExecutor:explain";
    createDebug.enable(channel);
    let plan: string;
    try {
      const body = (await api.as(people.vic!)(
        `{ homeFeed(first: 20) { nodes { id likesCount commentsCount } } }`,
      )) as Explained;
      ok(body);
      const operations = (body.extensions?.explain?.operations ?? []).filter(
        (o) => o.type === "sql",
      );
      expect(operations).toHaveLength(1);
      plan = operations[0]!.explain ?? "";
    } finally {
      createDebug.disable();
    }
    expect(plan).toMatch(/Execution Time/);
    // only the posts feed_page_ids names, looked up by id: at most the page and one more
    const posts =
      /Index Scan using \S+ on app_public\.posts __posts__ .*rows=(\d+)\S* loops=1\)\n.*\n\s*Index Cond: \(__posts__\.id = ANY /.exec(
        plan,
      );
    expect(posts).not.toBeNull();
    expect(Number(posts![1])).toBeLessThanOrEqual(21);
    // the sources filter is for backward pages only (feed_page_ids read only the sources)
    expect(plan).not.toContain("app_public.followers");
    // likesCount and commentsCount are inlined, and a zero count is read from the row
    expect(plan).not.toMatch(/posts_(likes|comments)_count\(/);
    expect(plan).toContain("WHEN (__posts__.likes_count = 0) THEN 0");
    expect(plan).toContain("WHEN (__posts__.comments_count = 0) THEN 0");
  });

  it("decides a group post's visibility by looking up its group, not by reading every public group", async () => {
    // as many groups as at scale 1 (3,500 public), so that "every public group" is a real cost
    await api.sql(
      `insert into app_public.groups (name, group_type, created_by)
       select 'crowd ' || i, case when i % 10 < 7 then 'public' else 'private' end, $1
         from generate_series(1, 5000) i`,
      [people.lee!.id],
    );
    await api.sql(`analyze app_public.groups`);
    const { vic } = people as Record<string, TestAccount>;
    const { plan, ids } = await withClient(api.db.authUrl, async (c) => {
      await c.query("begin");
      try {
        await c.query(
          `select set_config('role', 'authenticated', true), set_config('jwt.claims.user_id', $1, true)`,
          [vic!.id],
        );
        // the home feed's reading statement (plugins/feed.ts): a page of posts under row-level security
        const statement = `select p.id from app_public.posts p
            where p.deleted_at is null
              and p.id = any (array(select app_hidden.feed_page_ids(null, null, 21)))
            order by p.created_at desc, p.id desc limit 21`;
        const { rows } = await c.query<{ "QUERY PLAN": [{ Plan: PlanNode }] }>(
          `explain (analyze, format json) ${statement}`,
        );
        const page = await c.query<{ id: string }>(statement);
        return { plan: rows[0]!["QUERY PLAN"][0].Plan, ids: page.rows.map((r) => r.id) };
      } finally {
        await c.query("rollback");
      }
    });
    const [counted] = await api.sql<{ group_posts: number }>(
      `select count(*)::int as group_posts from app_public.posts p
         join app_public.groups g on g.id = p.group_id and g.group_type = 'public'
        where p.id = any ($1::uuid[])`,
      [ids],
    );
    expect(counted?.group_posts).toBeGreaterThan(0); // the page holds posts of a public group
    const nodes = flatten(plan);
    // no set of every public group (neither app_hidden.public_group_ids() nor a scan of groups)
    expect(nodes.filter((n) => n["Function Name"] === "public_group_ids")).toEqual([]);
    const groupRowsRead = nodes
      .filter((n) => n["Relation Name"] === "groups")
      .reduce((sum, n) => sum + (n["Actual Rows"] ?? 0) * (n["Actual Loops"] ?? 1), 0);
    expect(groupRowsRead).toBeLessThanOrEqual(ids.length);
    expect(
      nodes.some((n) => n["Relation Name"] === "groups" && n["Index Name"] === "groups_pkey"),
    ).toBe(true);
  });
});

interface PlanNode {
  "Node Type": string;
  "Relation Name"?: string;
  "Index Name"?: string;
  "Function Name"?: string;
  "Actual Rows"?: number;
  "Actual Loops"?: number;
  Plans?: PlanNode[];
}

/** Every node of a plan, subplans included. */
function flatten(node: PlanNode): PlanNode[] {
  return [node, ...(node.Plans ?? []).flatMap(flatten)];
}
