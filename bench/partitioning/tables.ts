/**
 * The append-heavy tables `npm run bench:partitioning` measures, and what it does with each: how
 * to generate `scale` of it set-based in SQL (the distributions of bench/seed/plan.ts: power-law
 * popularity, timestamps over the last year), how to pick keys for the typical reads, the reads
 * themselves and one single-row insert.
 *
 * In the SQL, `{t}` is the table being measured (schema-qualified) and the pg_temp helpers are
 * bench/seed/plan.ts's SESSION_SETUP.
 */
import { BASE_COUNTS } from "../seed/plan.ts";

export type TableName = "notifications" | "messages" | "likes";

export interface ReadCase {
  id: string;
  /** `$1` (and `$2`) come from `keys`: one row of parameters per query. */
  sql: string;
  /** Returns rows of parameters (text[] each), e.g. `select array[x::text]`. */
  keys: string;
}

export interface TableSpec {
  name: TableName;
  /** Rows at scale 1 (bench/seed/plan.ts). */
  baseRows: number;
  /** Inserts `rows` generated rows into `{t}`; `$1` = rows, `$2` = scale. */
  generate: string;
  reads: ReadCase[];
  /** One row as the API would insert it now (`{t}`); `$1` = a random number in [0, 1). */
  insertOne: string;
  /** `$1` rows in one statement (a batch, e.g. a notification job's fan-out). */
  insertBatch: string;
}

const users = (scale: string): string => `(${BASE_COUNTS.users} * ${scale})::bigint`;

export const TABLES: Record<TableName, TableSpec> = {
  notifications: {
    name: "notifications",
    baseRows: BASE_COUNTS.notifications,
    generate: `insert into {t} (recipient_id, sender_id, notification_type, title, message, data, is_read, read_at, action_url, priority, created_at)
      select md5('u' || g.recipient)::uuid, md5('u' || g.sender)::uuid, x.type, x.title,
             'user' || g.sender || ' ' || x.verb,
             jsonb_build_object('actor_id', md5('u' || g.sender)::uuid),
             g.r < 0.7, case when g.r < 0.7 then g.t + interval '1 hour' end,
             '/users/' || md5('u' || g.sender)::uuid, x.priority, g.t
        from (select i, pg_temp.skewed(${users("$2::numeric")}, 2) as recipient, pg_temp.uniform(${users("$2::numeric")}) as sender,
                     random() as r, now() - interval '365 days' * random() as t, (i % 4)::int as kind
                from generate_series(1, $1::bigint) i) g
        join (values (0, 'post_like', 'New likes', 'liked your post', 'low'),
                     (1, 'new_follower', 'New follower', 'started following you', 'low'),
                     (2, 'post_comment', 'New comment', 'commented on your post', 'normal'),
                     (3, 'message', 'New messages', 'sent you a message', 'high'))
             as x(kind, type, title, verb, priority) on x.kind = g.kind`,
    reads: [
      {
        id: "newest_page",
        sql: `select id, notification_type, title, is_read, created_at from {t}
               where recipient_id = $1::uuid order by created_at desc, id desc limit 20`,
        keys: `select array[md5('u' || pg_temp.skewed(${users("$2::numeric")}, 2))::text] from generate_series(1, $1::int)`,
      },
      {
        id: "unread_count",
        sql: `select count(*) from {t} where recipient_id = $1::uuid and not is_read`,
        keys: `select array[md5('u' || pg_temp.skewed(${users("$2::numeric")}, 2))::text] from generate_series(1, $1::int)`,
      },
    ],
    insertOne: `insert into {t} (recipient_id, sender_id, notification_type, title, message, data, priority, dedupe_key)
                values (md5('u' || floor($1::float8 * 100000))::uuid, md5('u' || floor($1::float8 * 99991))::uuid, 'post_like',
                        'New likes', 'someone liked your post', '{}'::jsonb, 'low', gen_random_uuid()::text)`,
    insertBatch: `insert into {t} (recipient_id, sender_id, notification_type, title, message, data, priority, dedupe_key)
                  select md5('u' || pg_temp.uniform(100000))::uuid, md5('u' || pg_temp.uniform(100000))::uuid, 'post_like',
                         'New likes', 'someone liked your post', '{}'::jsonb, 'low', gen_random_uuid()::text
                    from generate_series(1, $1::int)`,
  },
  messages: {
    name: "messages",
    baseRows: BASE_COUNTS.messages,
    generate: `insert into {t} (conversation_id, sender_id, content, created_at, updated_at)
      select md5('v' || j)::uuid,
             md5('u' || pg_temp.member(j, floor(random() * pg_temp.conversation_size(j))::int, ${users("$2::numeric")}))::uuid,
             pg_temp.words(2 + (i % 15)::int, i), t, t
        from (select i, pg_temp.skewed((${BASE_COUNTS.conversations} * $2::numeric)::bigint, 1.5) as j,
                     now() - interval '365 days' * random() as t
                from generate_series(1, $1::bigint) i) g`,
    reads: [
      {
        id: "newest_page",
        sql: `select id, sender_id, content, created_at from {t}
               where conversation_id = $1::uuid order by created_at desc, id desc limit 50`,
        keys: `select array[md5('v' || pg_temp.skewed((${BASE_COUNTS.conversations} * $2::numeric)::bigint, 1.5))::text] from generate_series(1, $1::int)`,
      },
      {
        id: "by_id",
        sql: `select id, content from {t} where id = $1::uuid`,
        keys: `select array[id::text] from {t} tablesample system (1) where $2::numeric > 0 limit $1::int`,
      },
    ],
    insertOne: `insert into {t} (conversation_id, sender_id, content)
                values (md5('v' || floor($1::float8 * 50000))::uuid, md5('u' || floor($1::float8 * 99991))::uuid, 'see you at the concert tonight')`,
    insertBatch: `insert into {t} (conversation_id, sender_id, content)
                  select md5('v' || pg_temp.uniform(50000))::uuid, md5('u' || pg_temp.uniform(100000))::uuid, 'see you at the concert tonight'
                    from generate_series(1, $1::int)`,
  },
  likes: {
    name: "likes",
    baseRows: BASE_COUNTS.likes,
    // distinct: the table's unique (user_id, target_type, target_id), as the seed's on conflict
    generate: `insert into {t} (user_id, target_type, target_id, created_at)
      select distinct on (u, p) md5('u' || u)::uuid, 'post', md5('p' || p)::uuid, t
        from (select pg_temp.uniform(${users("$2::numeric")}) as u, pg_temp.skewed((${BASE_COUNTS.posts} * $2::numeric)::bigint, 2.5) as p,
                     now() - interval '365 days' * random() as t
                from generate_series(1, $1::bigint) i) g`,
    reads: [
      {
        id: "has_liked",
        sql: `select exists (select 1 from {t} where user_id = $1::uuid and target_type = 'post' and target_id = $2::uuid)`,
        keys: `select array[md5('u' || pg_temp.uniform(${users("$2::numeric")}))::text,
                            md5('p' || pg_temp.skewed((${BASE_COUNTS.posts} * $2::numeric)::bigint, 2.5))::text]
                 from generate_series(1, $1::int)`,
      },
      {
        id: "count_for_post",
        sql: `select count(*) from {t} where target_type = 'post' and target_id = $1::uuid`,
        keys: `select array[md5('p' || pg_temp.skewed((${BASE_COUNTS.posts} * $2::numeric)::bigint, 2.5))::text] from generate_series(1, $1::int)`,
      },
    ],
    insertOne: `insert into {t} (user_id, target_type, target_id)
                values (gen_random_uuid(), 'post', md5('p' || floor($1::float8 * 1000000))::uuid)`,
    insertBatch: `insert into {t} (user_id, target_type, target_id)
                  select gen_random_uuid(), 'post', md5('p' || pg_temp.skewed(1000000, 2.5))::uuid
                    from generate_series(1, $1::int)`,
  },
};

export const sqlFor = (sql: string, table: string): string => sql.replaceAll("{t}", table);
