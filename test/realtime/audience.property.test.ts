/**
 * The batched audience functions (app_hidden.*_audience, used by src/realtime/hub.ts) against
 * the per-subscriber checks they replace, which ran under each subscriber's own role and claims
 * (row-level security, the user_cards view): over random histories of joining, leaving, being
 * removed, befriending, blocking, unblocking, deleting messages and accounts, and notifications
 * being written and read, after every step, for every user and every message, conversation,
 * typist and notification, both must agree. A disagreement fails with the seed (AUDIENCE_SEED
 * re-runs it).
 */
import pg from "pg";

import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";

const USERS = 5;
const CONVERSATIONS = 3;
const STEPS = 60;
const RUNS = 3;

let db: TestDatabase;
let owner: pg.Client;
let auth: pg.Client;

beforeAll(async () => {
  db = await createTestDatabase();
  owner = new pg.Client({ connectionString: db.ownerUrl });
  auth = new pg.Client({ connectionString: db.authUrl });
  await owner.connect();
  await auth.connect();
});
afterAll(async () => {
  await owner?.end();
  await auth?.end();
  await db?.drop();
});

/** A small seeded generator (mulberry32), so a failing history can be replayed. */
function random(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface World {
  users: string[];
  conversations: string[];
}

async function one(text: string, values: unknown[] = []): Promise<string> {
  return (await owner.query<{ id: string }>(`${text} returning id`, values)).rows[0]!.id;
}

async function buildWorld(tag: string): Promise<World> {
  const users: string[] = [];
  for (let i = 0; i < USERS; i++) {
    const id = await one(`insert into app_public.users (email) values ($1)`, [
      `p${tag}${i}@audience.test`,
    ]);
    await owner.query(
      `insert into app_public.user_profiles (user_id, username, display_name) values ($1, $2, $2)`,
      [id, `p${tag}u${i}`],
    );
    users.push(id);
  }
  const conversations: string[] = [];
  for (let i = 0; i < CONVERSATIONS; i++) {
    conversations.push(
      await one(
        `insert into app_public.conversations (conversation_type, title, created_by) values ('group', $1, $2)`,
        [`c${i}`, users[0]],
      ),
    );
  }
  return { users, conversations };
}

/** One random change, as the owner (a change a constraint refuses is simply skipped). */
async function step(world: World, rnd: () => number): Promise<string> {
  const pick = <T>(xs: T[]): T => xs[Math.floor(rnd() * xs.length)]!;
  const u = pick(world.users);
  const v = pick(world.users.filter((x) => x !== u));
  const c = pick(world.conversations);
  const pair = `(requester_id = $1 and addressee_id = $2) or (requester_id = $2 and addressee_id = $1)`;
  const actions: [string, () => Promise<unknown>][] = [
    [
      "join",
      () =>
        owner.query(
          `insert into app_public.conversation_participants (conversation_id, user_id) values ($1, $2)
           on conflict (conversation_id, user_id) do update set left_at = null`,
          [c, u],
        ),
    ],
    [
      "leave",
      () =>
        owner.query(
          `update app_public.conversation_participants set left_at = now() where conversation_id = $1 and user_id = $2`,
          [c, u],
        ),
    ],
    [
      "remove",
      () =>
        owner.query(
          `delete from app_public.conversation_participants where conversation_id = $1 and user_id = $2`,
          [c, u],
        ),
    ],
    [
      "befriend",
      async () => {
        await owner.query(`delete from app_public.friendships where ${pair}`, [u, v]);
        await owner.query(
          `insert into app_public.friendships (requester_id, addressee_id, status) values ($1, $2, 'accepted')`,
          [u, v],
        );
      },
    ],
    [
      "block",
      async () => {
        await owner.query(`delete from app_public.friendships where ${pair}`, [u, v]);
        await owner.query(
          `insert into app_public.friendships (requester_id, addressee_id, status) values ($1, $2, 'blocked')`,
          [u, v],
        );
      },
    ],
    ["unblock", () => owner.query(`delete from app_public.friendships where ${pair}`, [u, v])],
    [
      "send",
      () =>
        owner.query(
          `insert into app_public.messages (conversation_id, sender_id, content) values ($1, $2, 'hi')`,
          [c, u],
        ),
    ],
    [
      "send",
      () =>
        owner.query(
          `insert into app_public.messages (conversation_id, sender_id, content) values ($1, $2, 'hello')`,
          [c, u],
        ),
    ],
    [
      "delete a message",
      () =>
        owner.query(
          `update app_public.messages set is_deleted = true, deleted_at = now()
            where id = (select id from app_public.messages where sender_id = $1 and not is_deleted limit 1)`,
          [u],
        ),
    ],
    [
      "delete the account",
      () => owner.query(`update app_public.users set status = 'deleted' where id = $1`, [u]),
    ],
    [
      "restore the account",
      () => owner.query(`update app_public.users set status = 'active' where id = $1`, [u]),
    ],
    [
      "notify",
      () =>
        owner.query(
          `insert into app_public.notifications (recipient_id, sender_id, notification_type, title) values ($1, $2, 'message', 'hi')`,
          [u, v],
        ),
    ],
    [
      "read a notification",
      () =>
        owner.query(
          `update app_public.notifications set is_read = true, read_at = now()
            where id = (select id from app_public.notifications where recipient_id = $1 and not is_read limit 1)`,
          [u],
        ),
    ],
  ];
  const [name, act] = pick(actions);
  await act().catch(() => undefined);
  return `${name} u=${world.users.indexOf(u)} v=${world.users.indexOf(v)} c=${world.conversations.indexOf(c)}`;
}

type Answers = Map<string, boolean | number>;

/** What each user's own role and claims say, as the per-subscriber checks asked it. */
async function perSubscriber(world: World, messages: Msg[], notes: string[]): Promise<Answers> {
  const answers: Answers = new Map();
  for (const user of world.users) {
    await auth.query("begin");
    try {
      await auth.query(
        `select set_config('role', 'authenticated', true), set_config('jwt.claims.user_id', $1, true)`,
        [user],
      );
      const { rows } = await auth.query<{ key: string; ok: boolean | number }>(
        `select 'm:' || m.id || ':' || $1 as key,
                (app_hidden.is_active_participant(m.c)
                 and exists (select 1 from app_public.messages x
                              where x.id = m.id and not app_hidden.is_blocked(x.sender_id, $1::uuid)))::int as ok
           from unnest($2::uuid[], $3::uuid[]) m(id, c)
         union all
         select 't:' || c || ':' || t || ':' || $1,
                (t <> $1::uuid and app_hidden.is_active_participant(c)
                 and exists (select 1 from app_public.user_cards u where u.id = t))::int
           from unnest($4::uuid[]) c, unnest($5::uuid[]) t
         union all
         select 'c:' || c || ':' || $1,
                (exists (select 1 from app_public.conversations x where x.id = c))::int
           from unnest($4::uuid[]) c
         union all
         select 'n:' || n || ':' || $1,
                case when exists (select 1 from app_public.notifications x where x.id = n)
                     then app_public.unread_notification_count() else -1 end
           from unnest($6::uuid[]) n`,
        [
          user,
          messages.map((m) => m.id),
          messages.map((m) => m.c),
          world.conversations,
          world.users,
          notes,
        ],
      );
      for (const r of rows) answers.set(r.key, r.ok);
    } finally {
      await auth.query("rollback");
    }
  }
  return answers;
}

/** What the batched functions say, one statement each, as the hub calls them. */
async function batched(world: World, messages: Msg[], notes: string[]): Promise<Answers> {
  const answers: Answers = new Map();
  for (const user of world.users) {
    for (const m of messages) answers.set(`m:${m.id}:${user}`, 0);
    for (const c of world.conversations) {
      answers.set(`c:${c}:${user}`, 0);
      for (const t of world.users) answers.set(`t:${c}:${t}:${user}`, 0);
    }
    for (const n of notes) answers.set(`n:${n}:${user}`, -1);
  }
  await auth.query("begin");
  try {
    await auth.query(`select set_config('role', 'authenticated', true)`);
    const users = world.users;
    const ids = async (text: string, values: unknown[]): Promise<string[]> =>
      (await auth.query<{ user_id: string }>(text, values)).rows.map((r) => r.user_id);
    for (const m of messages) {
      for (const u of await ids(
        `select app_hidden.message_audience($1, $2, $3::uuid[]) as user_id`,
        [m.c, m.id, users],
      ))
        answers.set(`m:${m.id}:${u}`, 1);
    }
    for (const c of world.conversations) {
      for (const u of await ids(
        `select app_hidden.conversation_audience($1, $2::uuid[]) as user_id`,
        [c, users],
      ))
        answers.set(`c:${c}:${u}`, 1);
      for (const t of users) {
        for (const u of await ids(
          `select app_hidden.typing_audience($1, $2, $3::uuid[]) as user_id`,
          [c, t, users],
        ))
          answers.set(`t:${c}:${t}:${u}`, 1);
      }
    }
    for (const n of notes) {
      const { rows } = await auth.query<{ user_id: string; unread_count: number }>(
        `select user_id, unread_count from app_hidden.notification_audience($1, $2::uuid[])`,
        [n, users],
      );
      for (const r of rows) answers.set(`n:${n}:${r.user_id}`, r.unread_count);
    }
  } finally {
    await auth.query("rollback");
  }
  return answers;
}

interface Msg {
  id: string;
  c: string;
}

function disagreements(expected: Answers, actual: Answers): string[] {
  return [...expected]
    .filter(([k, v]) => actual.get(k) !== v)
    .map(([k, v]) => `${k}: RLS says ${v}, batched says ${actual.get(k)}`);
}

describe("batched realtime audiences", () => {
  const seeds = process.env.AUDIENCE_SEED
    ? [Number(process.env.AUDIENCE_SEED)]
    : Array.from({ length: RUNS }, () => Math.floor(Math.random() * 2 ** 31));

  it.each(seeds)("agree with each subscriber's own row-level security (seed %i)", async (seed) => {
    const rnd = random(seed);
    const world = await buildWorld(String(seed));
    const history: string[] = [];
    const seen = { yes: 0, no: 0 };
    for (let i = 0; i < STEPS; i++) {
      history.push(await step(world, rnd));
      const messages = (
        await owner.query<Msg>(
          `select id, conversation_id as c from app_public.messages
            where conversation_id = any ($1::uuid[]) order by created_at desc limit 8`,
          [world.conversations],
        )
      ).rows;
      const notes = (
        await owner.query<{ id: string }>(
          `select id from app_public.notifications where recipient_id = any ($1::uuid[])
            order by created_at desc limit 4`,
          [world.users],
        )
      ).rows.map((r) => r.id);
      const expected = await perSubscriber(world, messages, notes);
      const actual = await batched(world, messages, notes);
      const wrong = disagreements(expected, actual);
      if (wrong.length > 0) {
        throw new Error(
          `seed ${seed} (AUDIENCE_SEED=${seed}), after:\n  ${history.join("\n  ")}\n${wrong.slice(0, 10).join("\n")}`,
        );
      }
      for (const [k, v] of expected) {
        if (k.startsWith("m:") || k.startsWith("t:")) seen[v === 1 ? "yes" : "no"] += 1;
      }
    }
    // the histories reach both answers, not only "nobody"
    expect(seen.yes).toBeGreaterThan(0);
    expect(seen.no).toBeGreaterThan(0);
  });
});
