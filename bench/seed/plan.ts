/**
 * What `npm run db:seed` writes: a social graph of a given scale, generated set-based in SQL
 * (generate_series), in chunks so progress can be shown.
 *
 * Shape (scale 1): 100k users with profiles, 500k friendships (accepted, pending, blocked), 1M
 * follows, 5k groups with 300k memberships, 1M posts (mixed privacy, some in groups, some
 * shares, some soft-deleted) with 200k media, 1M comments (30% replies), 3M likes, 20k events
 * with 200k RSVPs, 50k conversations with 1M messages, 1M notifications. Popularity follows a
 * power law — index i is picked with `1 + floor(n * random()^k)`, so low indexes (user 1, post 1)
 * are the celebrities — and timestamps are spread over the last year.
 *
 * Row ids are derived from the row's index (`md5('u' || i)::uuid` is user i), so later steps
 * refer to earlier rows without joins. Triggers are off while seeding (no jobs, no
 * notifications); counters are computed at the end with the same definitions as
 * `app_private.recount`.
 */

export const BASE_COUNTS = {
  users: 100_000,
  friendships: 500_000,
  follows: 1_000_000,
  groups: 5_000,
  memberships: 300_000,
  posts: 1_000_000,
  media: 200_000,
  comments: 1_000_000,
  likes: 3_000_000,
  events: 20_000,
  rsvps: 200_000,
  conversations: 50_000,
  messages: 1_000_000,
  notifications: 1_000_000,
} as const;

export type Entity = keyof typeof BASE_COUNTS;
export type Counts = Record<Entity, number>;

/** The numbers of rows to generate at `scale` (each at least a handful, so tiny scales work). */
export function countsFor(scale: number): Counts {
  const minimum: Partial<Counts> = { users: 200, groups: 10, events: 20, conversations: 50 };
  return Object.fromEntries(
    Object.entries(BASE_COUNTS).map(([k, base]) => [
      k,
      Math.max(minimum[k as Entity] ?? 100, Math.round(base * scale)),
    ]),
  ) as Counts;
}

/** One statement of the plan; `$1`/`$2` are the chunk's first and last index. */
export interface Step {
  /** Shown in the progress bar and the summary. */
  label: string;
  /** The table whose rows it adds (for the summary), if any. */
  table?: string;
  sql: string;
  /** Rows to generate, split into chunks of CHUNK; absent: runs once without parameters. */
  rows?: number;
  /** Extra parameters after the chunk bounds (the counts the statement refers to). */
  params?: (number | string)[];
}

export const CHUNK = 100_000;

/** The password every seeded account has (bcrypt, computed once per seed). */
export const SEED_PASSWORD = "bench-password";

/**
 * Session helpers (in pg_temp: they vanish with the connection). `skewed(n, k)` picks 1..n with
 * a power law (k > 1: low numbers are popular); `h(a, b)` is a stable pseudo-random number in
 * [0, 1) for a pair, so a conversation's members are the same wherever they are computed.
 */
export const SESSION_SETUP = `
set synchronous_commit = off;
set maintenance_work_mem = '256MB';
create function pg_temp.skewed(n bigint, k float8) returns bigint
  language sql volatile as $$ select 1 + floor(n * power(random(), k))::bigint $$;
create function pg_temp.uniform(n bigint) returns bigint
  language sql volatile as $$ select 1 + floor(n * random())::bigint $$;
create function pg_temp.h(a bigint, b bigint) returns float8
  language sql immutable as $$ select ('x' || substr(md5(a || ':' || b), 1, 8))::bit(32)::bigint / 4294967296.0 $$;
-- 10,000 random sentences of 3 to 30 words; pg_temp.words(n, i) is one of those of length n
create table pg_temp.sentences as
  select n, k, (select string_agg((array[
             'the','a','and','of','to','in','is','it','you','that','was','for','on','are','with',
             'coffee','weekend','music','today','friends','family','photo','travel','work','game',
             'city','summer','morning','dinner','movie','book','happy','new','love','great',
             'running','garden','beach','mountain','concert','recipe','project','team','dog','cat',
             'birthday','holiday','football','coding','art','night','sunset','rain','trip','school'
           ])[1 + floor(random() * 55)::int], ' ')
             from generate_series(1, n) w where w > 0 and k > 0) as text
    from generate_series(3, 30) n, generate_series(1, 400) k;
create unique index on pg_temp.sentences (n, k);
analyze pg_temp.sentences;
create function pg_temp.words(n int, i bigint) returns text
  language sql stable as $$
    select text from pg_temp.sentences
     where sentences.n = greatest(3, least(30, words.n))
       and k = 1 + ('x' || substr(md5(i::text), 1, 7))::bit(28)::int % 400 $$;
-- member k (0-based) of conversation j among n users: k = 0 is its creator
create function pg_temp.member(j bigint, k int, n bigint) returns bigint
  language sql immutable as $$
    select case when k = 0 then 1 + (j * 7919) % n
                else 1 + floor(n * power(pg_temp.h(j, k), 2.5))::bigint end $$;
create function pg_temp.conversation_size(j bigint) returns int
  language sql immutable as $$ select case when j % 5 = 0 then 3 + (j % 6)::int else 2 end $$;
`;

const NAMES_FIRST = `array['Ana','Ben','Cat','Dan','Eve','Fay','Gus','Hana','Ivan','Jia','Kofi','Lea','Max','Nia','Omar','Pia','Quinn','Rui','Sara','Tom','Uma','Vik','Wen','Xavi','Yara','Zoe','Ali','Bea','Carl','Dina']`;
const NAMES_LAST = `array['Silva','Smith','Kim','Nguyen','Garcia','Müller','Rossi','Kowalski','Ivanova','Haddad','Okafor','Tanaka','Dubois','Larsen','Costa','Novak','Patel','Cohen','Jensen','Santos']`;

/** A rare word that appears in about one post in 10,000 (for the search scenarios). */
export const RARE_TERM = "zyzzyva";
/** A common word (in the vocabulary above). */
export const COMMON_TERM = "coffee";
/** A last name one person in 1,000 has (for the people-search scenarios; "Ana" is common). */
export const RARE_NAME = "Quixote";

export function seedSteps(c: Counts): Step[] {
  const topLevelComments = Math.round(c.comments * 0.7);
  const postLikes = Math.round(c.likes * 0.85);
  return [
    {
      label: "users",
      table: "users",
      rows: c.users,
      // every 997th account (but none of the first thousand, the popular ones) is suspended
      sql: `insert into app_public.users (id, email, password_hash, email_verified, status, login_count, last_login_at, created_at, updated_at)
            select md5('u' || i)::uuid, 'user' || i || '@bench.example', $3, true,
                   case when i > 1000 and i % 997 = 0 then 'suspended' else 'active' end,
                   (i % 50)::int, t.created + interval '1 day', t.created, t.created
              from generate_series($1::bigint, $2::bigint) i,
                   lateral (select now() - interval '365 days' * random() as created where i > 0) t`,
      params: ["<password hash>"],
    },
    {
      label: "profiles",
      table: "user_profiles",
      rows: c.users,
      sql: `insert into app_public.user_profiles (user_id, username, display_name, bio, avatar_url, location, website, privacy_level, is_verified, created_at, updated_at)
            select md5('u' || i)::uuid, 'user' || i,
                   case when i % 1000 = 500 then 'Zebulon ${RARE_NAME}'
                        else (${NAMES_FIRST})[1 + i % 30] || ' ' || (${NAMES_LAST})[1 + (i / 30) % 20] end,
                   pg_temp.words(6 + (i % 10)::int, i),
                   'https://cdn.bench.example/avatars/' || i || '.jpg',
                   (array['Lisbon','Berlin','Lagos','Seoul','Lima','Oslo','Austin','Pune'])[1 + i % 8],
                   case when i % 4 = 0 then 'https://user' || i || '.bench.example' end,
                   case when i % 10 < 7 then 'public' when i % 10 < 9 then 'friends' else 'private' end,
                   i <= 100, now() - interval '365 days', now() - interval '365 days'
              from generate_series($1::bigint, $2::bigint) i`,
    },
    {
      label: "friendships",
      table: "friendships",
      rows: c.friendships,
      sql: `insert into app_public.friendships (requester_id, addressee_id, status, created_at, updated_at)
            select md5('u' || a)::uuid, md5('u' || b)::uuid,
                   case when r < 0.85 then 'accepted' when r < 0.97 then 'pending' else 'blocked' end,
                   t, t
              from (select pg_temp.uniform($3) as a, pg_temp.skewed($3, 2.5) as b, random() as r,
                           now() - interval '365 days' * random() as t
                      from generate_series($1::bigint, $2::bigint) i) g
             where a <> b
            on conflict do nothing`,
      params: [c.users],
    },
    {
      // a block ends everything else between two people (as the friendships trigger does)
      label: "blocks",
      sql: `delete from app_public.friendships f
              using app_public.friendships b
             where b.status = 'blocked' and f.status <> 'blocked'
               and least(f.requester_id, f.addressee_id) = least(b.requester_id, b.addressee_id)
               and greatest(f.requester_id, f.addressee_id) = greatest(b.requester_id, b.addressee_id)`,
    },
    {
      label: "follows",
      table: "followers",
      rows: c.follows,
      sql: `insert into app_public.followers (follower_id, following_id, created_at)
            select md5('u' || a)::uuid, md5('u' || b)::uuid, t
              from (select pg_temp.uniform($3) as a, pg_temp.skewed($3, 3) as b,
                           now() - interval '365 days' * random() as t
                      from generate_series($1::bigint, $2::bigint) i) g
             where a <> b
            on conflict do nothing`,
      params: [c.users],
    },
    {
      label: "blocked follows",
      sql: `delete from app_public.followers f
              using app_public.friendships b
             where b.status = 'blocked'
               and ((f.follower_id = b.requester_id and f.following_id = b.addressee_id)
                 or (f.follower_id = b.addressee_id and f.following_id = b.requester_id))`,
    },
    {
      label: "groups",
      table: "groups",
      rows: c.groups,
      sql: `insert into app_public.groups (id, name, description, group_type, category, location, created_by, created_at, updated_at)
            select md5('g' || i)::uuid,
                   initcap(pg_temp.words(2 + (i % 3)::int, i)) || ' ' || i,
                   pg_temp.words(12, i),
                   case when i % 10 < 7 then 'public' when i % 10 < 9 then 'private' else 'secret' end,
                   (array['sports','music','tech','books','food','travel','games','art'])[1 + i % 8],
                   (array['Lisbon','Berlin','Lagos','Seoul','Lima','Oslo','Austin','Pune'])[1 + (i / 8) % 8],
                   md5('u' || pg_temp.uniform($3))::uuid, t, t
              from generate_series($1::bigint, $2::bigint) i,
                   lateral (select now() - interval '365 days' * random() as t where i > 0) x`,
      params: [c.users],
    },
    {
      label: "group admins",
      sql: `insert into app_public.group_members (group_id, user_id, role, status, joined_at)
            select id, created_by, 'admin', 'active', created_at from app_public.groups
            on conflict do nothing`,
    },
    {
      label: "group members",
      table: "group_members",
      rows: c.memberships,
      sql: `insert into app_public.group_members (group_id, user_id, role, status, joined_at)
            select md5('g' || pg_temp.skewed($3, 2))::uuid, md5('u' || pg_temp.uniform($4))::uuid,
                   case when r < 0.02 then 'moderator' else 'member' end,
                   case when r < 0.95 then 'active' when r < 0.99 then 'pending' else 'banned' end,
                   now() - interval '365 days' * random()
              from (select random() as r from generate_series($1::bigint, $2::bigint) i) g
            on conflict do nothing`,
      params: [c.groups, c.users],
    },
    {
      label: "posts",
      table: "posts",
      rows: c.posts,
      // 10% in a group, 5% share an earlier post, 2% soft-deleted; the rare word in 1 of 10k
      sql: `insert into app_public.posts (id, author_id, content, post_type, privacy_level, location, group_id, shared_post_id, deleted_at, created_at, updated_at)
            select md5('p' || i)::uuid, md5('u' || pg_temp.skewed($3, 2))::uuid,
                   pg_temp.words(6 + (i % 25)::int, i) || case when i % 10000 = 7 then ' ${RARE_TERM}' else '' end,
                   (array['text','text','text','image','video','link'])[1 + i % 6],
                   case when r < 0.6 then 'public' when r < 0.9 then 'friends' else 'private' end,
                   case when i % 7 = 0 then (array['Lisbon','Berlin','Lagos','Seoul'])[1 + i % 4] end,
                   case when i % 10 = 3 then md5('g' || pg_temp.skewed($4, 2))::uuid end,
                   case when i % 20 = 5 and i > 1 then md5('p' || pg_temp.skewed(i - 1, 2))::uuid end,
                   case when i % 50 = 11 then t + interval '1 hour' end,
                   t, t
              from generate_series($1::bigint, $2::bigint) i,
                   lateral (select random() as r, now() - interval '365 days' * random() as t where i > 0) x`,
      params: [c.users, c.groups],
    },
    {
      label: "post media",
      table: "post_media",
      rows: c.media,
      sql: `insert into app_public.post_media (post_id, media_type, media_url, thumbnail_url, file_size, width, height, alt_text, order_index)
            select md5('p' || (1 + (i * 5) % $3))::uuid,
                   case when i % 10 = 0 then 'video' else 'image' end,
                   'https://cdn.bench.example/media/' || i || '.jpg',
                   'https://cdn.bench.example/thumbs/' || i || '.jpg',
                   100000 + i % 900000, 1080, 720, 'photo ' || i, (i / $3)::int
              from generate_series($1::bigint, $2::bigint) i`,
      params: [c.posts],
    },
    {
      label: "comments",
      table: "comments",
      rows: topLevelComments,
      sql: `insert into app_public.comments (id, post_id, author_id, content, created_at, updated_at)
            select md5('c' || i)::uuid, md5('p' || pg_temp.skewed($3, 2.5))::uuid,
                   md5('u' || pg_temp.uniform($4))::uuid, pg_temp.words(3 + (i % 15)::int, i), t, t
              from generate_series($1::bigint, $2::bigint) i,
                   lateral (select now() - interval '365 days' * random() as t where i > 0) x`,
      params: [c.posts, c.users],
    },
    {
      label: "replies",
      table: "comments",
      rows: c.comments - topLevelComments,
      sql: `insert into app_public.comments (id, post_id, parent_comment_id, author_id, content, created_at, updated_at)
            select md5('c' || ($3 + g.i))::uuid, p.post_id, p.id, md5('u' || g.author)::uuid,
                   pg_temp.words(3 + (g.i % 12)::int, g.i), p.created_at + interval '1 minute', p.created_at + interval '1 minute'
              from (select i, pg_temp.skewed($3, 2) as parent, pg_temp.uniform($4) as author
                      from generate_series($1::bigint, $2::bigint) i) g
              join app_public.comments p on p.id = md5('c' || g.parent)::uuid`,
      params: [topLevelComments, c.users],
    },
    {
      label: "post likes",
      table: "likes",
      rows: postLikes,
      sql: `insert into app_public.likes (user_id, target_type, target_id, created_at)
            select md5('u' || pg_temp.uniform($3))::uuid, 'post', md5('p' || pg_temp.skewed($4, 2.5))::uuid,
                   now() - interval '365 days' * random()
              from generate_series($1::bigint, $2::bigint) i
            on conflict do nothing`,
      params: [c.users, c.posts],
    },
    {
      label: "comment likes",
      table: "likes",
      rows: c.likes - postLikes,
      sql: `insert into app_public.likes (user_id, target_type, target_id, created_at)
            select md5('u' || pg_temp.uniform($3))::uuid, 'comment', md5('c' || pg_temp.skewed($4, 2.5))::uuid,
                   now() - interval '365 days' * random()
              from generate_series($1::bigint, $2::bigint) i
            on conflict do nothing`,
      params: [c.users, topLevelComments],
    },
    {
      label: "events",
      table: "events",
      rows: c.events,
      sql: `insert into app_public.events (id, title, description, event_type, start_date, end_date, location, max_attendees, is_online, privacy_level, created_by, group_id, created_at, updated_at)
            select md5('e' || i)::uuid, initcap(pg_temp.words(3, i)), pg_temp.words(20, i),
                   (array['meetup','party','sports','talk','concert'])[1 + i % 5],
                   s, s + interval '3 hours',
                   (array['Lisbon','Berlin','Lagos','Seoul','Lima','Oslo','Austin','Pune'])[1 + i % 8],
                   case when i % 10 < 3 then 20 + (i % 200)::int end, i % 4 = 0,
                   case when i % 10 < 8 then 'public' when i % 10 < 9 then 'friends' else 'private' end,
                   md5('u' || pg_temp.uniform($3))::uuid,
                   case when i % 5 = 0 then md5('g' || pg_temp.skewed($4, 2))::uuid end,
                   s - interval '30 days', s - interval '30 days'
              from generate_series($1::bigint, $2::bigint) i,
                   lateral (select now() + interval '180 days' * (2 * random() - 1) as s where i > 0) x`,
      params: [c.users, c.groups],
    },
    {
      label: "RSVPs",
      table: "event_attendees",
      rows: c.rsvps,
      sql: `insert into app_public.event_attendees (event_id, user_id, status, registered_at)
            select md5('e' || pg_temp.skewed($3, 2))::uuid, md5('u' || pg_temp.uniform($4))::uuid,
                   case when r < 0.6 then 'going' when r < 0.85 then 'maybe' else 'not_going' end,
                   now() - interval '200 days' * random()
              from (select random() as r from generate_series($1::bigint, $2::bigint) i) g
            on conflict do nothing`,
      params: [c.events, c.users],
    },
    {
      // never overbooked: capacity is at least what is already going
      label: "event capacity",
      sql: `update app_public.events e set max_attendees = a.going
              from (select event_id, count(*)::int as going from app_public.event_attendees
                     where status = 'going' group by event_id) a
             where e.id = a.event_id and e.max_attendees < a.going`,
    },
    {
      label: "conversations",
      table: "conversations",
      rows: c.conversations,
      sql: `insert into app_public.conversations (id, conversation_type, title, created_by, created_at, updated_at)
            select md5('v' || j)::uuid,
                   case when pg_temp.conversation_size(j) > 2 then 'group' else 'direct' end,
                   case when pg_temp.conversation_size(j) > 2 then initcap(pg_temp.words(2, j)) end,
                   md5('u' || pg_temp.member(j, 0, $3))::uuid,
                   now() - interval '400 days', now() - interval '400 days'
              from generate_series($1::bigint, $2::bigint) j`,
      params: [c.users],
    },
    {
      label: "participants",
      table: "conversation_participants",
      rows: c.conversations,
      sql: `insert into app_public.conversation_participants (conversation_id, user_id, role, joined_at, last_read_at, is_muted)
            select md5('v' || j)::uuid, md5('u' || pg_temp.member(j, k, $3))::uuid,
                   case when k = 0 and pg_temp.conversation_size(j) > 2 then 'admin' else 'member' end,
                   now() - interval '400 days',
                   now() - interval '30 days' * pg_temp.h(j, k + 100),
                   (j + k) % 17 = 0
              from generate_series($1::bigint, $2::bigint) j,
                   generate_series(0, pg_temp.conversation_size(j) - 1) k
            on conflict do nothing`,
      params: [c.users],
    },
    {
      label: "direct pairs",
      sql: `insert into app_private.direct_conversations (user_low, user_high, conversation_id)
            select least(a.user_id, b.user_id), greatest(a.user_id, b.user_id), c.id
              from app_public.conversations c
              join app_public.conversation_participants a on a.conversation_id = c.id
              join app_public.conversation_participants b on b.conversation_id = c.id and b.user_id > a.user_id
             where c.conversation_type = 'direct'
            on conflict do nothing`,
    },
    {
      label: "messages",
      table: "messages",
      rows: c.messages,
      sql: `insert into app_public.messages (conversation_id, sender_id, content, created_at, updated_at)
            select md5('v' || j)::uuid,
                   md5('u' || pg_temp.member(j, floor(random() * pg_temp.conversation_size(j))::int, $4))::uuid,
                   pg_temp.words(2 + (i % 15)::int, i), t, t
              from (select i, pg_temp.skewed($3, 1.5) as j, now() - interval '365 days' * random() as t
                      from generate_series($1::bigint, $2::bigint) i) g`,
      params: [c.conversations, c.users],
    },
    {
      label: "conversation activity",
      sql: `update app_public.conversations c set last_message_at = m.last
              from (select conversation_id, max(created_at) as last from app_public.messages group by conversation_id) m
             where c.id = m.conversation_id`,
    },
    {
      label: "notifications",
      table: "notifications",
      rows: c.notifications,
      sql: `insert into app_public.notifications (recipient_id, sender_id, notification_type, title, message, data, is_read, read_at, action_url, priority, created_at)
            select md5('u' || g.recipient)::uuid, md5('u' || g.sender)::uuid, x.type, x.title,
                   'user' || g.sender || ' ' || x.verb,
                   jsonb_build_object('actor_id', md5('u' || g.sender)::uuid),
                   g.r < 0.7, case when g.r < 0.7 then g.t + interval '1 hour' end,
                   '/users/' || md5('u' || g.sender)::uuid, x.priority, g.t
              from (select i, pg_temp.skewed($3, 2) as recipient, pg_temp.uniform($3) as sender, random() as r,
                           now() - interval '365 days' * random() as t, (i % 4)::int as kind
                      from generate_series($1::bigint, $2::bigint) i) g
              join (values (0, 'post_like', 'New likes', 'liked your post', 'low'),
                           (1, 'new_follower', 'New follower', 'started following you', 'low'),
                           (2, 'post_comment', 'New comment', 'commented on your post', 'normal'),
                           (3, 'message', 'New messages', 'sent you a message', 'high'))
                   as x(kind, type, title, verb, priority) on x.kind = g.kind`,
      params: [c.users],
    },
    // Counters, with app_private.recount's definitions (counters__verify_all finds no drift).
    {
      label: "post counters",
      sql: `update app_public.posts p set likes_count = coalesce(l.n, 0), comments_count = coalesce(m.n, 0), shares_count = coalesce(s.n, 0)
              from app_public.posts p2
              left join (select target_id, count(*)::int as n from app_public.likes where target_type = 'post' group by target_id) l on l.target_id = p2.id
              left join (select post_id, count(*)::int as n from app_public.comments group by post_id) m on m.post_id = p2.id
              left join (select shared_post_id, count(*)::int as n from app_public.posts where deleted_at is null and shared_post_id is not null group by shared_post_id) s on s.shared_post_id = p2.id
             where p.id = p2.id and (l.n is not null or m.n is not null or s.n is not null)`,
    },
    {
      label: "comment counters",
      sql: `update app_public.comments c set likes_count = coalesce(l.n, 0), replies_count = coalesce(r.n, 0)
              from app_public.comments c2
              left join (select target_id, count(*)::int as n from app_public.likes where target_type = 'comment' group by target_id) l on l.target_id = c2.id
              left join (select parent_comment_id, count(*)::int as n from app_public.comments where parent_comment_id is not null group by parent_comment_id) r on r.parent_comment_id = c2.id
             where c.id = c2.id and (l.n is not null or r.n is not null)`,
    },
    {
      label: "group counters",
      sql: `update app_public.groups g set member_count = coalesce(m.n, 0), post_count = coalesce(p.n, 0)
              from app_public.groups g2
              left join (select group_id, count(*)::int as n from app_public.group_members where status = 'active' group by group_id) m on m.group_id = g2.id
              left join (select group_id, count(*)::int as n from app_public.posts where deleted_at is null and group_id is not null group by group_id) p on p.group_id = g2.id
             where g.id = g2.id`,
    },
    {
      label: "event counters",
      sql: `update app_public.events e set current_attendees = coalesce(a.n, 0)
              from app_public.events e2
              left join (select event_id, count(*)::int as n from app_public.event_attendees where status = 'going' group by event_id) a on a.event_id = e2.id
             where e.id = e2.id`,
    },
  ];
}

/** The tables the seed writes, in an order `truncate ... cascade` and the summary can use. */
export const SEEDED_TABLES = [
  "users",
  "user_profiles",
  "friendships",
  "followers",
  "groups",
  "group_members",
  "posts",
  "post_media",
  "comments",
  "likes",
  "events",
  "event_attendees",
  "conversations",
  "conversation_participants",
  "messages",
  "notifications",
] as const;
