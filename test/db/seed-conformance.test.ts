/**
 * The migrated database honours the schema design (test/fixtures/seed-schema.json, transcribed
 * from the design document): every table, column, type, default, nullability, foreign key,
 * ON DELETE action, unique constraint and named index — plus the conventions on top of it.
 */
import { readFileSync } from "node:fs";

import pg from "pg";

import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";

interface SeedColumn {
  type: string;
  notNull: boolean;
  default: string | null;
  primaryKey: boolean;
}
interface SeedTable {
  columns: Record<string, SeedColumn>;
  uniques: string[][];
  foreignKeys: {
    column: string;
    references: string;
    onDelete: "CASCADE" | "SET NULL" | "NO ACTION";
  }[];
}
interface Seed {
  tables: Record<string, SeedTable>;
  indexes: { name: string; table: string; method: string; columns: string[] }[];
}

const seed = JSON.parse(
  readFileSync(new URL("../fixtures/seed-schema.json", import.meta.url), "utf8"),
) as Seed;
const tableNames = Object.keys(seed.tables);

/** `'active'::character varying` → `active`; `now()` stays; `0` stays. */
function normaliseDefault(expression: string | null): string | null {
  if (expression === null) return null;
  return expression
    .toLowerCase()
    .replace(/::[a-z ]+(\(\d+\))?/g, "")
    .replace(/^'(.*)'$/, "$1")
    .replace(/^current_timestamp$/, "now()");
}

let db: TestDatabase;
let client: pg.Client;
const q = async <T extends pg.QueryResultRow>(text: string, values: unknown[] = []): Promise<T[]> =>
  (await client.query<T>(text, values)).rows;

beforeAll(async () => {
  db = await createTestDatabase();
  client = new pg.Client({ connectionString: db.ownerUrl });
  await client.connect();
});
afterAll(async () => {
  await client.end();
  await db.drop();
});

describe("the migrated schema", () => {
  it("has all sixteen tables of the design in app_public", async () => {
    const rows = await q<{ relname: string }>(
      `select c.relname from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'app_public' and c.relkind = 'r'`,
    );
    expect(rows.map((r) => r.relname).sort()).toEqual(
      expect.arrayContaining([...tableNames].sort()),
    );
  });

  it.each(tableNames)(
    "%s has every column with its type, default and nullability",
    async (table) => {
      const rows = await q<{
        column: string;
        type: string;
        not_null: boolean;
        default: string | null;
      }>(
        `select a.attname as column, format_type(a.atttypid, a.atttypmod) as type, a.attnotnull as not_null,
              pg_get_expr(d.adbin, d.adrelid) as default
         from pg_attribute a
         left join pg_attrdef d on d.adrelid = a.attrelid and d.adnum = a.attnum
        where a.attrelid = $1::regclass and a.attnum > 0 and not a.attisdropped`,
        [`app_public.${table}`],
      );
      const actual = Object.fromEntries(rows.map((r) => [r.column, r]));
      for (const [column, expected] of Object.entries(seed.tables[table]!.columns)) {
        const got = actual[column];
        expect({ column, present: got !== undefined }).toEqual({ column, present: true });
        expect({ column, type: got!.type }).toEqual({ column, type: expected.type });
        // The design's nullability exactly: NOT NULL where it says so, nullable where it does not.
        expect({ column, notNull: got!.not_null }).toEqual({ column, notNull: expected.notNull });
        expect({ column, default: normaliseDefault(got!.default) }).toEqual({
          column,
          default: expected.default,
        });
      }
    },
  );

  it.each(tableNames)(
    "%s has its foreign keys, named fk_<table>_<column>, with their ON DELETE",
    async (table) => {
      const rows = await q<{ name: string; column: string; references: string; on_delete: string }>(
        `select con.conname as name, a.attname as column, fc.relname as references,
              case con.confdeltype when 'c' then 'CASCADE' when 'n' then 'SET NULL' else 'NO ACTION' end as on_delete
         from pg_constraint con
         join pg_attribute a on a.attrelid = con.conrelid and a.attnum = con.conkey[1]
         join pg_class fc on fc.oid = con.confrelid
        where con.conrelid = $1::regclass and con.contype = 'f'`,
        [`app_public.${table}`],
      );
      for (const fk of seed.tables[table]!.foreignKeys) {
        expect(rows).toContainEqual({
          name: `fk_${table}_${fk.column}`,
          column: fk.column,
          references: fk.references,
          on_delete: fk.onDelete,
        });
      }
    },
  );

  it.each(tableNames)("%s has its unique constraints", async (table) => {
    const rows = await q<{ columns: string }>(
      `select (select string_agg(a.attname, ',' order by k.ord)
                 from unnest(con.conkey) with ordinality k(attnum, ord)
                 join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.attnum) as columns
         from pg_constraint con
        where con.conrelid = $1::regclass and con.contype in ('u', 'p')`,
      [`app_public.${table}`],
    );
    for (const unique of seed.tables[table]!.uniques) {
      expect(rows.map((r) => r.columns)).toContain(unique.join(","));
    }
  });

  it.each(seed.indexes.map((i) => [i.name, i] as const))("has index %s", async (_name, index) => {
    const rows = await q<{ table: string; method: string; columns: string }>(
      `select t.relname as table, am.amname as method,
              (select string_agg(a.attname, ',' order by k.ord)
                 from unnest(ix.indkey) with ordinality k(attnum, ord)
                 join pg_attribute a on a.attrelid = t.oid and a.attnum = k.attnum) as columns
         from pg_index ix
         join pg_class i on i.oid = ix.indexrelid
         join pg_class t on t.oid = ix.indrelid
         join pg_namespace n on n.oid = t.relnamespace
         join pg_am am on am.oid = i.relam
        where n.nspname = 'app_public' and i.relname = $1`,
      [index.name],
    );
    expect(rows).toEqual([
      { table: index.table, method: index.method, columns: index.columns.join(",") },
    ]);
  });

  /**
   * The values of every enumerated column, as the design's comments list them
   * (`status VARCHAR(20) DEFAULT 'active', -- active, suspended, deleted`). Two enumerations the
   * design leaves unlisted are the project's choice: events.privacy_level (the same levels as
   * posts and profiles) and notifications.notification_type (the kinds the notifications__create
   * job sends). events.event_type is free text: the design lists no values.
   */
  const enumerations: Record<string, readonly string[]> = {
    "users.status": ["active", "suspended", "deleted"],
    "user_profiles.privacy_level": ["public", "friends", "private"],
    "friendships.status": ["pending", "accepted", "blocked"],
    "posts.post_type": ["text", "image", "video", "link"],
    "posts.privacy_level": ["public", "friends", "private"],
    "post_media.media_type": ["image", "video", "audio"],
    "likes.target_type": ["post", "comment"],
    "conversations.conversation_type": ["direct", "group"],
    "conversation_participants.role": ["admin", "member"],
    "messages.message_type": ["text", "image", "video", "audio", "file"],
    "groups.group_type": ["public", "private", "secret"],
    "group_members.role": ["admin", "moderator", "member"],
    "group_members.status": ["active", "pending", "banned"],
    "events.privacy_level": ["public", "friends", "private"],
    "event_attendees.status": ["going", "maybe", "not_going"],
    "notifications.notification_type": [
      "friend_request",
      "friend_accepted",
      "new_follower",
      "post_like",
      "comment_like",
      "post_comment",
      "comment_reply",
      "mention",
      "message",
      "group_join_request",
      "group_request_approved",
      "group_invite",
      "event_rsvp",
      "event_cancelled",
    ],
    "notifications.priority": ["low", "normal", "high", "urgent"],
  };

  it("has a named CHECK for every enumerated column (statuses, types, privacy levels, roles, priorities)", async () => {
    const rows = await q<{ name: string }>(
      `select con.conname as name from pg_constraint con
         join pg_namespace n on n.oid = con.connamespace
        where n.nspname = 'app_public' and con.contype = 'c'`,
    );
    const names = rows.map((r) => r.name);
    for (const column of Object.keys(enumerations)) {
      expect(names).toContain(`ck_${column.replace(".", "_")}`);
    }
  });

  /**
   * Runs the column's real CHECK on `value`: the constraint, as the database holds it, is put
   * on a one-column temporary table of the same name and type, and the value inserted there.
   * Resolves with the SQLSTATE of the refusal, or null when the check accepts the value.
   */
  async function checkOf(column: string): Promise<{ def: string; type: string; name: string }> {
    const [table = "", name = ""] = column.split(".");
    const [con] = await q<{ def: string; type: string }>(
      `select pg_get_constraintdef(con.oid) as def, format_type(a.atttypid, a.atttypmod) as type
         from pg_constraint con
         join pg_attribute a on a.attrelid = con.conrelid and a.attname = $3
        where con.conrelid = $1::regclass and con.conname = $2`,
      [`app_public.${table}`, `ck_${table}_${name}`, name],
    );
    if (!con) throw new Error(`no ck_${table}_${name}`);
    return { ...con, name };
  }

  async function checkRefuses(column: string, value: string): Promise<string | null> {
    const con = await checkOf(column);
    const name = con.name;
    await client.query("begin");
    try {
      await client.query(
        `create temp table probe (${pg.escapeIdentifier(name)} ${con.type}) on commit drop`,
      );
      await client.query(`alter table probe add constraint probe_check ${con.def}`);
      await client.query("insert into probe values ($1)", [value]);
      return null;
    } catch (error) {
      return (error as { code?: string }).code ?? "unknown";
    } finally {
      await client.query("rollback");
    }
  }

  it.each(Object.entries(enumerations))(
    "%s accepts exactly its listed values",
    async (column, values) => {
      // the check lists these values and no others...
      const listed = [...(await checkOf(column)).def.matchAll(/'([^']*)'::/g)].map((m) => m[1]);
      expect(listed.sort()).toEqual([...values].sort());
      // ...and accepts each of them
      for (const value of values) {
        expect({ value, refused: await checkRefuses(column, value) }).toEqual({
          value,
          refused: null,
        });
      }
      // anything else is refused by the check (23514), including a listed value's other spelling
      for (const value of ["unknown", values[0]!.toUpperCase(), ` ${values[0]}`]) {
        expect({ value, refused: await checkRefuses(column, value) }).toEqual({
          value,
          refused: "23514",
        });
      }
    },
  );

  it("leaves events.event_type free text, as the design lists no values for it", async () => {
    const rows = await q<{ name: string }>(
      `select con.conname as name from pg_constraint con
         join pg_attribute a on a.attrelid = con.conrelid and a.attnum = any (con.conkey)
        where con.conrelid = 'app_public.events'::regclass and con.contype = 'c'
          and a.attname = 'event_type'`,
    );
    expect(rows).toEqual([]);
  });

  it("refuses a value outside an enumeration", async () => {
    await expect(
      client.query(
        `insert into app_public.users (email, status) values ('a@example.com', 'sleeping')`,
      ),
    ).rejects.toMatchObject({ code: "23514", constraint: "ck_users_status" });
  });

  it("has row-level security enabled, with at least one policy, on every table of app_public", async () => {
    const rows = await q<{ table: string; rls: boolean; policies: number }>(
      `select c.relname as table, c.relrowsecurity as rls,
              (select count(*)::int from pg_policy p where p.polrelid = c.oid) as policies
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'app_public' and c.relkind = 'r'`,
    );
    for (const row of rows)
      expect(row).toEqual({ table: row.table, rls: true, policies: expect.any(Number) });
    expect(rows.every((r) => r.policies > 0)).toBe(true);
  });

  it("documents every table and every exposed function with a comment", async () => {
    const undocumented = await q<{ name: string }>(
      `select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'app_public' and c.relkind in ('r', 'v', 'm') and obj_description(c.oid, 'pg_class') is null
       union all
       select p.proname from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'app_public' and obj_description(p.oid, 'pg_proc') is null`,
    );
    expect(undocumented).toEqual([]);
  });

  it("documents every column of the API's tables but the obvious id and timestamps", async () => {
    const undocumented = await q<{ column: string }>(
      `select c.relname || '.' || a.attname as column
         from pg_attribute a
         join pg_class c on c.oid = a.attrelid
         join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'app_public' and c.relkind = 'r' and a.attnum > 0 and not a.attisdropped
          and a.attname not in ('id', 'created_at', 'updated_at')
          and col_description(c.oid, a.attnum) is null
        order by 1`,
    );
    expect(undocumented).toEqual([]);
  });

  it("keeps updated_at current on every table that has one, and created_at unchangeable", async () => {
    const tables = await q<{ table: string; has_trigger: boolean }>(
      `select c.relname as table,
              exists (select 1 from pg_trigger t where t.tgrelid = c.oid and t.tgname = '_100_timestamps') as has_trigger
         from pg_class c join pg_namespace n on n.oid = c.relnamespace
        where n.nspname = 'app_public' and c.relkind = 'r'
          and exists (select 1 from pg_attribute a where a.attrelid = c.oid and a.attname = 'updated_at')`,
    );
    expect(tables.length).toBeGreaterThanOrEqual(9);
    for (const t of tables) expect(t).toEqual({ table: t.table, has_trigger: true });

    const [user] = await q<{ id: string; created_at: Date; updated_at: Date }>(
      `insert into app_public.users (email, created_at, updated_at)
       values ('clock@example.com', now() - interval '1 day', now() - interval '1 day')
       returning id, created_at, updated_at`,
    );
    const [after] = await q<{ created_at: Date; updated_at: Date }>(
      `update app_public.users set phone = '+1 555 0100', created_at = now() where id = $1
       returning created_at, updated_at`,
      [user!.id],
    );
    expect(after!.created_at).toEqual(user!.created_at);
    expect(after!.updated_at.getTime()).toBeGreaterThan(user!.updated_at.getTime());
  });

  it("keeps private data out of the API schema and the API roles out of app_private", async () => {
    const [row] = await q<{ anonymous: boolean; authenticated: boolean }>(
      `select has_schema_privilege('anonymous', 'app_private', 'usage') as anonymous,
              has_schema_privilege('authenticated', 'app_private', 'usage') as authenticated`,
    );
    expect(row).toEqual({ anonymous: false, authenticated: false });
  });
});
