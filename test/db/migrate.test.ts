/**
 * The migrate step (`npm run db:migrate`, and every start) builds an empty database completely
 * and can run again, or twice at once, without changing anything.
 */
import type pg from "pg";

import { migrateDatabase } from "../../src/db/migrate.ts";
import { policyFiles } from "../../src/db/policies.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { testLogger } from "../helpers/log.ts";

/** A fingerprint of what the migrate step controls: objects, policies, grants, migrations. */
async function fingerprint(url: string): Promise<unknown> {
  return withClient(url, async (client: pg.Client) => {
    const { rows } = await client.query(`
      select
        (select count(*) from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname in ('app_public', 'app_hidden', 'app_private')) as relations,
        (select count(*) from pg_proc p join pg_namespace n on n.oid = p.pronamespace
          where n.nspname in ('app_public', 'app_hidden', 'app_private')) as functions,
        (select string_agg(tablename || '.' || policyname, ',' order by tablename, policyname)
           from pg_policies where schemaname = 'app_public') as policies,
        (select string_agg(table_name || ':' || grantee || ':' || privilege_type, ','
                           order by table_name, grantee, privilege_type)
           from information_schema.role_table_grants where table_schema = 'app_public') as grants,
        (select string_agg(filename, ',' order by filename) from graphile_migrate.migrations) as migrations`);
    return rows[0];
  });
}

describe("migrateDatabase", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase({ migrated: false });
  });
  afterAll(() => db.drop());

  it("builds an empty database, and a second and third run change nothing", async () => {
    const log = testLogger();
    const options = { ownerUrl: db.ownerUrl, authenticator: db.authenticator, log };
    await migrateDatabase(options);
    const first = await fingerprint(db.ownerUrl);
    await migrateDatabase(options);
    await migrateDatabase(options);
    expect(await fingerprint(db.ownerUrl)).toEqual(first);
    expect(first).toMatchObject({ migrations: expect.stringContaining("000001.sql") });
    expect(log.lines.filter((l) => l.includes("database migrated"))).toHaveLength(3);
  });

  it("lets two processes migrate at once: they take turns", async () => {
    const fresh = await createTestDatabase({ migrated: false });
    try {
      const options = {
        ownerUrl: fresh.ownerUrl,
        authenticator: fresh.authenticator,
        log: testLogger(),
      };
      await Promise.all([migrateDatabase(options), migrateDatabase(options)]);
      expect(await fingerprint(fresh.ownerUrl)).toEqual(await fingerprint(db.ownerUrl));
    } finally {
      await fresh.drop();
    }
  });

  it("re-applies policies: a policy removed by hand comes back", async () => {
    await withClient(db.ownerUrl, (c) =>
      c.query("select app_private.drop_policies('app_public.posts')"),
    );
    await migrateDatabase({
      ownerUrl: db.ownerUrl,
      authenticator: db.authenticator,
      log: testLogger(),
    });
    const { rows } = await withClient(db.ownerUrl, (c) =>
      c.query(
        "select count(*)::int as n from pg_policies where schemaname = 'app_public' and tablename = 'posts'",
      ),
    );
    expect(rows[0].n).toBeGreaterThan(0);
  });

  it("creates the API roles: a NOINHERIT login authenticator that can become anonymous and authenticated", async () => {
    const { rows } = await withClient(db.ownerUrl, (c) =>
      c.query(
        `select r.rolcanlogin as login, r.rolinherit as inherit,
                pg_has_role(r.rolname, 'anonymous', 'member') as anonymous,
                pg_has_role(r.rolname, 'authenticated', 'member') as authenticated,
                pg_has_role(r.rolname, 'anonymous', 'usage') as inherits_anonymous
           from pg_roles r where r.rolname = $1`,
        [db.authenticator.name],
      ),
    );
    expect(rows[0]).toEqual({
      login: true,
      inherit: false,
      anonymous: true,
      authenticated: true,
      inherits_anonymous: false,
    });
  });

  it("finds one policies file per app_public table", async () => {
    const files = (await policyFiles()).map((f) => f.split("/").pop());
    const { rows } = await withClient(db.ownerUrl, (c) =>
      c.query<{ t: string }>(
        `select c.relname as t from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where n.nspname = 'app_public' and c.relkind = 'r'`,
      ),
    );
    for (const { t } of rows) expect(files).toContain(`${t}.sql`);
  });
});
