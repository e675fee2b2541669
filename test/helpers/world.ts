/**
 * A small social world with one of everything, built as the owner (no RLS), for policy tests:
 *
 *   olga   the owner of most things: posts of every privacy, events, a direct chat with fred
 *   fred   olga's accepted friend
 *   stan   a stranger to olga (asked her to be friends; follows her; wants into the private group)
 *   bob    blocked by olga
 *   ada    admin of three groups (public, private, secret) and of a group chat
 *   mia    an active member of the three groups, with a private profile
 */
import pg from "pg";

export const ACTORS = ["anonymous", "olga", "fred", "stan", "bob", "ada", "mia"] as const;
export type Actor = (typeof ACTORS)[number];
export type Person = Exclude<Actor, "anonymous">;

export interface World {
  user: Record<Person, string>;
  /** Fixture rows by name, e.g. `post.friends`. */
  row: Record<string, string>;
}

export async function buildWorld(ownerUrl: string): Promise<World> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  const row: Record<string, string> = {};
  const one = async (text: string, values: unknown[]): Promise<string> =>
    (await client.query<{ id: string }>(text + " returning id", values)).rows[0]!.id;

  try {
    const user = {} as Record<Person, string>;
    const privacy: Record<Person, string> = {
      olga: "friends",
      fred: "public",
      stan: "public",
      bob: "public",
      ada: "public",
      mia: "private",
    };
    for (const name of Object.keys(privacy) as Person[]) {
      user[name] = await one(`insert into app_public.users (email) values ($1)`, [
        `${name}@world.test`,
      ]);
      row[`profile.${name}`] = await one(
        `insert into app_public.user_profiles (user_id, username, display_name, privacy_level) values ($1, $2, $3, $4)`,
        [user[name], name, name[0]!.toUpperCase() + name.slice(1), privacy[name]],
      );
    }
    const { olga, fred, stan, bob, ada, mia } = user;

    row["friendship.olga_fred"] = await one(
      `insert into app_public.friendships (requester_id, addressee_id, status) values ($1, $2, 'accepted')`,
      [olga, fred],
    );
    row["friendship.olga_blocks_bob"] = await one(
      `insert into app_public.friendships (requester_id, addressee_id, status) values ($1, $2, 'blocked')`,
      [olga, bob],
    );
    row["friendship.stan_asks_olga"] = await one(
      `insert into app_public.friendships (requester_id, addressee_id, status) values ($1, $2, 'pending')`,
      [stan, olga],
    );
    row["follow.stan_olga"] = await one(
      `insert into app_public.followers (follower_id, following_id) values ($1, $2)`,
      [stan, olga],
    );
    row["follow.bob_fred"] = await one(
      `insert into app_public.followers (follower_id, following_id) values ($1, $2)`,
      [bob, fred],
    );

    for (const type of ["public", "private", "secret"]) {
      row[`group.${type}`] = await one(
        `insert into app_public.groups (name, group_type, created_by) values ($1, $2, $3)`,
        [`The ${type} group`, type, ada],
      );
      row[`member.mia.${type}`] = await one(
        `insert into app_public.group_members (group_id, user_id, role, status) values ($1, $2, 'member', 'active')`,
        [row[`group.${type}`], mia],
      );
    }
    row["member.ada.private"] = (
      await client.query<{ id: string }>(
        `select id from app_public.group_members where group_id = $1 and user_id = $2`,
        [row["group.private"], ada],
      )
    ).rows[0]!.id;
    row["member.stan.private_request"] = await one(
      `insert into app_public.group_members (group_id, user_id, status) values ($1, $2, 'pending')`,
      [row["group.private"], stan],
    );
    row["member.stan.secret_invitation"] = await one(
      `insert into app_public.group_members (group_id, user_id, status, invited_by) values ($1, $2, 'pending', $3)`,
      [row["group.secret"], stan, ada],
    );

    for (const level of ["public", "friends", "private"]) {
      row[`post.${level}`] = await one(
        `insert into app_public.posts (author_id, content, privacy_level) values ($1, $2, $3)`,
        [olga, `olga's ${level} post`, level],
      );
    }
    row["post.deleted"] = await one(
      `insert into app_public.posts (author_id, content, privacy_level, deleted_at) values ($1, 'gone', 'public', now())`,
      [olga],
    );
    row["post.stan_public"] = await one(
      `insert into app_public.posts (author_id, content, privacy_level) values ($1, 'stan says hi', 'public')`,
      [stan],
    );
    for (const type of ["public", "private"]) {
      row[`post.in_${type}_group`] = await one(
        `insert into app_public.posts (author_id, content, privacy_level, group_id) values ($1, $2, 'public', $3)`,
        [mia, `in the ${type} group`, row[`group.${type}`]],
      );
    }
    row["media.friends_post"] = await one(
      `insert into app_public.post_media (post_id, media_type, media_url) values ($1, 'image', 'https://cdn.test/a.jpg')`,
      [row["post.friends"]],
    );
    row["comment.fred_on_public"] = await one(
      `insert into app_public.comments (post_id, author_id, content) values ($1, $2, 'nice')`,
      [row["post.public"], fred],
    );
    row["comment.bob_on_stan"] = await one(
      `insert into app_public.comments (post_id, author_id, content) values ($1, $2, 'from bob')`,
      [row["post.stan_public"], bob],
    );
    row["like.fred_public_post"] = await one(
      `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
      [fred, row["post.public"]],
    );
    row["like.stan_fred_comment"] = await one(
      `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'comment', $2)`,
      [stan, row["comment.fred_on_public"]],
    );

    row["conversation.direct_olga_fred"] = await one(
      `insert into app_public.conversations (conversation_type, created_by) values ('direct', $1)`,
      [olga],
    );
    row["participant.fred_direct"] = await one(
      `insert into app_public.conversation_participants (conversation_id, user_id) values ($1, $2)`,
      [row["conversation.direct_olga_fred"], fred],
    );
    row["conversation.group"] = await one(
      `insert into app_public.conversations (conversation_type, title, created_by) values ('group', 'Planning', $1)`,
      [ada],
    );
    for (const [name, id] of [
      ["mia", mia],
      ["olga", olga],
      ["stan", stan],
    ] as const) {
      row[`participant.${name}_group`] = await one(
        `insert into app_public.conversation_participants (conversation_id, user_id) values ($1, $2)`,
        [row["conversation.group"], id],
      );
    }
    row["message.olga_direct"] = await one(
      `insert into app_public.messages (conversation_id, sender_id, content) values ($1, $2, 'hi fred')`,
      [row["conversation.direct_olga_fred"], olga],
    );
    row["message.before_stan_left"] = await one(
      `insert into app_public.messages (conversation_id, sender_id, content, created_at) values ($1, $2, 'early', now() - interval '2 hours')`,
      [row["conversation.group"], ada],
    );
    await client.query(
      `update app_public.conversation_participants set left_at = now() - interval '1 hour' where id = $1`,
      [row["participant.stan_group"]],
    );
    row["message.after_stan_left"] = await one(
      `insert into app_public.messages (conversation_id, sender_id, content) values ($1, $2, 'later')`,
      [row["conversation.group"], mia],
    );

    const future = "now() + interval '7 days'";
    for (const level of ["public", "friends", "private"]) {
      row[`event.${level}`] = await one(
        `insert into app_public.events (title, start_date, privacy_level, created_by) values ($1, ${future}, $2, $3)`,
        [`olga's ${level} party`, level, olga],
      );
    }
    row["event.in_private_group"] = await one(
      `insert into app_public.events (title, start_date, privacy_level, created_by, group_id) values ('group meetup', ${future}, 'public', $1, $2)`,
      [ada, row["group.private"]],
    );
    row["attendee.fred_private_event"] = await one(
      `insert into app_public.event_attendees (event_id, user_id, status) values ($1, $2, 'going')`,
      [row["event.private"], fred],
    );
    row["attendee.stan_public_event"] = await one(
      `insert into app_public.event_attendees (event_id, user_id, status) values ($1, $2, 'maybe')`,
      [row["event.public"], stan],
    );
    row["waitlist.stan_public_event"] = await one(
      `insert into app_public.event_waitlist (event_id, user_id) values ($1, $2)`,
      [row["event.public"], stan],
    );
    row["notification.for_olga"] = await one(
      `insert into app_public.notifications (recipient_id, sender_id, notification_type, title) values ($1, $2, 'friend_accepted', 'Fred accepted')`,
      [olga, fred],
    );
    return { user, row };
  } finally {
    await client.end();
  }
}

/**
 * Runs `fn` as `actor` (role + JWT claims, as PostGraphile sets them) inside a transaction that
 * is always rolled back, so the world is unchanged afterwards.
 */
export async function asActor<T>(
  client: pg.ClientBase,
  world: World,
  actor: Actor,
  fn: () => Promise<T>,
): Promise<T> {
  await client.query("begin");
  try {
    if (actor === "anonymous") {
      await client.query(`select set_config('role', 'anonymous', true)`);
    } else {
      await client.query(
        `select set_config('role', 'authenticated', true), set_config('jwt.claims.user_id', $1, true)`,
        [world.user[actor]],
      );
    }
    return await fn();
  } finally {
    await client.query("rollback");
  }
}
