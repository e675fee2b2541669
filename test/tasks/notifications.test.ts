/**
 * Notifications: triggers queue events (one job each), `notifications__create` turns them into
 * rows with the rules (not to yourself, not across a block, muted conversations skipped, each
 * event once even after a read, likes and messages coalesced, also by concurrent jobs) and
 * every new or changed row is announced with pg_notify.
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
    // one job per like, run concurrently: the last one handled is named
    const last = rows[0]!.sender_id!;
    expect([d, e, f]).toContain(last);
    const named = { [d]: "D", [e]: "E", [f]: "F" }[last];
    expect(rows[0]).toMatchObject({
      notification_type: "post_like",
      title: "New likes",
      message: `${named} and 4 others liked your post`,
      action_url: `/posts/${post}`,
      priority: "low",
      data: { post_id: post, actor_id: last, group_key: post, count: 5 },
    });
    expect(rows[0]!.data.actors).toHaveLength(5);
    expect((rows[0]!.data.actors as string[])[0]).toBe(last); // newest first
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
      [true, `${named} and 4 others liked your post`],
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
    const [row, ...more] = await notificationsOf(ana);
    expect(more).toEqual([]);
    const named = row!.sender_id === ben ? "Ben" : "Cid"; // the later of two concurrent jobs
    expect(row).toEqual(
      expect.objectContaining({
        notification_type: "comment_like",
        message: `${named} and 1 other liked your comment`,
        action_url: `/posts/${post}#comment-${comment}`,
        priority: "low",
        data: expect.objectContaining({
          post_id: post,
          comment_id: comment,
          group_key: comment,
          count: 2,
          actor_id: row!.sender_id,
        }),
      }),
    );
    expect(new Set(row!.data.actors as string[])).toEqual(new Set([ben, cid]));
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

  it("event_rsvp and event_cancelled fit a 200-character event title into the 200-character title", async () => {
    const { host, guest } = await people("host", "guest");
    const title = "A".repeat(150) + " " + "B".repeat(49); // 200 characters, the longest allowed
    const event = await one(
      `insert into app_public.events (title, start_date, created_by) values ($1, now() + interval '2 days', $2)`,
      [title, host],
    );
    const rsvp = worker.nextCompletion("notifications__create");
    await sql(
      `insert into app_public.event_attendees (event_id, user_id, status) values ($1, $2, 'going')`,
      [event, guest],
    );
    expect((await rsvp).error).toBeUndefined(); // not "value too long", retried ten times
    const [answer] = await notificationsOf(host);
    expect(answer!.title).toHaveLength(200);
    expect(answer!.title).toBe(`New answer to ${title.slice(0, 185)}…`);
    expect(answer!.message).toBe(`Guest is going to ${title}`); // the message is not limited

    const cancelled = worker.nextCompletion("notifications__create");
    await sql(`update app_public.events set is_cancelled = true where id = $1`, [event]);
    expect((await cancelled).error).toBeUndefined();
    const [notice] = await notificationsOf(guest);
    expect(notice!.title).toHaveLength(200);
    expect(notice!.title).toBe(`${"A".repeat(150)} ${"B".repeat(35)}… is cancelled`);
    expect(notice!.message).toBe(`Host cancelled ${title}`);
  });

  it("names a user without a profile 'Someone' rather than leaving the message empty", async () => {
    const { ana } = await people("ana");
    // an account with no user_profiles row, as seeded and admin accounts can be
    const nameless = await one(`insert into app_public.users (email) values ($1)`, [
      `nameless_${ana}@n.test`,
    ]);
    await sql(`insert into app_public.followers (follower_id, following_id) values ($1, $2)`, [
      nameless,
      ana,
    ]);
    const post = await one(`insert into app_public.posts (author_id, content) values ($1, 'p')`, [
      ana,
    ]);
    await sql(
      `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
      [nameless, post],
    );
    expect(
      (await notificationsOf(ana)).map((r) => [r.notification_type, r.message]).sort(),
    ).toEqual([
      ["new_follower", "Someone started following you"],
      ["post_like", "Someone liked your post"],
    ]);
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
    const second = await one(
      `insert into app_public.messages (conversation_id, sender_id, content) values ($1, $2, 'two')`,
      [chat, ana],
    );
    await worker.idle(["notifications__create"]); // one job per message: settle before eve's
    const third = await one(
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
      data: {
        conversation_id: chat,
        message_id: third,
        group_key: chat,
        count: 2,
        actors: [eve, ana],
      },
    });
    expect(await notificationsOf(eve)).toEqual([
      expect.objectContaining({
        notification_type: "message",
        sender_id: ana,
        message: "Ana sent you a message",
        data: expect.objectContaining({ count: 1, actors: [ana] }),
      }),
    ]);
    // two jobs, concurrently: the notification names the message handled last
    expect([first, second]).toContain((await notificationsOf(eve))[0]!.data.message_id);
    expect((await notificationsOf(ana)).map((r) => r.message)).toEqual(["Eve sent you a message"]);
    expect(await notificationsOf(cid)).toEqual([]); // muted
    expect(await notificationsOf(dan)).toEqual([]); // left
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

  it("an edited comment notifies only the users it newly mentions, as an edited post does", async () => {
    const { ana, bea, cal, dan } = await people("ana", "bea", "cal", "dan");
    const [c, d] = [await username(cal), await username(dan)];
    const post = await one(`insert into app_public.posts (author_id, content) values ($1, 'p')`, [
      ana,
    ]);
    const comment = await one(
      `insert into app_public.comments (post_id, author_id, content) values ($1, $2, $3)`,
      [post, bea, `hello @${c}`],
    );
    expect((await notificationsOf(cal)).map((r) => r.message)).toEqual([
      "Bea mentioned you in a comment",
    ]);
    await sql(`update app_public.comments set content = $2 where id = $1`, [
      comment,
      `hello @${c} and @${d} (and @${await username(ana)})`,
    ]);
    expect(await notificationsOf(dan)).toEqual([
      expect.objectContaining({
        notification_type: "mention",
        sender_id: bea,
        message: "Bea mentioned you in a comment",
        action_url: `/posts/${post}#comment-${comment}`,
        data: { actor_id: bea, post_id: post, comment_id: comment },
      }),
    ]);
    expect(await notificationsOf(cal)).toHaveLength(1); // already told
    expect((await notificationsOf(ana)).map((r) => r.notification_type)).toEqual(["post_comment"]);
    // an edit is not a new comment: nobody hears of it again as one
    await sql(`update app_public.comments set content = 'no mentions now' where id = $1`, [
      comment,
    ]);
    expect(await notificationsOf(ana)).toHaveLength(1);
    expect(await notificationsOf(dan)).toHaveLength(1);
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

  it("never notifies across a block, whichever side blocked (and does between the unblocked)", async () => {
    const { ana, ben, cid, dan } = await people("ana", "ben", "cid", "dan");
    await sql(
      `insert into app_public.friendships (requester_id, addressee_id, status) values ($1, $2, 'blocked'), ($3, $1, 'blocked')`,
      [ana, ben, cid],
    );
    const post = await one(`insert into app_public.posts (author_id, content) values ($1, 'p')`, [
      ana,
    ]);
    // dan, whom nobody blocked, does exactly what ben and cid do: the positive control
    for (const other of [ben, cid, dan]) {
      await sql(
        `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
        [other, post],
      );
      await sql(`insert into app_public.followers (follower_id, following_id) values ($1, $2)`, [
        other,
        ana,
      ]);
    }
    for (const author of [ben, dan]) {
      const theirs = await one(
        `insert into app_public.posts (author_id, content) values ($1, 'b')`,
        [author],
      );
      await one(
        `insert into app_public.comments (post_id, author_id, content) values ($1, $2, 'hey')`,
        [theirs, ana],
      );
    }
    const toAna = await notificationsOf(ana);
    expect(toAna.map((r) => [r.notification_type, r.sender_id]).sort()).toEqual([
      ["new_follower", dan],
      ["post_like", dan],
    ]);
    expect(toAna.find((r) => r.notification_type === "post_like")!.data).toMatchObject({
      count: 1,
      actors: [dan],
    });
    expect((await notificationsOf(dan)).map((r) => [r.notification_type, r.sender_id])).toEqual([
      ["post_comment", ana],
    ]);
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

  it("handles a like or a message event once, even when it comes again after the notification was read", async () => {
    const { ana, ben } = await people("ana", "ben");
    const post = await one(`insert into app_public.posts (author_id, content) values ($1, 'p')`, [
      ben,
    ]);
    const like = await one(
      `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
      [ana, post],
    );
    const chat = await one(
      `insert into app_public.conversations (conversation_type, created_by) values ('direct', $1)`,
      [ana],
    );
    await sql(
      `insert into app_public.conversation_participants (conversation_id, user_id) values ($1, $2), ($1, $3) on conflict do nothing`,
      [chat, ana, ben],
    );
    const message = await one(
      `insert into app_public.messages (conversation_id, sender_id, content) values ($1, $2, 'hi')`,
      [chat, ana],
    );
    expect((await notificationsOf(ben)).map((r) => r.notification_type).sort()).toEqual([
      "message",
      "post_like",
    ]);
    // ben reads them; then the same events are delivered again (at least once)
    await sql(
      `update app_public.notifications set is_read = true, read_at = now() where recipient_id = $1`,
      [ben],
    );
    const again = await sql<{ changed: number }>(
      `select app_private.notify($1) + app_private.notify($2) as changed`,
      [
        { type: "like", like_id: like },
        { type: "message", message_id: message },
      ],
    );
    expect(again).toEqual([{ changed: 0 }]);
    expect(
      (await notificationsOf(ben)).map((r) => [r.notification_type, r.is_read]).sort(),
    ).toEqual([
      ["message", true],
      ["post_like", true],
    ]);
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

  it("announces a coalesced update too: a second liker, and a repeat message with its id", async () => {
    const { ana, ben, cid } = await people("ana", "ben", "cid");
    const post = await one(`insert into app_public.posts (author_id, content) values ($1, 'p')`, [
      ben,
    ]);
    const chat = await one(
      `insert into app_public.conversations (conversation_type, created_by) values ('direct', $1)`,
      [ana],
    );
    await sql(
      `insert into app_public.conversation_participants (conversation_id, user_id) values ($1, $2), ($1, $3) on conflict do nothing`,
      [chat, ana, ben],
    );
    await sql(
      `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
      [ana, post],
    );
    const first = await one(
      `insert into app_public.messages (conversation_id, sender_id, content) values ($1, $2, 'one')`,
      [chat, ana],
    );
    const before = await notificationsOf(ben);
    expect(before.map((r) => r.notification_type).sort()).toEqual(["message", "post_like"]);
    const byType = Object.fromEntries(before.map((r) => [r.notification_type, r]));
    expect(byType.message!.data.message_id).toBe(first);
    const ids = await sql<{ id: string; notification_type: string; created_at: Date }>(
      `select id, notification_type, created_at from app_public.notifications where recipient_id = $1`,
      [ben],
    );
    const idOf = Object.fromEntries(ids.map((r) => [r.notification_type, r.id]));

    const listener = new pg.Client({ connectionString: db.ownerUrl });
    await listener.connect();
    const heard: unknown[] = [];
    listener.on("notification", (n) => heard.push(JSON.parse(n.payload!)));
    try {
      await listener.query(`listen ${pg.escapeIdentifier(`user:${ben}:notifications`)}`);
      await sql(
        `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
        [cid, post],
      );
      const second = await one(
        `insert into app_public.messages (conversation_id, sender_id, content) values ($1, $2, 'two')`,
        [chat, ana],
      );
      const after = await notificationsOf(ben);
      await listener.query("select 1"); // notifications sent at commit arrive before this answer
      expect(new Set(heard.map((h) => JSON.stringify(h)))).toEqual(
        new Set([
          JSON.stringify({ id: idOf.post_like, op: "update" }),
          JSON.stringify({ id: idOf.message, op: "update" }),
        ]),
      );
      expect(after).toHaveLength(2);
      const message = after.find((r) => r.notification_type === "message")!;
      expect(message).toMatchObject({
        sender_id: ana,
        message: "Ana sent you a message", // one sender, however many messages
        data: { message_id: second, actors: [ana], count: 1 },
      });
      const [moved] = await sql<{ created_at: Date }>(
        `select created_at from app_public.notifications where id = $1`,
        [idOf.message],
      );
      expect(moved!.created_at.getTime()).toBeGreaterThan(
        ids.find((r) => r.notification_type === "message")!.created_at.getTime(),
      );
      expect(after.find((r) => r.notification_type === "post_like")).toMatchObject({
        sender_id: cid,
        message: "Cid and 1 other liked your post",
      });
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

describe("coalescing under concurrency", () => {
  // a database of its own with no worker: the test plays two notification jobs by hand
  let quiet: TestDatabase;
  beforeAll(async () => (quiet = await createTestDatabase()));
  afterAll(() => quiet.drop());

  it("two jobs about the same post never start two notifications (the second waits for the first)", async () => {
    const q = (text: string, values: unknown[] = []) =>
      withClient(quiet.ownerUrl, async (c) => (await c.query(text, values)).rows);
    const [author, b, c] = (
      (await q(
        `insert into app_public.users (email) select gen_random_uuid() || '@race.test' from generate_series(1, 3) returning id`,
      )) as { id: string }[]
    ).map((r) => r.id) as [string, string, string];
    const [{ id: post }] = (await q(
      `insert into app_public.posts (author_id, content) values ($1, 'p') returning id`,
      [author],
    )) as [{ id: string }];
    const likes = (
      (await q(
        `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $3), ($2, 'post', $3) returning id`,
        [b, c, post],
      )) as { id: string }[]
    ).map((r) => r.id);

    const first = new pg.Client({ connectionString: quiet.ownerUrl });
    const second = new pg.Client({ connectionString: quiet.ownerUrl });
    await first.connect();
    await second.connect();
    try {
      await first.query("begin");
      await first.query(`select app_private.notify($1)`, [{ type: "like", like_id: likes[0] }]);
      await second.query("begin");
      const [{ pid }] = (await second.query(`select pg_backend_pid() as pid`)).rows as [
        { pid: number },
      ];
      let settled = false;
      const running = second
        .query(`select app_private.notify($1)`, [{ type: "like", like_id: likes[1] }])
        .finally(() => (settled = true));
      // until the second job either waits for the first one's lock or has finished without waiting
      for (;;) {
        const waiting = await q(
          `select 1 from pg_stat_activity where pid = $1 and wait_event_type = 'Lock'`,
          [pid],
        );
        if (waiting.length > 0 || settled) break;
        await new Promise((resolve) => setTimeout(resolve, 20));
      }
      expect(settled).toBe(false); // it waits: it cannot see the first job's uncommitted row
      await first.query("commit");
      await running;
      await second.query("commit");
    } finally {
      await first.end();
      await second.end();
    }
    const rows = (await q(
      `select notification_type, data from app_public.notifications where recipient_id = $1`,
      [author],
    )) as { notification_type: string; data: { count: number; actors: string[] } }[];
    expect(rows).toHaveLength(1);
    expect(rows[0]!.data.count).toBe(2);
    expect(rows[0]!.data.actors).toEqual([c, b]);
  });
});
