/**
 * Who sees a post in a group (policies/posts.sql, select_visible), for every kind of group ×
 * every privacy × every kind of reader. The policy asks whether a post's group is public through
 * app_hidden.public_groups: looked up group by group when the planner expects few rows, hashed
 * when it expects many. Both ways must give the same answer, so each reader's view is read twice:
 * post by post (a primary-key read) and as one scan of every post.
 *
 * The rule, as the policy comment states it: a post is visible when it is not deleted and there
 * is no block between you and its author, and: you wrote it; or, outside groups and in public
 * groups, it is `public`, or `friends` and you are the author's accepted friend; or, in a private
 * or secret group, you are an active member and it is not `private`.
 */
import type pg from "pg";

import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";

const GROUP_TYPES = ["public", "private", "secret"] as const;
const PRIVACY = ["public", "friends", "private"] as const;
type Place = "timeline" | (typeof GROUP_TYPES)[number];
type Privacy = (typeof PRIVACY)[number];

/** The readers, what each is to the author and to the groups. */
const READERS = {
  author: { friend: false, member: true, blocked: false },
  friend: { friend: true, member: false, blocked: false },
  memberFriend: { friend: true, member: true, blocked: false },
  member: { friend: false, member: true, blocked: false },
  pending: { friend: false, member: false, blocked: false },
  banned: { friend: false, member: false, blocked: false },
  stranger: { friend: false, member: false, blocked: false },
  blockedMember: { friend: false, member: true, blocked: true },
} as const;
type Reader = keyof typeof READERS | "anonymous";

function expectedVisible(reader: Reader, place: Place, privacy: Privacy): boolean {
  if (reader === "author") return true;
  if (reader === "anonymous")
    return (place === "timeline" || place === "public") && privacy === "public";
  const r = READERS[reader];
  if (r.blocked) return false;
  if (place === "timeline" || place === "public")
    return privacy === "public" || (privacy === "friends" && r.friend);
  return r.member && privacy !== "private";
}

interface PostRow {
  id: string;
  place: Place;
  privacy: Privacy;
}

let db: TestDatabase;
const people = {} as Record<keyof typeof READERS, string>;
const posts: PostRow[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  await withClient(db.ownerUrl, async (c) => {
    for (const name of Object.keys(READERS) as (keyof typeof READERS)[]) {
      const { rows } = await c.query<{ id: string }>(
        `insert into app_public.users (email) values ($1) returning id`,
        [`${name.toLowerCase()}@posts-groups.test`],
      );
      people[name] = rows[0]!.id;
      await c.query(
        `insert into app_public.user_profiles (user_id, username, display_name) values ($1, $2, $2)`,
        [people[name], name.toLowerCase()],
      );
    }
    await c.query(
      `insert into app_public.friendships (requester_id, addressee_id, status)
       values ($1, $2, 'accepted'), ($1, $3, 'accepted'), ($1, $4, 'blocked')`,
      [people.author, people.friend, people.memberFriend, people.blockedMember],
    );
    // other public groups, so that "every public group" is a set worth noticing
    await c.query(
      `insert into app_public.groups (name, group_type, created_by)
       select 'other ' || i, 'public', $1 from generate_series(1, 50) i`,
      [people.stranger],
    );
    const places: Record<Place, string | null> = {
      timeline: null,
      public: null,
      private: null,
      secret: null,
    };
    for (const type of GROUP_TYPES) {
      const { rows } = await c.query<{ id: string }>(
        `insert into app_public.groups (name, group_type, created_by) values ($1, $2, $3) returning id`,
        [`the ${type} group`, type, people.author],
      );
      places[type] = rows[0]!.id;
      await c.query(
        `insert into app_public.group_members (group_id, user_id, status)
         values ($1, $2, 'active'), ($1, $3, 'active'), ($1, $4, 'active'),
                ($1, $5, 'pending'), ($1, $6, 'banned')
         on conflict do nothing`,
        [
          places[type],
          people.member,
          people.memberFriend,
          people.blockedMember,
          people.pending,
          people.banned,
        ],
      );
    }
    for (const place of Object.keys(places) as Place[]) {
      for (const privacy of PRIVACY) {
        const { rows } = await c.query<{ id: string }>(
          `insert into app_public.posts (author_id, content, privacy_level, group_id)
           values ($1, $2, $3, $4) returning id`,
          [people.author, `${privacy} post, ${place}`, privacy, places[place]],
        );
        posts.push({ id: rows[0]!.id, place, privacy });
      }
    }
    // a deleted public post in the public group: nobody's
    await c.query(
      `insert into app_public.posts (author_id, content, privacy_level, group_id, deleted_at)
       values ($1, 'gone', 'public', $2, now())`,
      [people.author, places.public],
    );
  });
});
afterAll(() => db.drop());

/** Runs `fn` as the reader (the role and claims PostGraphile sets), rolled back. */
async function asReader<T>(reader: Reader, fn: (c: pg.Client) => Promise<T>): Promise<T> {
  return withClient(db.authUrl, async (c) => {
    await c.query("begin");
    try {
      if (reader === "anonymous") await c.query(`select set_config('role', 'anonymous', true)`);
      else
        await c.query(
          `select set_config('role', 'authenticated', true), set_config('jwt.claims.user_id', $1, true)`,
          [people[reader]],
        );
      return await fn(c);
    } finally {
      await c.query("rollback");
    }
  });
}

const label = (p: PostRow): string => `${p.privacy} post, ${p.place}`;
const ALL_READERS: Reader[] = [...(Object.keys(READERS) as Reader[]), "anonymous"];

describe.each(ALL_READERS)("%s", (reader) => {
  const expected = (): string[] =>
    posts
      .filter((p) => expectedVisible(reader, p.place, p.privacy))
      .map(label)
      .sort();

  it("sees exactly the posts the rule allows, read one by one", async () => {
    const seen = await asReader(reader, async (c) => {
      const found: string[] = [];
      for (const p of posts) {
        const { rows } = await c.query(`select id from app_public.posts where id = $1`, [p.id]);
        if (rows.length === 1) found.push(label(p));
      }
      return found.sort();
    });
    expect(seen).toEqual(expected());
  });

  it("sees the same posts in one scan of every post", async () => {
    const seen = await asReader(reader, async (c) => {
      const { rows } = await c.query<{ content: string }>(
        `select content from app_public.posts`,
      );
      return rows.map((r) => r.content).sort();
    });
    expect(seen).toEqual(expected());
  });
});

it("follows a group that changes from private to public at once", async () => {
  const post = posts.find((p) => p.place === "private" && p.privacy === "public")!;
  const read = (reader: Reader): Promise<number> =>
    asReader(reader, async (c) => {
      const { rows } = await c.query(`select 1 from app_public.posts where id = $1`, [post.id]);
      return rows.length;
    });
  expect(await read("stranger")).toBe(0);
  await withClient(db.ownerUrl, (c) =>
    c.query(
      `update app_public.groups set group_type = 'public'
        where id = (select group_id from app_public.posts where id = $1)`,
      [post.id],
    ),
  );
  try {
    expect(await read("stranger")).toBe(1);
    expect(await read("anonymous")).toBe(1);
  } finally {
    await withClient(db.ownerUrl, (c) =>
      c.query(
        `update app_public.groups set group_type = 'private'
          where id = (select group_id from app_public.posts where id = $1)`,
        [post.id],
      ),
    );
  }
});
