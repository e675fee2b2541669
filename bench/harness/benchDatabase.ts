/**
 * The benchmark's own database on the embedded server (or with ROOT_DATABASE_URL):
 * `<database>_bench`, created, migrated (with migrations/current.sql) and seeded at `scale` when
 * it does not already hold that scale for this schema — the same rules as `npm run bench`
 * (bench/cli.ts), so either command reuses the other's data set.
 */
import pg from "pg";

import type { DatabaseConnections } from "../../src/db/connection.ts";
import { ensureOwnerAndDatabase } from "../../src/db/connection.ts";
import { latestCommittedMigrationHash, migrateDatabase } from "../../src/db/migrate.ts";
import { databaseNameOf, userOf, withUrlParts } from "../../src/db/urls.ts";
import type { Logger } from "../../src/log.ts";
import { seedDatabase } from "../seed/seed.ts";

export interface BenchDatabase {
  ownerUrl: string;
  authUrl: string;
  /** False when the data set was already there. */
  seeded: boolean;
}

export async function ensureBenchDatabase(o: {
  db: DatabaseConnections;
  scale: number;
  log: Logger;
  say: (line: string) => void;
}): Promise<BenchDatabase> {
  const { db } = o;
  if (!db.rootUrl) throw new Error("no superuser connection to create the benchmark database");
  const database = `${databaseNameOf(db.ownerUrl)}_bench`;
  await ensureOwnerAndDatabase(db.rootUrl, {
    role: userOf(db.ownerUrl),
    password: decodeURIComponent(new URL(db.ownerUrl).password),
    database,
  });
  const ownerUrl = withUrlParts(db.ownerUrl, { database });
  const authUrl = withUrlParts(ownerUrl, {
    user: db.authenticator.name,
    password: db.authenticator.password,
  });
  await migrateDatabase({ ownerUrl, authenticator: db.authenticator, log: o.log, current: true });
  const hash = await latestCommittedMigrationHash();
  const marker = new pg.Client({ connectionString: ownerUrl });
  await marker.connect();
  try {
    await marker.query(`create schema if not exists bench`);
    await marker.query(
      `create table if not exists bench.seed_info (scale numeric not null, migration_hash text, seeded_at timestamptz not null default now())`,
    );
    const { rows } = await marker.query<{ scale: string; migration_hash: string | null }>(
      `select scale, migration_hash from bench.seed_info order by seeded_at desc limit 1`,
    );
    if (Number(rows[0]?.scale) === o.scale && rows[0]?.migration_hash === hash) {
      o.say(`reusing the scale ${o.scale} data set in ${database}`);
      return { ownerUrl, authUrl, seeded: false };
    }
    o.say(
      `seeding scale ${o.scale} into ${database} (it holds ${rows[0] ? `scale ${rows[0].scale}` : "nothing yet"})`,
    );
    const summary = await seedDatabase({
      ownerUrl,
      rootUrl: db.rootUrl,
      scale: o.scale,
      reset: true,
    });
    o.say(`seeded in ${summary.seconds.toFixed(1)} s`);
    await marker.query(`insert into bench.seed_info (scale, migration_hash) values ($1, $2)`, [
      o.scale,
      hash,
    ]);
    return { ownerUrl, authUrl, seeded: true };
  } finally {
    await marker.end();
  }
}
