/**
 * The migrate step analyzes the database when a migration ran (new indexes get statistics at
 * once), and skips it when there was nothing to migrate.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

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

async function migrate(currentDir?: string): Promise<number> {
  const log = testLogger();
  await migrateDatabase({
    ownerUrl: db.ownerUrl,
    authenticator: db.authenticator,
    log,
    ...(currentDir ? { current: true, currentDir } : {}),
  });
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
    // a current.sql of its own: the project's may be empty (everything committed)
    const dir = await mkdtemp(path.join(tmpdir(), "mking-current-"));
    try {
      await writeFile(
        path.join(dir, "current.sql"),
        "create table if not exists app_private.analyze_current_probe (id int primary key);\n",
      );
      expect(await migrate(dir)).toBeGreaterThan(20);
      expect(await neverAnalyzed()).toEqual([]);
      // an empty one (comments only) runs nothing, so nothing is analyzed
      await writeFile(path.join(dir, "current.sql"), "-- Enter migration here\n");
      expect(await migrate(dir)).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
