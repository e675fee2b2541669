/**
 * Analytics without personal data (issue #13): the reporting role mking_analyst reads the views
 * of the `analytics` schema and nothing else; no value of any view is an e-mail, phone, name,
 * username, content, free text, IP address or raw id of the data behind it; ids are keyed hashes
 * (HMAC-SHA256 under the configured key) that join across views and change with the key.
 *
 * The analyst's privileges are tested with `set local role mking_analyst` on a superuser
 * connection: exactly what a login granted the role would have.
 */
import pg from "pg";

import { applyPseudonymKey, pseudonymOf } from "../../src/analytics/pseudonymKey.ts";
import { ConfigError, loadConfig } from "../../src/config.ts";
import { ANALYST_ROLE } from "../../src/db/roles.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { testLogger } from "../helpers/log.ts";
import { buildWorld, type World } from "../helpers/world.ts";

const VIEWS = [
  "comments",
  "conversations",
  "daily_activity",
  "event_attendees",
  "events",
  "follows",
  "friendships",
  "group_members",
  "groups",
  "likes",
  "messages",
  "posts",
  "users",
];
const KEY_A = "analytics-key-a-0123456789abcdef0123456789";
const KEY_B = "analytics-key-b-0123456789abcdef0123456789";
/** A day of its own, far from today, for the daily counts. */
const PAST_DAY = "2020-02-03";

let db: TestDatabase;
let world: World;
let superuser: pg.Client;
const log = testLogger();

const owner = <T = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> =>
  withClient(db.ownerUrl, async (c) => (await c.query(text, values)).rows as T[]);
const ownerOne = async (text: string, values: unknown[]): Promise<string> =>
  (await owner<{ id: string }>(`${text} returning id::text`, values))[0]!.id;

/** Runs `text` as the analyst in a transaction that is rolled back. */
async function asAnalyst<T = Record<string, unknown>>(
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  await superuser.query("begin");
  try {
    await superuser.query(`set local role ${ANALYST_ROLE}`);
    return (await superuser.query(text, values)).rows as T[];
  } finally {
    await superuser.query("rollback");
  }
}

/** The SQLSTATE `text` fails with as the analyst, or null when it works. */
async function analystError(text: string): Promise<string | null> {
  try {
    await asAnalyst(text);
    return null;
  } catch (error) {
    return (error as { code?: string }).code ?? "unknown";
  }
}

/** Personal details on top of the world: phones, birth dates, places, IPs, a busy past day. */
async function addPersonalData(): Promise<void> {
  const { olga, fred, stan } = world.user;
  await owner(`update app_public.users set phone = '+49 170 5550101' where id = $1`, [olga]);
  await owner(`update app_public.users set phone = '+33 6 55 50 12 34' where id = $1`, [fred]);
  await owner(
    `update app_public.user_profiles
        set birth_date = current_date - interval '30 years', location = '12 Rue Garibaldi, Lyon, France',
            bio = 'olga writes about her garden', gender = 'female'
      where user_id = $1`,
    [olga],
  );
  await owner(
    `update app_public.user_profiles set birth_date = current_date - interval '16 years' where user_id = $1`,
    [fred],
  );
  await owner(
    `insert into app_private.audit_log (user_id, action, ip, user_agent) values ($1, 'login_success', '203.0.113.77', 'Mozilla/5.0 AnalyticsTest')`,
    [olga],
  );
  await owner(
    `insert into app_private.refresh_tokens (user_id, family_id, token_hash, expires_at, ip)
     values ($1, gen_random_uuid(), 'analytics-test-token-hash', now() + interval '1 day', '198.51.100.23')`,
    [stan],
  );
  // ten people of one country: common enough to show; olga's unique address is not
  for (let i = 0; i < 10; i++) {
    const id = await ownerOne(`insert into app_public.users (email) values ($1)`, [
      `villager${i}@analytics.test`,
    ]);
    await owner(
      `insert into app_public.user_profiles (user_id, username, display_name, location) values ($1, $2, $3, $4)`,
      [id, `villager_${i}`, `Villager Number ${i}`, `${i} Main Street, Freedonia`],
    );
  }
  // the past day: one new account, two posts by two people, a like by a third, one message
  const early = await ownerOne(
    `insert into app_public.users (email, created_at) values ('early@analytics.test', $1::date + time '10:00' at time zone 'UTC')`,
    [PAST_DAY],
  );
  await owner(
    `insert into app_public.user_profiles (user_id, username) values ($1, 'early_bird')`,
    [early],
  );
  const at = `$2::date + time '12:00' at time zone 'UTC'`;
  const post = await ownerOne(
    `insert into app_public.posts (author_id, content, created_at) values ($1, 'a very private thought of early', ${at})`,
    [early, PAST_DAY],
  );
  await ownerOne(
    `insert into app_public.posts (author_id, content, created_at) values ($1, 'olga on a past day', ${at})`,
    [olga, PAST_DAY],
  );
  await ownerOne(
    `insert into app_public.likes (user_id, target_type, target_id, created_at) values ($1, 'post', $3, ${at})`,
    [fred, PAST_DAY, post],
  );
  await ownerOne(
    `insert into app_public.messages (conversation_id, sender_id, content, created_at) values ($3, $1, 'meet me at the station', ${at})`,
    [olga, PAST_DAY, world.row["conversation.direct_olga_fred"]],
  );
}

beforeAll(async () => {
  db = await createTestDatabase();
  world = await buildWorld(db.ownerUrl);
  await addPersonalData();
  await applyPseudonymKey(db.ownerUrl, KEY_A, log);
  superuser = new pg.Client({ connectionString: db.superuserUrl });
  await superuser.connect();
});
afterAll(async () => {
  await superuser?.end();
  await db?.drop();
});

describe("the analyst role", () => {
  it("exists, cannot log in by itself and is granted to nobody", async () => {
    // the owner, having created it (CREATEROLE), may grant it (admin option) but not use it
    const [role] = await owner<{ login: boolean; members: number; super: boolean }>(
      `select r.rolcanlogin as login, r.rolsuper as super,
              (select count(*)::int from pg_auth_members m
                where m.roleid = r.oid and (m.inherit_option or m.set_option)) as members
         from pg_roles r where r.rolname = $1`,
      [ANALYST_ROLE],
    );
    expect(role).toEqual({ login: false, members: 0, super: false });
  });

  it("reads every analytics view", async () => {
    const views = await owner<{ name: string }>(
      `select c.relname as name from pg_class c
        where c.relnamespace = 'analytics'::regnamespace and c.relkind = 'v' order by 1`,
    );
    expect(views.map((v) => v.name)).toEqual(VIEWS);
    for (const view of VIEWS) {
      const rows = await asAnalyst(`select * from analytics.${view}`);
      expect({ view, some: rows.length > 0 }).toEqual({ view, some: true });
    }
  });

  it("is refused every table and view of app_public, app_private, app_hidden and the job and migration schemas", async () => {
    const relations = await owner<{ name: string }>(
      `select format('%I.%I', n.nspname, c.relname) as name
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname in ('app_public', 'app_private', 'app_hidden', 'graphile_worker', 'graphile_migrate')
          and c.relkind in ('r', 'p', 'v', 'm', 'f')
        order by 1`,
    );
    expect(relations.map((r) => r.name)).toEqual(
      expect.arrayContaining([
        "app_public.users",
        "app_public.messages",
        "app_private.refresh_tokens",
        "app_private.analytics_key",
      ]),
    );
    expect(relations.some((r) => r.name.startsWith("graphile_worker."))).toBe(true);
    const allowed: string[] = [];
    for (const { name } of relations) {
      const code = await analystError(`select * from ${name} limit 1`);
      if (code !== "42501") allowed.push(`${name}: ${code ?? "readable"}`);
    }
    expect(allowed).toEqual([]);
  });

  it("cannot read the key, nor compute pseudonyms of ids of its choosing", async () => {
    expect(await analystError(`select key from app_private.analytics_key`)).toBe("42501");
    expect(await analystError(`select app_private.pseudonym(gen_random_uuid())`)).toBe("42501");
    expect(await analystError(`select app_private.set_analytics_key(null)`)).toBe("42501");
  });

  it("the API roles cannot read the analytics views", async () => {
    for (const role of ["anonymous", "authenticated"]) {
      await superuser.query("begin");
      try {
        await superuser.query(`set local role ${role}`);
        await expect(superuser.query(`select * from analytics.users`)).rejects.toMatchObject({
          code: "42501",
        });
      } finally {
        await superuser.query("rollback");
      }
    }
  });
});

describe("what the views hold", () => {
  it("no e-mail, phone, name, username, content, free text, IP address or raw id", async () => {
    const secrets = await owner<{ value: string }>(
      `select value from (
         select email as value from app_public.users union all select phone from app_public.users
         union all select id::text from app_public.users
         union all select username from app_public.user_profiles union all select display_name from app_public.user_profiles
         union all select bio from app_public.user_profiles union all select location from app_public.user_profiles
         union all select gender from app_public.user_profiles
         union all select birth_date::text from app_public.user_profiles
         union all select content from app_public.posts union all select id::text from app_public.posts
         union all select content from app_public.comments union all select id::text from app_public.comments
         union all select content from app_public.messages union all select id::text from app_public.messages
         union all select title from app_public.conversations union all select id::text from app_public.conversations
         union all select name from app_public.groups union all select id::text from app_public.groups
         union all select title from app_public.events union all select id::text from app_public.events
         union all select title from app_public.notifications
         union all select host(ip) from app_private.audit_log union all select user_agent from app_private.audit_log
         union all select host(ip) from app_private.refresh_tokens
       ) s where value is not null`,
    );
    const values = secrets.map((s) => s.value);
    // what addPersonalData put there is among them (the scan is not vacuous)
    expect(values).toEqual(
      expect.arrayContaining([
        "+49 170 5550101",
        "203.0.113.77",
        "198.51.100.23",
        "olga@world.test",
      ]),
    );
    const leaks: string[] = [];
    for (const view of VIEWS) {
      for (const row of await asAnalyst(`select * from analytics.${view}`)) {
        for (const [column, cell] of Object.entries(row)) {
          if (cell === null) continue;
          const text = cell instanceof Date ? cell.toISOString() : String(cell);
          for (const secret of values) {
            // short words ("nice") only as whole values; longer ones anywhere inside a value
            const found = secret.length >= 6 ? text.includes(secret) : text === secret;
            if (found) leaks.push(`analytics.${view}.${column}: ${secret}`);
          }
        }
      }
    }
    expect(leaks).toEqual([]);
  });

  it("age bands instead of dates of birth, and only common coarse places", async () => {
    const rows = await asAnalyst<{
      user_pseudonym: string;
      age_band: string;
      coarse_location: string | null;
    }>(`select user_pseudonym, age_band, coarse_location from analytics.users`);
    const byUser = new Map(rows.map((r) => [r.user_pseudonym, r]));
    const olga = byUser.get(pseudonymOf(world.user.olga, KEY_A))!;
    const fred = byUser.get(pseudonymOf(world.user.fred, KEY_A))!;
    const stan = byUser.get(pseudonymOf(world.user.stan, KEY_A))!;
    expect([olga.age_band, fred.age_band, stan.age_band]).toEqual(["25-34", "under 18", "unknown"]);
    // olga's place is hers alone: not shown; the ten villagers share a country: shown
    expect(olga.coarse_location).toBeNull();
    expect(rows.filter((r) => r.coarse_location === "freedonia")).toHaveLength(10);
    expect(new Set(rows.map((r) => r.coarse_location))).toEqual(new Set([null, "freedonia"]));
  });

  it("counts a day's activity", async () => {
    const [day] = await asAnalyst(
      `select active_users, posts, comments, likes, messages, follows, new_users
         from analytics.daily_activity where day = $1`,
      [PAST_DAY],
    );
    // early and olga posted, fred liked, olga messaged; early signed up
    expect(day).toEqual({
      active_users: "3",
      posts: "2",
      comments: "0",
      likes: "1",
      messages: "1",
      follows: "0",
      new_users: "1",
    });
  });
});

describe("pseudonyms", () => {
  it("join across views and are not the raw ids", async () => {
    const [joined] = await asAnalyst<{
      posts: string;
      users: string;
      messages: string;
      likes: string;
    }>(
      `select
         (select count(*) from analytics.posts p join analytics.users u on u.user_pseudonym = p.author_pseudonym
           where u.age_band = '25-34') as posts,
         (select count(*) from analytics.users) as users,
         (select count(*) from analytics.messages m
           join analytics.conversations c using (conversation_pseudonym)
           join analytics.users u on u.user_pseudonym = m.sender_pseudonym) as messages,
         (select count(*) from analytics.likes l
           join analytics.posts p on p.post_pseudonym = l.target_pseudonym
           join analytics.users u on u.user_pseudonym = p.author_pseudonym
          where l.target_type = 'post') as likes`,
    );
    const [truth] = await owner<{ posts: string; users: string; messages: string; likes: string }>(
      `select (select count(*) from app_public.posts where author_id = $1) as posts,
              (select count(*) from app_public.users) as users,
              (select count(*) from app_public.messages) as messages,
              (select count(*) from app_public.likes l join app_public.posts p on p.id = l.target_id
                where l.target_type = 'post') as likes`,
      [world.user.olga],
    );
    expect(Number(joined!.posts)).toBeGreaterThan(0);
    expect(joined).toEqual(truth);
    const [users] = await asAnalyst<{ pseudonyms: string[] }>(
      `select array_agg(user_pseudonym) as pseudonyms from analytics.users`,
    );
    const ids = Object.values(world.user);
    expect(users!.pseudonyms).toEqual(
      expect.arrayContaining(ids.map((id) => pseudonymOf(id, KEY_A))),
    );
    expect(users!.pseudonyms.filter((p) => ids.includes(p))).toEqual([]);
  });

  it("are the keyed hash under the configured key, and change with it", async () => {
    const read = async (): Promise<string[]> =>
      (
        await asAnalyst<{ p: string }>(`select user_pseudonym as p from analytics.users order by 1`)
      ).map((r) => r.p);
    const ids = (await owner<{ id: string }>(`select id::text as id from app_public.users`)).map(
      (r) => r.id,
    );
    const underA = await read();
    expect(underA).toEqual(ids.map((id) => pseudonymOf(id, KEY_A)).sort());

    expect(await applyPseudonymKey(db.ownerUrl, KEY_B, log)).toBe(true);
    expect(await applyPseudonymKey(db.ownerUrl, KEY_B, log)).toBe(false);
    const underB = await read();
    expect(underB).toEqual(ids.map((id) => pseudonymOf(id, KEY_B)).sort());
    expect(underB.filter((p) => underA.includes(p))).toEqual([]);

    // unset: the database keeps the key it has
    expect(await applyPseudonymKey(db.ownerUrl, null, log)).toBe(false);
    expect(await read()).toEqual(underB);
    await applyPseudonymKey(db.ownerUrl, KEY_A, log);
    expect(await read()).toEqual(underA);
  });

  it("without a configured key, the database has a random one of its own", async () => {
    const other = await createTestDatabase();
    try {
      const [a] = await withClient(
        other.ownerUrl,
        async (c) =>
          (await c.query<{ key: Buffer }>(`select key from app_private.analytics_key`)).rows,
      );
      const [b] = await owner<{ key: Buffer }>(`select key from app_private.analytics_key`);
      expect(a!.key.length).toBeGreaterThanOrEqual(32);
      expect(a!.key.equals(Buffer.from(KEY_A))).toBe(false);
      expect(b!.key.equals(Buffer.from(KEY_A))).toBe(true);
    } finally {
      await other.drop();
    }
  });

  it("a configured key must be at least 32 bytes long", () => {
    expect(() => loadConfig({ ANALYTICS_PSEUDONYM_KEY: "short" })).toThrow(ConfigError);
    expect(loadConfig({ ANALYTICS_PSEUDONYM_KEY: KEY_A }).analytics.pseudonymKey).toBe(KEY_A);
    expect(loadConfig({}).analytics.pseudonymKey).toBeNull();
  });
});
