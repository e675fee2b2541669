/**
 * The migrate step analyzes the database when a migration ran (new indexes get statistics at
 * once), and skips it when there was nothing to migrate.
 */
import { migrateDatabase } from "../../src/db/migrate.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { testLogger } from "../helpers/log.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase({ migrated: false });
});
afterAll(() => db.drop());

/** reltuples is -1 until a table is first vacuumed or analyzed (ANALYZE sets it at once). */
const neverAnalyzed = (): Promise<string[]> =>
  withClient(db.ownerUrl, async (c) =>
    (
      await c.query<{ name: string }>(
        `select n.nspname || '.' || c.relname as name
           from pg_class c join pg_namespace n on n.oid = c.relnamespace
          where c.relkind = 'r' and c.reltuples < 0
            and n.nspname in ('app_public', 'app_private', 'graphile_worker')
          order by 1`,
      )
    ).rows.map((r) => r.name),
  );

async function migrate(current = false): Promise<number> {
  const log = testLogger();
  await migrateDatabase({ ownerUrl: db.ownerUrl, authenticator: db.authenticator, log, current });
  const line = log.lines.find((l) => l.includes("database migrated")) ?? "";
  return Number(/analyzedTables=(\d+)/.exec(line)?.[1]);
}

describe("ANALYZE after migrations", () => {
  it("analyzes every table the owner has after migrations ran, not when nothing was new", async () => {
    const analyzed = await migrate();
    expect(analyzed).toBeGreaterThan(20);
    expect(await neverAnalyzed()).toEqual([]);

    await withClient(db.ownerUrl, (c) =>
      c.query(`create table app_private.analyze_probe (id int primary key)`),
    );
    expect(await migrate()).toBe(0);
    expect(await neverAnalyzed()).toEqual(["app_private.analyze_probe"]);
  });

  it("analyzes after the migration being written (migrations/current.sql) ran", async () => {
    expect(await migrate(true)).toBeGreaterThan(20);
    expect(await neverAnalyzed()).toEqual([]);
  });
});
