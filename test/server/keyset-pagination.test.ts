/**
 * Keyset pagination is keyset: the cursor condition of every (created_at, id) connection is a
 * tuple comparison the (created_at, id) indexes answer directly, so page 500 costs what page 1
 * costs. PostGraphile writes that only for columns it knows are never null: created_at stays
 * nullable as the design says, but a check (ck_<table>_created_at) makes it never null and the
 * `@notNull` smart tag tells PostGraphile (migration 0006). Without it, the condition is an OR
 * over `created_at is null` that no index answers.
 *
 * Pinned through the server's own SQL (GRAPHQL_EXPLAIN): the second page of each connection.
 */
import { ok, startApi, type Api } from "../helpers/api.ts";
import type { TestAccount } from "../helpers/accounts.ts";

let api: Api;
let ana: TestAccount;
let ben: TestAccount;
const ids: Record<string, string> = {};

beforeAll(async () => {
  api = await startApi({ GRAPHQL_EXPLAIN: "true" });
  [ana, ben] = [await api.register(), await api.register()];
  const group = ok<{ createGroup: { group: { id: string } } }>(
    await api.as(ana)(`mutation { createGroup(input: { name: "Keyset" }) { group { id } } }`),
  ).createGroup.group.id;
  ids.group = group;
  for (const [i, groupId] of [null, null, group, group].entries()) {
    const post = ok<{ publishPost: { post: { id: string } } }>(
      await api.as(ana)(
        `mutation ($c: String!, $g: UUID) { publishPost(input: { content: $c, groupId: $g }) { post { id } } }`,
        { c: `post ${i}`, g: groupId },
      ),
    ).publishPost.post.id;
    ids.post = post;
  }
  for (const text of ["first", "second"]) {
    ids.comment = ok<{ addComment: { comment: { id: string } } }>(
      await api.as(ana)(
        `mutation ($p: UUID!, $t: String!) { addComment(input: { postId: $p, content: $t }) { comment { id } } }`,
        { p: ids.post, t: text },
      ),
    ).addComment.comment.id;
  }
  for (const text of ["reply 1", "reply 2"]) {
    ok(
      await api.as(ana)(
        `mutation ($p: UUID!, $r: UUID!, $t: String!) { addComment(input: { postId: $p, parentCommentId: $r, content: $t }) { comment { id } } }`,
        { p: ids.post, r: ids.comment, t: text },
      ),
    );
  }
  ids.conversation = ok<{ startDirectConversation: { conversation: { id: string } } }>(
    await api.as(ana)(
      `mutation ($u: UUID!) { startDirectConversation(input: { userId: $u }) { conversation { id } } }`,
      { u: ben.id },
    ),
  ).startDirectConversation.conversation.id;
  for (const text of ["one", "two"]) {
    ok(
      await api.as(ana)(
        `mutation ($c: UUID!, $t: String!) { sendMessage(input: { conversationId: $c, content: $t }) { message { id } } }`,
        { c: ids.conversation, t: text },
      ),
    );
  }
  await api.sql(
    `insert into app_public.notifications (recipient_id, notification_type, title, created_at)
     select $1, 'mention', 'n' || i, now() - i * interval '1 minute' from generate_series(1, 2) i`,
    [ana.id],
  );
});
afterAll(() => api.close());

/** `{ <field>(first: 1, after: $after) { ... } }` wrapped in whatever the connection hangs on. */
const CONNECTIONS: Record<string, { query: string; path: string[] }> = {
  "Query.homeFeed": { query: `homeFeed(first: 1, after: $after) { PAGE }`, path: ["homeFeed"] },
  "User.posts": {
    query: `user(id: $id) { posts(first: 1, after: $after) { PAGE } }`,
    path: ["user", "posts"],
  },
  "Group.posts": {
    query: `group(id: $id) { posts(first: 1, after: $after) { PAGE } }`,
    path: ["group", "posts"],
  },
  "Post.comments": {
    query: `post(id: $id) { comments(first: 1, after: $after) { PAGE } }`,
    path: ["post", "comments"],
  },
  "Comment.replies": {
    query: `comment(id: $id) { replies(first: 1, after: $after) { PAGE } }`,
    path: ["comment", "replies"],
  },
  "Conversation.messages": {
    query: `conversation(id: $id) { messages(first: 1, after: $after) { PAGE } }`,
    path: ["conversation", "messages"],
  },
  "Query.myNotifications": {
    query: `myNotifications(first: 1, after: $after) { PAGE }`,
    path: ["myNotifications"],
  },
};
const idFor: Record<string, () => string | undefined> = {
  "User.posts": () => ana.id,
  "Group.posts": () => ids.group,
  "Post.comments": () => ids.post,
  "Comment.replies": () => ids.comment,
  "Conversation.messages": () => ids.conversation,
};

interface Page {
  nodes: { id: string }[];
  pageInfo: { endCursor: string | null; hasNextPage: boolean };
}

async function page(name: string, after: string | null): Promise<{ page: Page; sql: string[] }> {
  const { query, path } = CONNECTIONS[name]!;
  const id = idFor[name]?.();
  const defs = id ? `($id: UUID!, $after: Cursor)` : `($after: Cursor)`;
  const text = `query ${defs} { ${query.replace("PAGE", "nodes { id } pageInfo { endCursor hasNextPage }")} }`;
  const { body } = await api.server.graphql(
    text,
    { after, ...(id ? { id } : {}) },
    { token: ana.accessToken, headers: { "x-graphql-explain": "sql" } },
  );
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  let data: unknown = body.data;
  for (const key of path) data = (data as Record<string, unknown>)[key];
  const explain = (
    body as { extensions?: { explain?: { operations?: { type: string; query?: string }[] } } }
  ).extensions?.explain;
  return {
    page: data as Page,
    sql: (explain?.operations ?? []).filter((o) => o.type === "sql").map((o) => o.query ?? ""),
  };
}

describe.each(Object.keys(CONNECTIONS))("%s", (name) => {
  it("pages with a (created_at, id) tuple comparison, never an OR over null created_at", async () => {
    const first = await page(name, null);
    expect(first.page.nodes).toHaveLength(1);
    expect(first.page.pageInfo.hasNextPage).toBe(true);
    const second = await page(name, first.page.pageInfo.endCursor);
    expect(second.page.nodes).toHaveLength(1);
    expect(second.page.nodes[0]!.id).not.toBe(first.page.nodes[0]!.id);

    const cursorSql = second.sql.filter(
      (q) => /"created_at"/.test(q) && /\$\d+::"timestamptz"/.test(q),
    );
    expect(cursorSql).toHaveLength(1);
    expect(cursorSql[0]).toMatch(
      /\(\s*(__\w+)\."created_at",\s*\1\."id"\s*\)\s*[<>]\s*\(\s*\$\d+::"timestamptz",\s*\$\d+::"uuid"\s*\)/,
    );
    expect(cursorSql[0]).not.toMatch(/"created_at" is (not )?null|is not distinct from/);
  });
});

it("reads homeFeed's forward pages through each source's index (feed_page_ids), not by filtering every post", async () => {
  for (const after of [null, (await page("Query.homeFeed", null)).page.pageInfo.endCursor]) {
    const { sql } = await page("Query.homeFeed", after);
    expect(sql.filter((q) => q.includes("app_hidden.feed_page_ids("))).toHaveLength(1);
  }
});

it("keeps created_at never null on the paginated tables (checks, not NOT NULL: the design's nullability stays)", async () => {
  const rows = await api.sql<{ table: string; nullable: string; check: string }>(
    `select c.table_name as table, c.is_nullable as nullable,
            (select con.conname from pg_constraint con
              where con.conrelid = ('app_public.' || c.table_name)::regclass
                and con.conname = 'ck_' || c.table_name || '_created_at') as check
       from information_schema.columns c
      where c.table_schema = 'app_public' and c.column_name = 'created_at'
        and c.table_name in ('posts', 'comments', 'messages', 'notifications')
      order by 1`,
  );
  expect(rows).toEqual(
    ["comments", "messages", "notifications", "posts"].map((table) => ({
      table,
      nullable: "YES",
      check: `ck_${table}_created_at`,
    })),
  );
  await expect(
    api.sql(
      `insert into app_public.posts (author_id, content, created_at) values ($1, 'x', null)`,
      [ana.id],
    ),
  ).rejects.toMatchObject({ code: "23514", constraint: "ck_posts_created_at" });
});
