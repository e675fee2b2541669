/**
 * The benchmark's own databases, and the one rule for "is it seeded already":
 *
 * - `ensureSeeded` migrates a database (with migrations/current.sql) and seeds it at `scale`
 *   unless its `bench.seed_info` marker says it already holds that scale for the newest
 *   committed migration (the data set is kept while only current.sql changes: it is re-applied
 *   on top);
 * - `ensureBenchDatabase` does that in a database of its own on the embedded server (or with
 *   ROOT_DATABASE_URL): `<database>_bench`, or `<database>_bench_s<scale>` (`_bench_s0_1`,
 *   `_bench_s3`) when each scale keeps its own (`npm run bench -- --scales …`).
 *
 * `npm run bench`, `npm run bench:backup` and the growth run all go through here, so each reuses
 * the others' data sets.
 */
import pg from "pg";

import type { DatabaseConnections } from "../../src/db/connection.ts";
import { ensureOwnerAndDatabase } from "../../src/db/connection.ts";
import { latestCommittedMigrationHash, migrateDatabase } from "../../src/db/migrate.ts";
import type { AuthenticatorRole } from "../../src/db/roles.ts";
import { databaseNameOf, userOf, withUrlParts } from "../../src/db/urls.ts";
import type { Logger } from "../../src/log.ts";
import { silentProgress } from "../seed/progress.ts";
import { seedDatabase } from "../seed/seed.ts";

/** The first row of `sql`, on a connection of its own to `url` (a figure for the report). */
export async function queryOne<T extends pg.QueryResultRow>(url: string, sql: string): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(sql)).rows[0]!;
  } finally {
    await client.end();
  }
}

export interface SeedState {
  /** False when the data set was already there. */
  seeded: boolean;
  /** How long seeding took, now or when the reused data set was made (null: not recorded). */
  seedSeconds: number | null;
}

export interface BenchDatabase extends SeedState {
  database: string;
  ownerUrl: string;
  authUrl: string;
}

/** `<database>_bench`, or with `perScale`, `<database>_bench_s<scale>` (the dot as `_`). */
export function benchDatabaseName(ownerUrl: string, scale: number, perScale: boolean): string {
  const base = `${databaseNameOf(ownerUrl)}_bench`;
  return perScale ? `${base}_s${String(scale).replace(".", "_")}` : base;
}

/** Migrates `ownerUrl`'s database, and seeds it at `scale` unless it already holds that scale. */
export async function ensureSeeded(o: {
  ownerUrl: string;
  rootUrl: string | null;
  authenticator: AuthenticatorRole;
  scale: number;
  log: Logger;
  say: (line: string) => void;
  /** Show the seeding progress bar on stderr (default true). */
  progress?: boolean;
}): Promise<SeedState> {
  const database = databaseNameOf(o.ownerUrl);
  await migrateDatabase({
    ownerUrl: o.ownerUrl,
    authenticator: o.authenticator,
    log: o.log,
    current: true,
  });
  const hash = await latestCommittedMigrationHash();
  const marker = new pg.Client({ connectionString: o.ownerUrl });
  await marker.connect();
  try {
    await marker.query(`create schema if not exists bench`);
    await marker.query(
      `create table if not exists bench.seed_info (scale numeric not null, migration_hash text, seeded_at timestamptz not null default now())`,
    );
    await marker.query(`alter table bench.seed_info add column if not exists seed_seconds numeric`);
    const { rows } = await marker.query<{
      scale: string;
      migration_hash: string | null;
      seed_seconds: string | null;
    }>(
      `select scale, migration_hash, seed_seconds from bench.seed_info order by seeded_at desc limit 1`,
    );
    if (Number(rows[0]?.scale) === o.scale && rows[0]?.migration_hash === hash) {
      o.say(`reusing the scale ${o.scale} data set in ${database}`);
      const earlier = rows[0].seed_seconds;
      return { seeded: false, seedSeconds: earlier === null ? null : Number(earlier) };
    }
    o.say(
      `seeding scale ${o.scale} into ${database} (it holds ${rows[0] ? `scale ${rows[0].scale}` : "nothing yet"})`,
    );
    const summary = await seedDatabase({
      ownerUrl: o.ownerUrl,
      rootUrl: o.rootUrl,
      scale: o.scale,
      reset: true,
      ...(o.progress === false ? { progress: silentProgress } : {}),
    });
    o.say(`seeded in ${summary.seconds.toFixed(1)} s`);
    await marker.query(
      `insert into bench.seed_info (scale, migration_hash, seed_seconds) values ($1, $2, $3)`,
      [o.scale, hash, Math.round(summary.seconds * 10) / 10],
    );
    return { seeded: true, seedSeconds: summary.seconds };
  } finally {
    await marker.end();
  }
}

export async function ensureBenchDatabase(o: {
  db: Pick<DatabaseConnections, "ownerUrl" | "rootUrl" | "authenticator">;
  scale: number;
  log: Logger;
  say: (line: string) => void;
  /** One database per scale (`<database>_bench_s<scale>`) instead of the shared `_bench`. */
  perScale?: boolean;
  progress?: boolean;
}): Promise<BenchDatabase> {
  const { db } = o;
  if (!db.rootUrl) throw new Error("no superuser connection to create the benchmark database");
  const database = benchDatabaseName(db.ownerUrl, o.scale, o.perScale ?? false);
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
  const state = await ensureSeeded({
    ownerUrl,
    rootUrl: db.rootUrl,
    authenticator: db.authenticator,
    scale: o.scale,
    log: o.log,
    say: o.say,
    ...(o.progress === undefined ? {} : { progress: o.progress }),
  });
  return { database, ownerUrl, authUrl, ...state };
}
