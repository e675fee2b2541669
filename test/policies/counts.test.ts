/**
 * Counts agree with lists: every count a viewer can read equals the number of items in the list
 * the same viewer can read, or is null when that list is hidden from them. Table-driven: every
 * (count, list) pair, read through the GraphQL API by every kind of viewer, over a world full of
 * hidden relations (a private profile with friends, blocks both ways, a follower on the far side
 * of a block, likes, comments, replies, members and attendees on the far side of a block, a like
 * by someone with a private profile, shares nobody else may see, posts a group hides).
 */
import type { TestAccount } from "../helpers/accounts.ts";
import { ok, startApi, type Api } from "../helpers/api.ts";

/**
 *   olga  private profile; friends with fred; blocked bob; likes fred's post
 *   fred  public profile; friends with olga and ivy; blocked by kim; runs the public group
 *   ivy   friends-only profile; friends with fred; runs the private and secret groups
 *   stan  public profile; a stranger to all; asked to join the private group
 *   bob   public profile; blocked by olga; follows fred, likes and comments on fred's post
 *   kim   public profile; blocked fred; going to ivy's event, likes stan's post
 */
const PEOPLE = ["olga", "fred", "ivy", "stan", "bob", "kim"] as const;
type Person = (typeof PEOPLE)[number];
type Viewer = Person | "anonymous";
const VIEWERS: readonly Viewer[] = ["anonymous", ...PEOPLE];
const PRIVACY: Record<Person, string> = {
  olga: "private",
  fred: "public",
  ivy: "friends",
  stan: "public",
  bob: "public",
  kim: "public",
};

let api: Api;
const who = {} as Record<Person, TestAccount>;
const id = (p: Person): string => who[p].id;
const row: Record<string, string> = {};

async function insert(name: string, text: string, values: unknown[]): Promise<void> {
  const [r] = await api.sql<{ id: string }>(`${text} returning id`, values);
  row[name] = r!.id;
}

/** The world, written as the owner (no row-level security), then its counters recounted. */
async function buildWorld(): Promise<void> {
  for (const p of PEOPLE) who[p] = await api.register();
  for (const p of PEOPLE) {
    await api.sql(`update app_public.user_profiles set privacy_level = $2 where user_id = $1`, [
      id(p),
      PRIVACY[p],
    ]);
  }
  const friendship = (a: Person, b: Person, status: string): Promise<unknown> =>
    api.sql(
      `insert into app_public.friendships (requester_id, addressee_id, status) values ($1, $2, $3)`,
      [id(a), id(b), status],
    );
  await friendship("olga", "fred", "accepted");
  await friendship("ivy", "fred", "accepted");
  await friendship("olga", "bob", "blocked");
  await friendship("kim", "fred", "blocked");
  await friendship("stan", "ivy", "pending");
  for (const [a, b] of [
    ["stan", "olga"],
    ["bob", "fred"],
    ["olga", "fred"],
    ["fred", "ivy"],
    ["kim", "ivy"],
    ["ivy", "olga"],
    ["stan", "fred"],
  ] as const) {
    await api.sql(`insert into app_public.followers (follower_id, following_id) values ($1, $2)`, [
      id(a),
      id(b),
    ]);
  }

  const post = (name: string, author: Person, privacy: string, extra: Record<string, string> = {}) =>
    insert(
      name,
      `insert into app_public.posts (author_id, content, privacy_level, group_id, shared_post_id)
       values ($1, $2, $3, $4, $5)`,
      [id(author), name, privacy, extra.group ?? null, extra.shares ?? null],
    );
  await post("post.fred", "fred", "public");
  await post("post.stan", "stan", "public");
  await post("post.ivy_friends", "ivy", "friends");
  await post("share.stan", "stan", "public", { shares: row["post.fred"]! });
  await post("share.ivy_friends", "ivy", "friends", { shares: row["post.fred"]! });
  await post("share.olga_private", "olga", "private", { shares: row["post.fred"]! });

  const comment = (name: string, on: string, author: Person, parent?: string) =>
    insert(
      name,
      `insert into app_public.comments (post_id, author_id, content, parent_comment_id) values ($1, $2, $3, $4)`,
      [row[on], id(author), name, parent ? row[parent] : null],
    );
  await comment("c.bob", "post.fred", "bob");
  await comment("c.bob.stan", "post.fred", "stan", "c.bob"); // unreachable behind bob's comment
  await comment("c.stan", "post.fred", "stan");
  await comment("c.stan.fred", "post.fred", "fred", "c.stan");
  await comment("c.stan.bob", "post.fred", "bob", "c.stan");
  await comment("c.kim", "post.stan", "kim");
  await comment("c.olga", "post.stan", "olga");

  const like = (who_: Person, type: string, target: string) =>
    api.sql(`insert into app_public.likes (user_id, target_type, target_id) values ($1, $2, $3)`, [
      id(who_),
      type,
      row[target],
    ]);
  for (const p of ["olga", "bob", "stan", "ivy"] as const) await like(p, "post", "post.fred");
  for (const p of ["kim", "fred", "olga"] as const) await like(p, "post", "post.stan");
  for (const p of ["bob", "ivy", "olga"] as const) await like(p, "comment", "c.stan");
  await like("kim", "comment", "c.olga");

  const group = (name: string, type: string, admin: Person) =>
    insert(name, `insert into app_public.groups (name, group_type, created_by) values ($1, $2, $3)`, [
      name,
      type,
      id(admin),
    ]);
  await group("group.public", "public", "fred");
  await group("group.private", "private", "ivy");
  await group("group.secret", "secret", "ivy");
  const member = (g: string, p: Person, status = "active") =>
    api.sql(
      `insert into app_public.group_members (group_id, user_id, status) values ($1, $2, $3)`,
      [row[g], id(p), status],
    );
  for (const p of ["olga", "bob", "kim", "stan"] as const) await member("group.public", p);
  await member("group.private", "fred");
  await member("group.private", "stan", "pending");
  await member("group.secret", "kim");
  await post("post.in_public", "bob", "public", { group: row["group.public"]! });
  await post("post.in_public_friends", "olga", "friends", { group: row["group.public"]! });
  await post("post.in_public_private", "stan", "private", { group: row["group.public"]! });
  await post("post.in_private", "ivy", "public", { group: row["group.private"]! });
  await post("post.in_private_private", "fred", "private", { group: row["group.private"]! });

  const event = (name: string, by: Person, privacy: string) =>
    insert(
      name,
      `insert into app_public.events (title, start_date, privacy_level, created_by)
       values ($1, now() + interval '7 days', $2, $3)`,
      [name, privacy, id(by)],
    );
  await event("event.fred", "fred", "public");
  await event("event.ivy", "ivy", "friends");
  const rsvp = (e: string, p: Person, status: string) =>
    api.sql(`insert into app_public.event_attendees (event_id, user_id, status) values ($1, $2, $3)`, [
      row[e],
      id(p),
      status,
    ]);
  for (const p of ["olga", "bob", "stan"] as const) await rsvp("event.fred", p, "going");
  await rsvp("event.fred", "ivy", "maybe");
  for (const p of ["fred", "kim", "ivy"] as const) await rsvp("event.ivy", p, "going");

  // The worker's counters, as counters__recount sets them.
  for (const table of ["posts", "comments", "groups", "events"]) {
    await api.sql(`select app_private.recount($1, id) from app_public.${table}`, [table]);
  }
}

beforeAll(async () => {
  api = await startApi();
  await buildWorld();
});
afterAll(() => api.close());

type Nodes = { nodes: { id: string }[] };
type Item = Record<string, unknown> & { id: string };

/** Everything with a count this viewer can read, in four requests (each within the cost limit). */
const QUERIES = [
  /* GraphQL */ `{
    users(first: 20) {
      nodes {
        id
        friendCount
        friends(first: 20) { nodes { id } }
        followerCount
        followers(first: 20) { nodes { id } }
        followingCount
        following(first: 20) { nodes { id } }
      }
    }
  }`,
  /* GraphQL */ `{
    posts(first: 20) {
      nodes {
        id
        likesCount
        likers(first: 20) { nodes { id } }
        commentsCount
        comments(first: 10) {
          nodes { id likesCount repliesCount replies(first: 10) { nodes { id likesCount } } }
        }
        sharesCount
        shares(first: 10) { nodes { id } }
      }
    }
    likes(first: 50, condition: { targetType: "comment" }) { nodes { id targetId } }
  }`,
  /* GraphQL */ `{
    groups(first: 10) {
      nodes {
        id
        memberCount
        groupMembers(first: 20, condition: { status: "active" }) { nodes { id } }
        postCount
        posts(first: 20) { nodes { id } }
      }
    }
  }`,
  /* GraphQL */ `{
    events(first: 10) {
      nodes {
        id
        currentAttendees
        goingCount
        eventAttendees(first: 20, condition: { status: "going" }) { nodes { id } }
      }
    }
  }`,
];

interface Everything {
  users: { nodes: Item[] };
  posts: { nodes: Item[] };
  likes: { nodes: { id: string; targetId: string }[] };
  groups: { nodes: Item[] };
  events: { nodes: Item[] };
}

/** What a viewer reads: for each (count, list) pair, the subjects with their count and list. */
interface Reading {
  pair: string;
  subject: string;
  count: unknown;
  listed: number;
}

const length = (list: unknown): number => (list as Nodes).nodes.length;
const commentsOf = (post: Item): Item[] =>
  (post.comments as { nodes: Item[] }).nodes.flatMap((c) => [c, ...(c.replies as { nodes: Item[] }).nodes]);

/** The table: each count with the list it must agree with. */
function readings(data: Everything): Reading[] {
  const likesOf = (target: string): number =>
    data.likes.nodes.filter((l) => l.targetId === target).length;
  const out: Reading[] = [];
  const add = (pair: string, items: Item[], count: string, listed: (item: Item) => number) => {
    for (const item of items) out.push({ pair, subject: item.id, count: item[count], listed: listed(item) });
  };
  add("User.friendCount ~ friends", data.users.nodes, "friendCount", (u) => length(u.friends));
  add("User.followerCount ~ followers", data.users.nodes, "followerCount", (u) => length(u.followers));
  add("User.followingCount ~ following", data.users.nodes, "followingCount", (u) => length(u.following));
  add("Post.likesCount ~ likers", data.posts.nodes, "likesCount", (p) => length(p.likers));
  add("Post.commentsCount ~ comments and their replies", data.posts.nodes, "commentsCount", (p) =>
    commentsOf(p).length,
  );
  add("Post.sharesCount ~ shares", data.posts.nodes, "sharesCount", (p) => length(p.shares));
  const comments = data.posts.nodes.flatMap(commentsOf);
  add("Comment.likesCount ~ likes of it", comments, "likesCount", (c) => likesOf(c.id));
  add(
    "Comment.repliesCount ~ replies",
    data.posts.nodes.flatMap((p) => (p.comments as { nodes: Item[] }).nodes),
    "repliesCount",
    (c) => length(c.replies),
  );
  add("Group.memberCount ~ active groupMembers", data.groups.nodes, "memberCount", (g) =>
    length(g.groupMembers),
  );
  add("Group.postCount ~ posts", data.groups.nodes, "postCount", (g) => length(g.posts));
  add("Event.currentAttendees ~ going eventAttendees", data.events.nodes, "currentAttendees", (e) =>
    length(e.eventAttendees),
  );
  add("Event.goingCount ~ going eventAttendees", data.events.nodes, "goingCount", (e) =>
    length(e.eventAttendees),
  );
  return out;
}

async function readAs(viewer: Viewer): Promise<Reading[]> {
  const call = api.as(viewer === "anonymous" ? null : who[viewer]);
  const parts = await Promise.all(QUERIES.map(async (q) => ok<Partial<Everything>>(await call(q))));
  return readings(Object.assign({}, ...parts) as Everything);
}

/** A count disagrees when it is a number other than the list's length, or null beside a non-empty list. */
const disagreements = (rs: Reading[]): Reading[] =>
  rs.filter((r) => (r.count === null ? r.listed !== 0 : r.count !== r.listed));

describe("every count agrees with the list the same viewer reads", () => {
  it.each(VIEWERS)("as %s", async (viewer) => {
    const rs = await readAs(viewer);
    expect(disagreements(rs)).toEqual([]);
  });

  it("covers every pair, for viewers who see the list and (where it exists) for those who do not", async () => {
    const all = (await Promise.all(VIEWERS.map(readAs))).flat();
    const pairs = new Set(all.map((r) => r.pair));
    expect(pairs.size).toBe(12);
    for (const pair of pairs) {
      expect(all.some((r) => r.pair === pair && typeof r.count === "number" && r.count > 0)).toBe(true);
    }
  });
});

describe("the relations a viewer may not see stay out of the counts", () => {
  const user = `query ($id: UUID!) { user(id: $id) { friendCount followerCount followingCount friends { nodes { id } } } }`;
  const readUser = async (viewer: Viewer, subject: Person) =>
    ok<{ user: Record<string, unknown> | null }>(
      await api.as(viewer === "anonymous" ? null : who[viewer])(user, { id: id(subject) }),
    ).user;

  it("a private profile's friends are not counted for a stranger, nor for a visitor signed out", async () => {
    expect(await readUser("stan", "olga")).toEqual({
      friendCount: null,
      followerCount: 2,
      followingCount: 1,
      friends: { nodes: [] },
    });
    // signed out, olga's card is not there at all; fred's (public) friend list shows only
    // friends with a public profile, and follows are not shown
    expect(await readUser("anonymous", "olga")).toBeNull();
    expect(await readUser("anonymous", "fred")).toEqual({
      friendCount: 0,
      followerCount: null,
      followingCount: null,
      friends: { nodes: [] },
    });
  });

  it("whoever may see the friend list still reads its count", async () => {
    expect(await readUser("olga", "olga")).toMatchObject({ friendCount: 1 }); // private: hers alone
    expect(await readUser("fred", "olga")).toMatchObject({ friendCount: null });
    expect(await readUser("fred", "ivy")).toMatchObject({ friendCount: 1 }); // friends-only
    expect(await readUser("stan", "ivy")).toMatchObject({ friendCount: null });
  });

  it("across a block, the blocker reads no counts of the person they blocked", async () => {
    // bob follows fred: 1 before this fix, while `following` listed nobody
    expect(await readUser("olga", "bob")).toEqual({
      friendCount: null,
      followerCount: null,
      followingCount: null,
      friends: { nodes: [] },
    });
    expect(await readUser("bob", "olga")).toBeNull(); // and the blocked person does not see her
  });

  it("stored counters count what the viewer may not see; the API does not", async () => {
    const [stored] = await api.sql<Record<string, number>>(
      `select likes_count, comments_count, shares_count from app_public.posts where id = $1`,
      [row["post.fred"]],
    );
    expect(stored).toEqual({ likes_count: 4, comments_count: 5, shares_count: 3 });
    const post = `query ($id: UUID!) { post(id: $id) { likesCount commentsCount sharesCount } }`;
    const read = async (viewer: Viewer) =>
      ok<{ post: unknown }>(
        await api.as(viewer === "anonymous" ? null : who[viewer])(post, { id: row["post.fred"] }),
      ).post;
    // olga blocked bob: his like, his comment and reply, and stan's reply under bob's comment;
    // ivy's share is for her friends
    expect(await read("olga")).toEqual({ likesCount: 3, commentsCount: 2, sharesCount: 2 });
    // signed out: only likers with a public profile (bob, stan) are listed; only stan's share is public
    expect(await read("anonymous")).toEqual({ likesCount: 2, commentsCount: 5, sharesCount: 1 });
  });
});
