/**
 * What the scenarios are about, picked from the seeded data (as the owner, who sees all) and,
 * where only the API knows (a feed cursor), through the API as that user:
 *
 * - viewers: random active users;
 * - deep-feed viewers: users whose home feed has at least 1,000 posts, with V5's cursor after
 *   item 980 and the raw keyset (created_at, id) of that item — page 50 of 20;
 * - posts with at least 20 comments (the N+1 scenario), public and not in a group;
 * - (participant, conversation) pairs with at least 50 messages; inbox owners with 20+ chats;
 * - popular people whose profile is public, for the profile page.
 */
import pg from "pg";

import { COMMON_TERM, RARE_NAME, RARE_TERM } from "../seed/plan.ts";
import type { Fixture } from "../scenarios.ts";

export interface Pools {
  viewers: string[];
  deepFeed: { userId: string; cursor: string; after: { createdAt: string; id: string } }[];
  posts: { id: string; authorId: string }[];
  /** "a:b" for every blocked pair among the viewers and the posts' authors (both orders). */
  blocked: Set<string>;
  chats: { userId: string; conversationId: string }[];
  inboxOwners: string[];
  profiles: string[];
  terms: { posts: { common: string; rare: string }; users: { common: string; rare: string } };
}

const pick = <T>(items: readonly T[]): T => {
  if (items.length === 0) throw new Error("no fixture of that kind in the data set");
  return items[Math.floor(Math.random() * items.length)]!;
};

async function ids(client: pg.Client, sql: string, params: unknown[] = []): Promise<string[]> {
  const { rows } = await client.query<{ id: string }>(sql, params);
  return rows.map((r) => r.id);
}

/** A GraphQL call to our API as a user (used to find the feed cursors). */
export type AsUser = (
  userId: string,
  query: string,
  variables: Record<string, unknown>,
) => Promise<Record<string, unknown>>;

interface FeedPage {
  homeFeed: {
    edges: { cursor: string; node: { id: string; createdAt: string } }[];
    pageInfo: { hasNextPage: boolean; endCursor: string | null };
  };
}

const FEED_PAGE = `query ($after: Cursor) {
  homeFeed(first: 100, after: $after) {
    edges { cursor node { id createdAt } }
    pageInfo { hasNextPage endCursor }
  }
}`;

/** The cursor and keyset of item 980 of the user's feed, or null if the feed is shorter. */
async function feedItem980(
  asUser: AsUser,
  userId: string,
): Promise<Pools["deepFeed"][number] | null> {
  let after: string | null = null;
  for (let page = 0; page < 10; page++) {
    const data = (await asUser(userId, FEED_PAGE, { after })) as unknown as FeedPage;
    const edges = data.homeFeed.edges;
    if (page === 9) {
      const edge = edges[79];
      return edge
        ? {
            userId,
            cursor: edge.cursor,
            after: { createdAt: edge.node.createdAt, id: edge.node.id },
          }
        : null;
    }
    if (!data.homeFeed.pageInfo.hasNextPage) return null;
    after = data.homeFeed.pageInfo.endCursor;
  }
  return null;
}

export async function loadPools(
  ownerUrl: string,
  asUser: AsUser,
  options: { viewers: number; deepFeedUsers: number },
): Promise<Pools> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const viewers = await ids(
      client,
      `select u.id from app_public.users u where u.status = 'active' order by random() limit $1`,
      [options.viewers],
    );
    // candidates for deep feeds: people who follow the most prolific authors
    const candidates = await ids(
      client,
      `with prolific as (select author_id from app_public.posts group by author_id
                          order by count(*) desc limit 200)
       select f.follower_id as id from app_public.followers f
         join app_public.users u on u.id = f.follower_id and u.status = 'active'
        where f.following_id in (select author_id from prolific)
        group by f.follower_id order by count(*) desc limit $1`,
      [options.deepFeedUsers * 3],
    );
    const deepFeed: Pools["deepFeed"] = [];
    for (const userId of candidates) {
      if (deepFeed.length >= options.deepFeedUsers) break;
      const item = await feedItem980(asUser, userId);
      if (item) deepFeed.push(item);
    }
    const { rows: posts } = await client.query<{ id: string; authorId: string }>(
      `select p.id, p.author_id as "authorId" from app_public.posts p
        where p.privacy_level = 'public' and p.group_id is null and p.deleted_at is null
          and (select count(*) from app_public.comments c
                where c.post_id = p.id and c.parent_comment_id is null) >= 20
        order by p.comments_count desc limit 200`,
    );
    // a viewer and an author with a block between them do not see each other's posts
    const { rows: blockedRows } = await client.query<{ a: string; b: string }>(
      `select requester_id as a, addressee_id as b from app_public.friendships
        where status = 'blocked' and (requester_id = any ($1) or addressee_id = any ($1))`,
      [viewers],
    );
    const blocked = new Set(blockedRows.flatMap((r) => [`${r.a}:${r.b}`, `${r.b}:${r.a}`]));
    const { rows: chats } = await client.query<{ userId: string; conversationId: string }>(
      `select p.user_id as "userId", p.conversation_id as "conversationId"
         from app_public.conversation_participants p
         join app_public.users u on u.id = p.user_id and u.status = 'active'
        where p.left_at is null
          and p.conversation_id in (select conversation_id from app_public.messages
                                     group by conversation_id having count(*) >= 50)
        limit 500`,
    );
    const inboxOwners = await ids(
      client,
      `select p.user_id as id from app_public.conversation_participants p
         join app_public.users u on u.id = p.user_id and u.status = 'active'
        where p.left_at is null group by p.user_id order by count(*) desc limit 100`,
    );
    const profiles = await ids(
      client,
      `select f.following_id as id from app_public.followers f
         join app_public.user_profiles p on p.user_id = f.following_id and p.privacy_level = 'public'
        group by f.following_id order by count(*) desc limit 200`,
    );
    return {
      viewers,
      deepFeed,
      posts,
      blocked,
      chats,
      inboxOwners,
      profiles,
      terms: {
        posts: { common: COMMON_TERM, rare: RARE_TERM },
        users: { common: "ana", rare: RARE_NAME.toLowerCase() },
      },
    };
  } finally {
    await client.end();
  }
}

/** Which pool a scenario draws its viewer (and subject) from. */
export type Draw =
  | "viewer"
  | "deepFeed"
  | "post"
  | "chat"
  | "inbox"
  | "profile"
  | "termPostsCommon"
  | "termPostsRare"
  | "termUsersCommon"
  | "termUsersRare";

/** A random fixture of the given kind; `token` is signed for the chosen viewer. */
export function drawFixture(pools: Pools, draw: Draw, sign: (userId: string) => string): Fixture {
  const viewer = pick(pools.viewers);
  const base: Fixture = {
    userId: viewer,
    token: "",
    postId: "",
    conversationId: "",
    profileUserId: "",
    term: "",
    feedCursor: null,
    feedAfter: null,
  };
  let f: Fixture;
  switch (draw) {
    case "deepFeed": {
      const d = pick(pools.deepFeed);
      f = { ...base, userId: d.userId, feedCursor: d.cursor, feedAfter: d.after };
      break;
    }
    case "post": {
      const post = pick(pools.posts);
      let userId = viewer;
      while (pools.blocked.has(`${userId}:${post.authorId}`)) userId = pick(pools.viewers);
      f = { ...base, userId, postId: post.id };
      break;
    }
    case "chat": {
      const c = pick(pools.chats);
      f = { ...base, userId: c.userId, conversationId: c.conversationId };
      break;
    }
    case "inbox":
      f = { ...base, userId: pick(pools.inboxOwners) };
      break;
    case "profile":
      f = { ...base, profileUserId: pick(pools.profiles) };
      break;
    case "termPostsCommon":
      f = { ...base, term: pools.terms.posts.common };
      break;
    case "termPostsRare":
      f = { ...base, term: pools.terms.posts.rare };
      break;
    case "termUsersCommon":
      f = { ...base, term: pools.terms.users.common };
      break;
    case "termUsersRare":
      f = { ...base, term: pools.terms.users.rare };
      break;
    default:
      f = base;
  }
  return { ...f, token: sign(f.userId) };
}
