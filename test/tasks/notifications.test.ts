/**
 * Notifications: triggers queue events, `notifications__create` turns them into rows with the
 * rules (not to yourself, not across a block, mutes respected, each event once, likes and
 * messages coalesced) and every new or changed row is announced with pg_notify.
 */
import pg from "pg";

import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { startTestWorker, type TestWorker } from "../helpers/worker.ts";
import { ACTORS, asActor, buildWorld, type World } from "../helpers/world.ts";

let db: TestDatabase;
let worker: TestWorker;
let client: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase();
  worker = await startTestWorker(db);
  client = new pg.Client({ connectionString: db.ownerUrl });
  await client.connect();
});
afterAll(async () => {
  await client.end();
  await worker.close();
  await db.drop();
});

const sql = async <T = Record<string, unknown>>(
  text: string,
  values: unknown[] = [],
): Promise<T[]> => (await client.query(text, values)).rows as T[];
const one = async (text: string, values: unknown[] = []): Promise<string> =>
  (await sql<{ id: string }>(`${text} returning id`, values))[0]!.id;

/** Runs SQL as a signed-in user would (what current_user_id() reads), as the owner. */
async function asUser(userId: string, text: string, values: unknown[] = []): Promise<void> {
  await withClient(db.ownerUrl, async (c) => {
    await c.query("begin");
    await c.query(`select set_config('jwt.claims.user_id', $1, true)`, [userId]);
    await c.query(text, values);
    await c.query("commit");
  });
}

let counter = 0;
/** New users with a username and display name each (display name: the name capitalised). */
async function people<N extends string>(...names: N[]): Promise<Record<N, string>> {
  const ids = {} as Record<N, string>;
  counter += 1;
  for (const name of names) {
    const username = `u${counter}_${name}`;
    ids[name] = await one(`insert into app_public.users (email) values ($1)`, [
      `${username}@n.test`,
    ]);
    await sql(
      `insert into app_public.user_profiles (user_id, username, display_name) values ($1, $2, $3)`,
      [ids[name], username, name[0]!.toUpperCase() + name.slice(1)],
    );
  }
  return ids;
}

interface Row {
  notification_type: string;
  sender_id: string | null;
  title: string;
  message: string | null;
  action_url: string | null;
  priority: string;
  data: Record<string, unknown>;
  is_read: boolean;
}

async function notificationsOf(userId: string): Promise<Row[]> {
  await worker.idle(["notifications__create"]);
  return sql<Row>(
    `select notification_type, sender_id, title, message, action_url, priority, data, is_read
       from app_public.notifications where recipient_id = $1 order by created_at, id`,
    [userId],
  );
}

const username = async (id: string): Promise<string> =>
  (
    await sql<{ username: string }>(
      `select username from app_public.user_profiles where user_id = $1`,
      [id],
    )
  )[0]!.username;

describe("each notification type, filled the same way every time", () => {
  it("friend_request and friend_accepted", async () => {
    const { ana, ben } = await people("ana", "ben");
    const friendship = await one(
      `insert into app_public.friendships (requester_id, addressee_id, status) values ($1, $2, 'pending')`,
      [ana, ben],
    );
    expect(await notificationsOf(ben)).toEqual([
      {
        notification_type: "friend_request",
        sender_id: ana,
        title: "New friend request",
        message: "Ana wants to be your friend",
        action_url: "/friends/requests",
        priority: "normal",
        data: { actor_id: ana, friendship_id: friendship },
        is_read: false,
      },
    ]);
    await sql(`update app_public.friendships set status = 'accepted' where id = $1`, [friendship]);
    expect(await notificationsOf(ana)).toEqual([
      {
        notification_type: "friend_accepted",
        sender_id: ben,
        title: "Friend request accepted",
        message: "Ben accepted your friend request",
        action_url: `/users/${ben}`,
        priority: "normal",
        data: { actor_id: ben, friendship_id: friendship },
        is_read: false,
      },
    ]);
  });

  it("new_follower, once per follower even after unfollowing and following again", async () => {
    const { ana, ben } = await people("ana", "ben");
    await sql(`insert into app_public.followers (follower_id, following_id) values ($1, $2)`, [
      ana,
      ben,
    ]);
    await worker.idle(["notifications__create"]);
    await sql(`delete from app_public.followers where follower_id = $1`, [ana]);
    await sql(`insert into app_public.followers (follower_id, following_id) values ($1, $2)`, [
      ana,
      ben,
    ]);
    expect(await notificationsOf(ben)).toEqual([
      expect.objectContaining({
        notification_type: "new_follower",
        sender_id: ana,
        title: "New follower",
        message: "Ana started following you",
        action_url: `/users/${ana}`,
        priority: "low",
        data: { actor_id: ana },
      }),
    ]);
  });

  it("post_like, coalesced: five likers become one 'X and 4 others' notification", async () => {
    const { ana, b, c, d, e, f } = await people("ana", "b", "c", "d", "e", "f");
    const post = await one(
      `insert into app_public.posts (author_id, content) values ($1, 'likeable')`,
      [ana],
    );
    for (const liker of [b, c]) {
      await sql(
        `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
        [liker, post],
      );
    }
    await worker.idle(["notifications__create"]); // a separate job from the next likes
    for (const liker of [d, e, f]) {
      await sql(
        `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
        [liker, post],
      );
    }
    const rows = await notificationsOf(ana);
    expect(rows).toHaveLength(1);
    expect(rows[0]).toMatchObject({
      notification_type: "post_like",
      sender_id: f,
      title: "New likes",
      message: "F and 4 others liked your post",
      action_url: `/posts/${post}`,
      priority: "low",
      data: { post_id: post, actor_id: f, group_key: post, count: 5 },
    });
    expect(new Set(rows[0]!.data.actors as string[])).toEqual(new Set([b, c, d, e, f]));

    // once read, the next like starts a new notification
    await sql(
      `update app_public.notifications set is_read = true, read_at = now() where recipient_id = $1`,
      [ana],
    );
    const { g } = await people("g");
    await sql(
      `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
      [g, post],
    );
    const after = await notificationsOf(ana);
    expect(after.map((r) => [r.is_read, r.message])).toEqual([
      [true, "F and 4 others liked your post"],
      [false, "G liked your post"],
    ]);
  });

  it("comment_like, coalesced per comment", async () => {
    const { ana, ben, cid } = await people("ana", "ben", "cid");
    const post = await one(`insert into app_public.posts (author_id, content) values ($1, 'p')`, [
      ben,
    ]);
    const comment = await one(
      `insert into app_public.comments (post_id, author_id, content) values ($1, $2, 'c')`,
      [post, ana],
    );
    await worker.idle(["notifications__create"]);
    for (const liker of [ben, cid]) {
      await sql(
        `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'comment', $2)`,
        [liker, comment],
      );
    }
    expect(await notificationsOf(ana)).toEqual([
      expect.objectContaining({
        notification_type: "comment_like",
        sender_id: cid,
        message: "Cid and 1 other liked your comment",
        action_url: `/posts/${post}#comment-${comment}`,
        priority: "low",
        data: expect.objectContaining({ post_id: post, comment_id: comment, count: 2 }),
      }),
    ]);
  });

  it("post_comment to the post's author and comment_reply to the replied-to author, never both to one person", async () => {
    const { ana, ben, cid } = await people("ana", "ben", "cid");
    const post = await one(`insert into app_public.posts (author_id, content) values ($1, 'p')`, [
      ana,
    ]);
    const first = await one(
      `insert into app_public.comments (post_id, author_id, content) values ($1, $2, 'first')`,
      [post, ben],
    );
    const reply = await one(
      `insert into app_public.comments (post_id, author_id, content, parent_comment_id) values ($1, $2, 'reply', $3)`,
      [post, cid, first],
    );
    // ana replies to her own post's comment: ben hears of the reply; ana is not told of her own
    const own = await one(
      `insert into app_public.comments (post_id, author_id, content, parent_comment_id) values ($1, $2, 'thanks', $3)`,
      [post, ana, first],
    );
    // one job per comment, run concurrently: in any order
    const toAna = await notificationsOf(ana);
    expect(toAna).toHaveLength(2);
    expect(toAna).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          notification_type: "post_comment",
          sender_id: ben,
          title: "New comment",
          message: "Ben commented on your post",
          action_url: `/posts/${post}#comment-${first}`,
          priority: "normal",
          data: { actor_id: ben, post_id: post, comment_id: first },
        }),
        expect.objectContaining({ notification_type: "post_comment", sender_id: cid }),
      ]),
    );
    const toBen = await notificationsOf(ben);
    expect(toBen).toHaveLength(2);
    expect(toBen).toEqual(
      expect.arrayContaining([
        expect.objectContaining({
          notification_type: "comment_reply",
          sender_id: cid,
          title: "New reply",
          message: "Cid replied to your comment",
          action_url: `/posts/${post}#comment-${reply}`,
          data: { actor_id: cid, post_id: post, comment_id: reply, parent_comment_id: first },
        }),
        expect.objectContaining({
          notification_type: "comment_reply",
          sender_id: ana,
          data: expect.objectContaining({ comment_id: own }),
        }),
      ]),
    );
  });

  it("group_join_request to admins and moderators, group_request_approved, group_invite", async () => {
    const { admin, mod, member, asker, guest } = await people(
      "admin",
      "mod",
      "member",
      "asker",
      "guest",
    );
    const group = await one(
      `insert into app_public.groups (name, group_type, created_by) values ('Knitters', 'private', $1)`,
      [admin],
    );
    await sql(
      `insert into app_public.group_members (group_id, user_id, role, status) values ($1, $2, 'moderator', 'active'), ($1, $3, 'member', 'active')`,
      [group, mod, member],
    );
    const request = await one(
      `insert into app_public.group_members (group_id, user_id, status) values ($1, $2, 'pending')`,
      [group, asker],
    );
    for (const boss of [admin, mod]) {
      expect(await notificationsOf(boss)).toEqual([
        {
          notification_type: "group_join_request",
          sender_id: asker,
          title: "Request to join Knitters",
          message: "Asker asked to join Knitters",
          action_url: `/groups/${group}/requests`,
          priority: "normal",
          data: { actor_id: asker, group_id: group, member_id: request },
          is_read: false,
        },
      ]);
    }
    expect(await notificationsOf(member)).toEqual([]);

    await asUser(mod, `update app_public.group_members set status = 'active' where id = $1`, [
      request,
    ]);
    expect(await notificationsOf(asker)).toEqual([
      expect.objectContaining({
        notification_type: "group_request_approved",
        sender_id: mod,
        title: "Welcome to Knitters",
        message: "Your request to join Knitters was approved",
        action_url: `/groups/${group}`,
        data: { actor_id: mod, group_id: group },
      }),
    ]);

    const invitation = await one(
      `insert into app_public.group_members (group_id, user_id, status, invited_by) values ($1, $2, 'pending', $3)`,
      [group, guest, member],
    );
    expect(await notificationsOf(guest)).toEqual([
      expect.objectContaining({
        notification_type: "group_invite",
        sender_id: member,
        title: "Invitation to Knitters",
        message: "Member invited you to join Knitters",
        action_url: `/groups/${group}`,
        data: { actor_id: member, group_id: group, member_id: invitation },
      }),
    ]);
    // the invitation is not a join request: admins hear nothing more
    expect(await notificationsOf(admin)).toHaveLength(1);
  });

  it("event_rsvp to the organiser (going and maybe, not 'not going'), event_cancelled to everyone going or maybe", async () => {
    const { host, yes, maybe, no } = await people("host", "yes", "maybe", "no");
    const event = await one(
      `insert into app_public.events (title, start_date, created_by) values ('Picnic', now() + interval '2 days', $1)`,
      [host],
    );
    await sql(
      `insert into app_public.event_attendees (event_id, user_id, status) values ($1, $2, 'going'), ($1, $3, 'maybe'), ($1, $4, 'not_going')`,
      [event, yes, maybe, no],
    );
    // one job per answer, run concurrently: sorted by text here
    const rsvps = (await notificationsOf(host)).sort((a, b) =>
      a.message!.localeCompare(b.message!),
    );
    expect(rsvps.map((r) => [r.notification_type, r.sender_id, r.message, r.priority])).toEqual([
      ["event_rsvp", maybe, "Maybe might come to Picnic", "low"],
      ["event_rsvp", yes, "Yes is going to Picnic", "low"],
    ]);
    expect(rsvps[1]).toMatchObject({
      title: "New answer to Picnic",
      action_url: `/events/${event}`,
      data: { actor_id: yes, event_id: event, status: "going" },
    });

    await sql(`update app_public.events set is_cancelled = true where id = $1`, [event]);
    for (const guest of [yes, maybe]) {
      expect(await notificationsOf(guest)).toEqual([
        expect.objectContaining({
          notification_type: "event_cancelled",
          sender_id: host,
          title: "Picnic is cancelled",
          message: "Host cancelled Picnic",
          action_url: `/events/${event}`,
          priority: "high",
          data: { actor_id: host, event_id: event },
        }),
      ]);
    }
    expect(await notificationsOf(no)).toEqual([]);
    expect(await notificationsOf(host)).toHaveLength(2);
  });

  it("message: high priority, coalesced per conversation, not to the sender, not when muted, not after leaving", async () => {
    const { ana, ben, cid, dan, eve } = await people("ana", "ben", "cid", "dan", "eve");
    const chat = await one(
      `insert into app_public.conversations (conversation_type, title, created_by) values ('group', 'Chat', $1)`,
      [ana],
    );
    await sql(
      `insert into app_public.conversation_participants (conversation_id, user_id, is_muted, left_at)
       values ($1, $2, false, null), ($1, $3, true, null), ($1, $4, false, now())
       on conflict do nothing`,
      [chat, ben, cid, dan],
    );
    await sql(
      `insert into app_public.conversation_participants (conversation_id, user_id) values ($1, $2) on conflict do nothing`,
      [chat, ana],
    );
    await sql(
      `insert into app_public.conversation_participants (conversation_id, user_id) values ($1, $2)`,
      [chat, eve],
    );
    const first = await one(
      `insert into app_public.messages (conversation_id, sender_id, content) values ($1, $2, 'one')`,
      [chat, ana],
    );
    await one(
      `insert into app_public.messages (conversation_id, sender_id, content) values ($1, $2, 'two')`,
      [chat, ana],
    );
    await one(
      `insert into app_public.messages (conversation_id, sender_id, content) values ($1, $2, 'three')`,
      [chat, eve],
    );
    const toBen = await notificationsOf(ben);
    expect(toBen).toHaveLength(1);
    expect(toBen[0]).toMatchObject({
      notification_type: "message",
      sender_id: eve,
      title: "New messages",
      message: "Eve and 1 other sent you a message",
      action_url: `/conversations/${chat}`,
      priority: "high",
      data: { conversation_id: chat, count: 2 },
    });
    expect(await notificationsOf(eve)).toEqual([
      expect.objectContaining({
        notification_type: "message",
        sender_id: ana,
        message: "Ana sent you a message",
      }),
    ]);
    expect((await notificationsOf(ana)).map((r) => r.message)).toEqual(["Eve sent you a message"]);
    expect(await notificationsOf(cid)).toEqual([]); // muted
    expect(await notificationsOf(dan)).toEqual([]); // left
    expect(first).toBeDefined();
  });
});

describe("@mentions", () => {
  it("notifies each existing, mentioned user once, and only those who can see the post", async () => {
    const { ana, bea, cal, fay } = await people("ana", "bea", "cal", "fay");
    const [b, c, f] = [await username(bea), await username(cal), await username(fay)];
    await sql(
      `insert into app_public.friendships (requester_id, addressee_id, status) values ($1, $2, 'accepted')`,
      [ana, fay],
    );
    const post = await one(
      `insert into app_public.posts (author_id, content, privacy_level) values ($1, $2, 'public')`,
      [
        ana,
        `hi @${b} and @${b.toUpperCase()} again, @nobody_here, mail@${c}.com, @${await username(ana)}`,
      ],
    );
    expect(await notificationsOf(bea)).toEqual([
      {
        notification_type: "mention",
        sender_id: ana,
        title: "You were mentioned",
        message: "Ana mentioned you in a post",
        action_url: `/posts/${post}`,
        priority: "normal",
        data: { actor_id: ana, post_id: post },
        is_read: false,
      },
    ]);
    expect(await notificationsOf(cal)).toEqual([]); // an e-mail address is not a mention
    expect(await notificationsOf(ana)).toEqual([]); // mentioning yourself

    // a friends-only post: fay (a friend) is told, cal (a stranger) is not
    await one(
      `insert into app_public.posts (author_id, content, privacy_level) values ($1, $2, 'friends')`,
      [ana, `@${f} @${c}`],
    );
    const toFay = (await notificationsOf(fay)).filter((r) => r.notification_type === "mention");
    expect(toFay.map((r) => r.message)).toEqual(["Ana mentioned you in a post"]);
    expect(await notificationsOf(cal)).toEqual([]);
  });

  it("in comments: the mentioned user hears of it once; the post's author is not told twice", async () => {
    const { ana, bea, cal } = await people("ana", "bea", "cal");
    const post = await one(`insert into app_public.posts (author_id, content) values ($1, 'p')`, [
      ana,
    ]);
    const comment = await one(
      `insert into app_public.comments (post_id, author_id, content) values ($1, $2, $3)`,
      [post, bea, `@${await username(cal)} look, and @${await username(ana)}`],
    );
    expect(await notificationsOf(cal)).toEqual([
      expect.objectContaining({
        notification_type: "mention",
        sender_id: bea,
        message: "Bea mentioned you in a comment",
        action_url: `/posts/${post}#comment-${comment}`,
        data: { actor_id: bea, post_id: post, comment_id: comment },
      }),
    ]);
    expect((await notificationsOf(ana)).map((r) => r.notification_type)).toEqual(["post_comment"]);
  });

  it("mentioned_user_ids parses usernames: existing ones only, case-insensitive, each once", async () => {
    const { ana, bea } = await people("ana", "bea");
    const [a, b] = [await username(ana), await username(bea)];
    const ids = await sql<{ id: string }>(
      `select app_private.mentioned_user_ids($1) as id order by 1`,
      [`@${a}, @${a.toUpperCase()}! (@${b}) @x @ghost_user x@${a} @@${b}`],
    );
    expect(ids.map((r) => r.id).sort()).toEqual([ana, bea].sort());
  });
});

describe("the rules", () => {
  it("never notifies you about yourself", async () => {
    const { ana } = await people("ana");
    const post = await one(
      `insert into app_public.posts (author_id, content) values ($1, 'mine')`,
      [ana],
    );
    await sql(
      `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
      [ana, post],
    );
    await one(
      `insert into app_public.comments (post_id, author_id, content) values ($1, $2, 'me too')`,
      [post, ana],
    );
    expect(await notificationsOf(ana)).toEqual([]);
  });

  it("never notifies across a block, whichever side blocked", async () => {
    const { ana, ben, cid } = await people("ana", "ben", "cid");
    await sql(
      `insert into app_public.friendships (requester_id, addressee_id, status) values ($1, $2, 'blocked'), ($3, $1, 'blocked')`,
      [ana, ben, cid],
    );
    const post = await one(`insert into app_public.posts (author_id, content) values ($1, 'p')`, [
      ana,
    ]);
    for (const other of [ben, cid]) {
      await sql(
        `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
        [other, post],
      );
      await sql(`insert into app_public.followers (follower_id, following_id) values ($1, $2)`, [
        other,
        ana,
      ]);
    }
    const benPost = await one(
      `insert into app_public.posts (author_id, content) values ($1, 'b')`,
      [ben],
    );
    await one(
      `insert into app_public.comments (post_id, author_id, content) values ($1, $2, 'hey')`,
      [benPost, ana],
    );
    expect(await notificationsOf(ana)).toEqual([]);
    expect(await notificationsOf(ben)).toEqual([]);
    expect(await notificationsOf(cid)).toEqual([]);
  });

  it("creates nothing twice for one event (a retried job), and counts no liker twice", async () => {
    const { ana, ben } = await people("ana", "ben");
    const friendship = await one(
      `insert into app_public.friendships (requester_id, addressee_id, status) values ($1, $2, 'pending')`,
      [ana, ben],
    );
    const post = await one(`insert into app_public.posts (author_id, content) values ($1, 'p')`, [
      ben,
    ]);
    const like = await one(
      `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
      [ana, post],
    );
    expect(await notificationsOf(ben)).toHaveLength(2);
    const again = await sql<{ changed: number }>(
      `select app_private.notify($1) + app_private.notify($2) as changed`,
      [
        { type: "friend_request", friendship_id: friendship },
        { type: "like", like_id: like },
      ],
    );
    expect(again).toEqual([{ changed: 0 }]);
    const rows = await notificationsOf(ben);
    expect(rows).toHaveLength(2);
    expect(rows.find((r) => r.notification_type === "post_like")!.data).toMatchObject({
      count: 1,
      actors: [ana],
    });
  });

  it("announces each new or changed notification on the recipient's channel", async () => {
    const { ana, ben } = await people("ana", "ben");
    const listener = new pg.Client({ connectionString: db.ownerUrl });
    await listener.connect();
    try {
      await listener.query(`listen ${pg.escapeIdentifier(`user:${ben}:notifications`)}`);
      const heard = new Promise<pg.Notification>((resolve) =>
        listener.once("notification", resolve),
      );
      await sql(`insert into app_public.followers (follower_id, following_id) values ($1, $2)`, [
        ana,
        ben,
      ]);
      const message = await heard;
      const [row] = await sql<{ id: string }>(
        `select id from app_public.notifications where recipient_id = $1`,
        [ben],
      );
      expect(JSON.parse(message.payload!)).toEqual({ id: row!.id, op: "insert" });
    } finally {
      await listener.end();
    }
  });
});

describe("app_hidden.post_visible_to", () => {
  let world: World;
  beforeAll(async () => {
    const other = await createTestDatabase();
    try {
      world = await buildWorld(other.ownerUrl);
      // compare in that database: the worker's rule against the API's row-level security
      await withClient(other.superuserUrl, async (c) => {
        const posts = (await c.query<{ id: string }>(`select id from app_public.posts`)).rows.map(
          (r) => r.id,
        );
        for (const actor of ACTORS.filter((a) => a !== "anonymous")) {
          const userId = world.user[actor as Exclude<typeof actor, "anonymous">];
          const byRule = (
            await c.query<{ id: string }>(
              `select id from app_public.posts where app_hidden.post_visible_to(id, $1) order by id`,
              [userId],
            )
          ).rows.map((r) => r.id);
          const byPolicy = await asActor(c, world, actor, async () =>
            (
              await c.query<{ id: string }>(
                `select id from app_public.posts where deleted_at is null order by id`,
              )
            ).rows.map((r) => r.id),
          );
          results.push({ actor, posts: posts.length, byRule, byPolicy });
        }
      });
    } finally {
      await other.drop();
    }
  });
  const results: { actor: string; posts: number; byRule: string[]; byPolicy: string[] }[] = [];

  it("agrees with the posts policy for every person of the policy world and every post", () => {
    expect(results).toHaveLength(ACTORS.length - 1);
    for (const r of results) {
      expect({ actor: r.actor, visible: r.byRule }).toEqual({
        actor: r.actor,
        visible: r.byPolicy,
      });
      expect(r.byRule.length).toBeLessThan(r.posts); // nobody sees everything: the check has teeth
    }
  });
});
