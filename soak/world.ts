/**
 * The part of the seeded graph the soak's load plays with, set up as the owner:
 *
 * - `users` active seeded users, each with a live session (bench/harness/sessions.ts) and a
 *   token; each virtual user of the load is one of them, so one user's requests are in order;
 * - group conversations of 6 of them and a direct conversation per neighbouring pair;
 * - nearly full events (few places, most taken by other seeded users), organised by one of them;
 * - the public posts they wrote before (targets for comments and likes, with those of the run).
 */
import pg from "pg";

import { ensureBenchSessions } from "../bench/harness/sessions.ts";

export interface World {
  users: string[];
  /** Conversations each user takes part in. */
  conversationsOf: Map<string, string[]>;
  conversations: string[];
  events: { id: string; organiser: string; places: number }[];
  posts: { id: string; authorId: string }[];
  /** "follower:following" among the users before the run (a follow of those is no news). */
  initialFollows: Set<string>;
  /** Friendships of the users before the run: id → status. */
  initialFriendships: Map<string, string>;
}

export async function setUpWorld(ownerUrl: string, userCount: number): Promise<World> {
  await ensureBenchSessions(ownerUrl);
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const { rows: userRows } = await client.query<{ id: string }>(
      `select u.id from app_public.users u
         join app_public.user_profiles p on p.user_id = u.id
        where u.status = 'active'
          and not exists (select 1 from app_public.friendships f
                           where f.status = 'blocked' and (f.requester_id = u.id or f.addressee_id = u.id))
        order by u.id limit $1`,
      [userCount],
    );
    const users = userRows.map((r) => r.id);
    if (users.length < 8) throw new Error(`the seeded graph has only ${users.length} usable users`);

    const conversationsOf = new Map<string, string[]>(users.map((u) => [u, []]));
    const conversations: string[] = [];
    const addConversation = async (type: "group" | "direct", members: string[]): Promise<void> => {
      const { rows } = await client.query<{ id: string }>(
        `insert into app_public.conversations (conversation_type, title, created_by)
         values ($1, $2, $3) returning id`,
        [type, type === "group" ? "soak group" : null, members[0]],
      );
      const id = rows[0]!.id;
      await client.query(
        `insert into app_public.conversation_participants (conversation_id, user_id)
         select $1, unnest($2::uuid[]) on conflict do nothing`,
        [id, members],
      );
      conversations.push(id);
      for (const m of members) conversationsOf.get(m)!.push(id);
    };
    for (let i = 0; i + 6 <= users.length; i += 6)
      await addConversation("group", users.slice(i, i + 6));
    for (let i = 0; i + 1 < users.length; i += 2)
      await addConversation("direct", [users[i]!, users[i + 1]!]);

    // nearly full events: 8 places, 5 taken by people outside the soak
    const events: World["events"] = [];
    for (let e = 0; e < 4; e += 1) {
      const organiser = users[e]!;
      const { rows } = await client.query<{ id: string }>(
        `insert into app_public.events (title, start_date, max_attendees, privacy_level, created_by)
         values ($1, now() + interval '7 days', 8, 'public', $2) returning id`,
        [`Soak event ${e + 1}`, organiser],
      );
      const id = rows[0]!.id;
      await client.query(
        `insert into app_public.event_attendees (event_id, user_id, status)
         select $1, u.id, 'going' from app_public.users u
          where u.status = 'active' and u.id <> all ($2::uuid[])
          order by u.id desc limit 5`,
        [id, users],
      );
      events.push({ id, organiser, places: 8 });
    }

    const { rows: posts } = await client.query<{ id: string; authorId: string }>(
      `select p.id, p.author_id as "authorId" from app_public.posts p
        where p.author_id = any ($1) and p.privacy_level = 'public' and p.group_id is null
          and p.deleted_at is null and p.shared_post_id is null
        order by p.created_at desc limit 200`,
      [users],
    );
    const { rows: followRows } = await client.query<{ a: string; b: string }>(
      `select follower_id as a, following_id as b from app_public.followers
        where follower_id = any ($1) and following_id = any ($1)`,
      [users],
    );
    const initialFollows = new Set(followRows.map((r) => `${r.a}:${r.b}`));
    const { rows: friendshipRows } = await client.query<{ id: string; status: string }>(
      `select id, status from app_public.friendships
        where requester_id = any ($1) or addressee_id = any ($1)`,
      [users],
    );
    const initialFriendships = new Map(friendshipRows.map((r) => [r.id, r.status]));
    return {
      users,
      conversationsOf,
      conversations,
      events,
      posts,
      initialFollows,
      initialFriendships,
    };
  } finally {
    await client.end();
  }
}
