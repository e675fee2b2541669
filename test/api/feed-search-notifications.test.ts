/**
 * Query.homeFeed (exactly who sees what, keyset paging), User.posts, Group.posts, search, and
 * notifications (Query.myNotifications, unreadNotificationCount, markNotificationsRead,
 * markAllNotificationsRead).
 */
import type { TestAccount } from "../helpers/accounts.ts";
import { ok, refusal, startApi, type Api } from "../helpers/api.ts";

let api: Api;
let vic: TestAccount; // the viewer
let fay: TestAccount; // vic's friend
let pat: TestAccount; // followed by vic, not a friend
let sam: TestAccount; // a stranger, posting in vic's group
let bo: TestAccount; // followed by vic, then blocked vic
let ed: TestAccount; // follows vic and is followed by vic, then blocked by vic
const post: Record<string, string> = {};
let group: string;
let otherGroup: string;

beforeAll(async () => {
  api = await startApi();
  [vic, fay, pat, sam, bo, ed] = (await Promise.all(
    ["vic", "fay", "pat", "sam_smith", "bob_b", "ed_e"].map((n) => api.register(n)),
  )) as [TestAccount, TestAccount, TestAccount, TestAccount, TestAccount, TestAccount];
  await api.sql(
    `insert into app_public.friendships (requester_id, addressee_id, status) values ($1, $2, 'accepted')`,
    [vic.id, fay.id],
  );
  await api.sql(
    `insert into app_public.followers (follower_id, following_id) values ($1, $2), ($1, $3), ($1, $4), ($4, $1)`,
    [vic.id, pat.id, bo.id, ed.id],
  );
  group = (
    await api.sql<{ id: string }>(
      `insert into app_public.groups (name, group_type, created_by) values ('Vic club', 'private', $1) returning id`,
      [vic.id],
    )
  )[0]!.id;
  otherGroup = (
    await api.sql<{ id: string }>(
      `insert into app_public.groups (name, group_type, created_by, description) values ('Sam secret society', 'secret', $1, 'gardening') returning id`,
      [sam.id],
    )
  )[0]!.id;
  await api.sql(`insert into app_public.group_members (group_id, user_id) values ($1, $2)`, [
    group,
    sam.id,
  ]);

  let minute = 0;
  const add = async (
    name: string,
    author: TestAccount,
    privacy: string,
    extra: { group?: string; deleted?: boolean; content?: string } = {},
  ) => {
    minute += 1;
    const [row] = await api.sql<{ id: string }>(
      `insert into app_public.posts (author_id, content, privacy_level, group_id, deleted_at, created_at)
       values ($1, $2, $3, $4, case when $5 then now() end, now() - interval '1 day' + $6 * interval '1 minute') returning id`,
      [
        author.id,
        extra.content ?? `${name} says hello`,
        privacy,
        extra.group ?? null,
        extra.deleted ?? false,
        minute,
      ],
    );
    post[name] = row!.id;
  };
  await add("vic.public", vic, "public");
  await add("vic.private", vic, "private");
  await add("fay.public", fay, "public", { content: "sourdough bread recipe" });
  await add("fay.friends", fay, "friends");
  await add("fay.private", fay, "private");
  await add("fay.deleted", fay, "public", { deleted: true });
  await add("pat.public", pat, "public", { content: "bread and butter" });
  await add("pat.friends", pat, "friends");
  await add("sam.public", sam, "public");
  await add("sam.in_group", sam, "public", { group });
  await add("sam.in_other_group", sam, "public", { group: otherGroup });
  await add("bo.public", bo, "public");
  await add("sam.friends_in_group", sam, "friends", { group });
  await add("sam.private_in_group", sam, "private", { group });
  await add("ed.public", ed, "public");
  // twins: one statement, so the same created_at exactly; only the id orders them
  minute += 1;
  const twins = await api.sql<{ id: string }>(
    `insert into app_public.posts (id, author_id, content, privacy_level, created_at)
     select t.id::uuid, $1, 'twins', 'public', now() - interval '1 day' + $2 * interval '1 minute'
       from (values ('00000000-0000-4000-8000-000000000001'), ('ffffffff-ffff-4fff-bfff-ffffffffffff')) t (id)
     returning id`,
    [pat.id, minute],
  );
  const [lo, hi] = twins.map((t) => t.id).sort();
  post["pat.twin_lo"] = lo!;
  post["pat.twin_hi"] = hi!;
  // bo blocks vic after vic followed bo
  await api.sql(
    `insert into app_public.friendships (requester_id, addressee_id, status) values ($1, $2, 'blocked')`,
    [bo.id, vic.id],
  );
  // vic blocks ed, after they followed each other (as a row: the feed must hide ed whether or
  // not the follows are gone)
  await api.sql(
    `insert into app_public.friendships (requester_id, addressee_id, status) values ($1, $2, 'blocked')`,
    [vic.id, ed.id],
  );
});
afterAll(() => api.close());

type Page = {
  nodes: { id: string }[];
  pageInfo: { hasNextPage: boolean; endCursor: string | null };
};
const FEED = `query ($after: Cursor, $n: Int) { homeFeed(first: $n, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } }`;
const names = (ids: string[]) =>
  ids.map((id) => Object.keys(post).find((k) => post[k] === id) ?? id);

async function wholeFeed(who: TestAccount | null, pageSize: number): Promise<string[]> {
  const seen: string[] = [];
  let after: string | null = null;
  for (let i = 0; i < 50; i++) {
    const page: Page = ok<{ homeFeed: Page }>(
      await api.as(who)(FEED, { after, n: pageSize }),
    ).homeFeed;
    seen.push(...page.nodes.map((n) => n.id));
    if (!page.pageInfo.hasNextPage) break;
    after = page.pageInfo.endCursor;
  }
  return names(seen);
}

describe("homeFeed", () => {
  it("gives exactly: own posts, friends' (by privacy), followed people's public ones, and group posts — newest first", async () => {
    // not: fay's private post, pat's friends-only one, sam's private one in the group, the
    // deleted one, the one in a group vic is not in, bo's (bo blocked vic) or ed's (vic blocked ed)
    expect(await wholeFeed(vic, 100)).toEqual([
      "pat.twin_hi",
      "pat.twin_lo",
      "sam.friends_in_group",
      "sam.in_group",
      "pat.public",
      "fay.friends",
      "fay.public",
      "vic.private",
      "vic.public",
    ]);
  });

  it("gives a friend her own view", async () => {
    expect(await wholeFeed(fay, 100)).toEqual([
      "fay.private",
      "fay.friends",
      "fay.public",
      "vic.public",
    ]);
  });

  it("gives someone the viewer blocked nothing of the viewer's, though he still follows the viewer", async () => {
    expect(await wholeFeed(ed, 100)).toEqual(["ed.public"]);
  });

  it("pages forward by cursor returning every post exactly once", async () => {
    const whole = await wholeFeed(vic, 100);
    for (const size of [1, 2, 3]) {
      const paged = await wholeFeed(vic, size);
      expect(paged).toEqual(whole);
      expect(new Set(paged).size).toBe(paged.length);
    }
  });

  it("breaks a tie in created_at by id, so a page boundary between twins loses neither", async () => {
    const [first] = await api.sql<{ same: boolean }>(
      `select count(distinct created_at) = 1 as same from app_public.posts where id = any($1)`,
      [[post["pat.twin_lo"], post["pat.twin_hi"]]],
    );
    expect(first).toEqual({ same: true });
    const page1 = ok<{ homeFeed: Page }>(await api.as(vic)(FEED, { after: null, n: 1 })).homeFeed;
    const page2 = ok<{ homeFeed: Page }>(
      await api.as(vic)(FEED, { after: page1.pageInfo.endCursor, n: 1 }),
    ).homeFeed;
    const page3 = ok<{ homeFeed: Page }>(
      await api.as(vic)(FEED, { after: page2.pageInfo.endCursor, n: 1 }),
    ).homeFeed;
    expect(names([...page1.nodes, ...page2.nodes, ...page3.nodes].map((n) => n.id))).toEqual([
      "pat.twin_hi",
      "pat.twin_lo",
      "sam.friends_in_group",
    ]);
  });

  it("pages backward (last, before) to the same posts as forward", async () => {
    const whole = await wholeFeed(vic, 100);
    const BACK = `query ($before: Cursor) { homeFeed(last: 3, before: $before) { nodes { id } pageInfo { hasPreviousPage startCursor } } }`;
    type Back = {
      nodes: { id: string }[];
      pageInfo: { hasPreviousPage: boolean; startCursor: string };
    };
    const oldest = ok<{ homeFeed: Back }>(await api.as(vic)(BACK, { before: null })).homeFeed;
    expect(names(oldest.nodes.map((n) => n.id))).toEqual(whole.slice(-3));
    const before = ok<{ homeFeed: Back }>(
      await api.as(vic)(BACK, { before: oldest.pageInfo.startCursor }),
    ).homeFeed;
    expect(names(before.nodes.map((n) => n.id))).toEqual(whole.slice(-6, -3));
  });

  it("gives the default page when no page size is asked, and refuses a cursor that is not ours", async () => {
    const whole = await wholeFeed(vic, 100);
    const page = ok<{ homeFeed: Page }>(
      await api.as(vic)(`{ homeFeed { nodes { id } pageInfo { hasNextPage endCursor } } }`),
    ).homeFeed;
    expect(names(page.nodes.map((n) => n.id))).toEqual(whole.slice(0, 20));
    const bad = await api.as(vic)(FEED, { after: "bm90IGEgY3Vyc29y", n: 2 });
    expect(bad.errors?.length).toBeGreaterThan(0);
  });

  it("is empty when signed out", async () => {
    expect(await wholeFeed(null, 20)).toEqual([]);
  });
});

describe("User.posts and Group.posts", () => {
  it("list one person's visible posts, newest first", async () => {
    const data = ok<{ user: { posts: Page } }>(
      await api.as(vic)(
        `query ($id: UUID!) { user(id: $id) { posts { nodes { id } pageInfo { hasNextPage endCursor } } } }`,
        { id: fay.id },
      ),
    );
    expect(names(data.user.posts.nodes.map((n) => n.id))).toEqual(["fay.friends", "fay.public"]);
  });

  it("list a group's posts to its members only", async () => {
    const GROUP_POSTS = `query ($g: UUID!) { group(id: $g) { posts { nodes { id } } } }`;
    const member = ok<{ group: { posts: Page } }>(await api.as(vic)(GROUP_POSTS, { g: group }));
    expect(names(member.group.posts.nodes.map((n) => n.id))).toEqual([
      "sam.friends_in_group",
      "sam.in_group",
    ]);
    const outsider = ok<{ group: { posts: Page } }>(await api.as(pat)(GROUP_POSTS, { g: group }));
    expect(outsider.group.posts.nodes).toEqual([]);
  });
});

describe("search", () => {
  it("finds users by prefix and by similar spelling, exact first, never across a block", async () => {
    const found = ok<{ searchUsers: { nodes: { username: string }[] } }>(
      await api.as(vic)(`{ searchUsers(query: "sam") { nodes { username } } }`),
    );
    expect(found.searchUsers.nodes.map((n) => n.username)).toEqual(["sam_smith"]);
    const fuzzy = ok<{ searchUsers: { nodes: { username: string }[] } }>(
      await api.as(vic)(`{ searchUsers(query: "sam_smit") { nodes { username } } }`),
    );
    expect(fuzzy.searchUsers.nodes.map((n) => n.username)).toContain("sam_smith");
    const blocked = ok<{ searchUsers: { nodes: unknown[] } }>(
      await api.as(vic)(`{ searchUsers(query: "bob_b") { nodes { username } } }`),
    );
    expect(blocked.searchUsers.nodes).toEqual([]);
  });

  it("finds visible posts by words, best match first", async () => {
    const found = ok<{ searchPosts: { nodes: { id: string }[] } }>(
      await api.as(sam)(`{ searchPosts(query: "bread") { nodes { id } } }`),
    );
    expect(names(found.searchPosts.nodes.map((n) => n.id)).sort()).toEqual([
      "fay.public",
      "pat.public",
    ]);
    const phrase = ok<{ searchPosts: { nodes: { id: string }[] } }>(
      await api.as(sam)(`{ searchPosts(query: "\\"sourdough bread\\"") { nodes { id } } }`),
    );
    expect(names(phrase.searchPosts.nodes.map((n) => n.id))).toEqual(["fay.public"]);
  });

  it("finds by words exactly the posts each viewer may read — the match runs outside row-level security, the reading does not", async () => {
    type Nodes = { nodes: { id: string; content: string }[] };
    for (const who of [vic, fay, ed, null]) {
      const readable = ok<{ posts: Nodes }>(
        await api.as(who)(`{ posts(first: 100) { nodes { id content } } }`),
      ).posts.nodes.filter((p) => p.content.includes("hello"));
      const found = ok<{ searchPosts: Nodes }>(
        await api.as(who)(`{ searchPosts(query: "hello", first: 100) { nodes { id content } } }`),
      ).searchPosts.nodes;
      expect(names(found.map((p) => p.id)).sort()).toEqual(names(readable.map((p) => p.id)).sort());
    }
    // and what that excludes, spelled out for a stranger: nothing private, friends-only or deleted
    const anonymous = ok<{ searchPosts: Nodes }>(
      await api.as(null)(`{ searchPosts(query: "hello", first: 100) { nodes { id content } } }`),
    ).searchPosts.nodes;
    expect(
      names(anonymous.map((p) => p.id)).filter((n) => /private|friends|deleted/.test(n)),
    ).toEqual([]);
    expect(anonymous.length).toBeGreaterThan(0);
  });

  it("finds groups by name or description; secret ones only for members", async () => {
    const SEARCH = `{ searchGroups(query: "gardening") { nodes { name } } }`;
    expect(
      ok<{ searchGroups: { nodes: unknown[] } }>(await api.as(vic)(SEARCH)).searchGroups.nodes,
    ).toEqual([]);
    expect(
      ok<{ searchGroups: { nodes: unknown[] } }>(await api.as(sam)(SEARCH)).searchGroups.nodes,
    ).toEqual([{ name: "Sam secret society" }]);
    const byName = ok<{ searchGroups: { nodes: unknown[] } }>(
      await api.as(pat)(`{ searchGroups(query: "vic clb") { nodes { name } } }`),
    );
    expect(byName.searchGroups.nodes).toEqual([{ name: "Vic club" }]);
  });

  it("refuses a search for less than two characters, for posts, people and groups alike", async () => {
    for (const field of ["searchPosts", "searchUsers", "searchGroups"]) {
      expect(refusal(await api.as(vic)(`{ ${field}(query: " a ") { nodes { id } } }`))).toEqual({
        code: "INVALID_INPUT",
        field: "query",
      });
    }
  });
});

describe("notifications", () => {
  beforeAll(async () => {
    for (let i = 1; i <= 3; i++) {
      await api.sql(
        `insert into app_public.notifications (recipient_id, sender_id, notification_type, title, created_at)
         values ($1, $2, 'new_follower', $3, now() - $4 * interval '1 minute')`,
        [vic.id, fay.id, `n${i}`, 10 - i],
      );
    }
    await api.sql(
      `insert into app_public.notifications (recipient_id, notification_type, title) values ($1, 'mention', 'for fay')`,
      [fay.id],
    );
  });

  it("are listed newest first, counted, and marked read — only the recipient's own", async () => {
    const list = ok<{
      myNotifications: { nodes: { id: string; title: string }[] };
      unreadNotificationCount: number;
    }>(await api.as(vic)(`{ myNotifications { nodes { id title } } unreadNotificationCount }`));
    expect(list.myNotifications.nodes.map((n) => n.title)).toEqual(["n3", "n2", "n1"]);
    expect(list.unreadNotificationCount).toBe(3);
    const faysId = (
      await api.sql<{ id: string }>(
        `select id from app_public.notifications where recipient_id = $1`,
        [fay.id],
      )
    )[0]!.id;

    const marked = ok<{ markNotificationsRead: { count: number } }>(
      await api.as(vic)(
        `mutation ($ids: [UUID]!) { markNotificationsRead(input: { ids: $ids }) { count } }`,
        {
          ids: [list.myNotifications.nodes[0]!.id, faysId],
        },
      ),
    );
    expect(marked.markNotificationsRead.count).toBe(1);
    expect(
      await api.sql(`select is_read from app_public.notifications where id = $1`, [faysId]),
    ).toEqual([{ is_read: false }]);
    expect(
      ok(await api.as(vic)(`mutation { markAllNotificationsRead(input: {}) { count } }`)),
    ).toEqual({
      markAllNotificationsRead: { count: 2 },
    });
    expect(ok(await api.as(vic)(`{ unreadNotificationCount }`))).toEqual({
      unreadNotificationCount: 0,
    });
    expect(ok(await api.as(fay)(`{ unreadNotificationCount }`))).toEqual({
      unreadNotificationCount: 1,
    });
  });
});
