/**
 * The migrate step (`npm run db:migrate`, and every start unless MIGRATE_ON_START=false):
 *
 *   roles → graphile-worker's schema (and its queue's autovacuum settings) → committed
 *   migrations → policies/*.sql → ANALYZE, when a migration ran
 *
 * It runs under a database-wide advisory lock, so several processes starting at once take
 * turns instead of racing; every part is idempotent. Nothing new to migrate: no ANALYZE.
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";

import { migrate as runCommittedMigrations } from "graphile-migrate";
import { runMigrations as runWorkerMigrations } from "graphile-worker";
import pg from "pg";

import type { Logger } from "../log.ts";
import { MIGRATIONS_DIR } from "../paths.ts";
import { workerLoggerFor } from "../workerLogger.ts";
import { analyzeOwnTables } from "./analyze.ts";
import { tuneWorkerQueue } from "./autovacuum.ts";
import { migrateSettings, releaseMigratePools } from "./gmrc.ts";
import { applyPolicies } from "./policies.ts";
import { ensureRoles, type AuthenticatorRole } from "./roles.ts";

/** Arbitrary constant: the advisory lock key of the migrate step. */
const MIGRATE_LOCK_KEY = 7_302_146_511;

export interface MigrateOptions {
  ownerUrl: string;
  authenticator: AuthenticatorRole;
  log: Logger;
  /** Re-apply policies/*.sql afterwards (default true; false before the first migration exists). */
  policies?: boolean;
  /**
   * Also run `migrations/current.sql`, the migration being written, after the committed ones
   * (as `npm run db:watch` does): the tests and `schema:export` see work in progress before
   * `npm run db:commit`. It must be idempotent, as graphile-migrate requires. Default false.
   */
  current?: boolean;
  /** Where `current.sql` is read from (tests); default migrations/. */
  currentDir?: string;
}

export async function migrateDatabase({
  ownerUrl,
  authenticator,
  log,
  policies = true,
  current = false,
  currentDir = MIGRATIONS_DIR,
}: MigrateOptions): Promise<void> {
  const started = Date.now();
  const client = new pg.Client({ connectionString: ownerUrl });
  client.on("error", (error) => log.warn("migrate connection failed", { error }));
  await client.connect();
  try {
    await client.query("select pg_advisory_lock($1)", [MIGRATE_LOCK_KEY]);
    try {
      await ensureRoles(client, authenticator);
      await installWorkerSchema(ownerUrl, log);
      await tuneWorkerQueue(client, log);
      const before = await appliedHashIfAny(client);
      try {
        await runCommittedMigrations(await migrateSettings({ ownerUrl }, log));
      } finally {
        releaseMigratePools();
      }
      const committedRan = (await appliedHashIfAny(client)) !== before;
      const currentRan = current ? await runCurrentMigration(client, currentDir) : false;
      const files = policies ? await applyPolicies(client) : 0;
      // fresh statistics for what a migration added (new indexes, rewritten tables)
      const analyzed = committedRan || currentRan ? await analyzeOwnTables(client) : 0;
      log.info("database migrated", {
        policyFiles: files,
        analyzedTables: analyzed,
        ms: Date.now() - started,
      });
    } finally {
      await client.query("select pg_advisory_unlock($1)", [MIGRATE_LOCK_KEY]);
    }
  } finally {
    await client.end();
  }
}

/** latestAppliedMigrationHash, or null before graphile-migrate has created its table. */
async function appliedHashIfAny(client: pg.ClientBase): Promise<string | null> {
  const { rows } = await client.query<{ present: boolean }>(
    `select to_regclass('graphile_migrate.migrations') is not null as present`,
  );
  return rows[0]?.present ? latestAppliedMigrationHash(client) : null;
}

/** Runs `migrations/current.sql` in one transaction, unless it holds nothing but comments. */
export async function runCurrentMigration(
  client: pg.ClientBase,
  dir: string = MIGRATIONS_DIR,
): Promise<boolean> {
  const sql = await readFile(path.join(dir, "current.sql"), "utf8").catch(() => "");
  const body = sql.replace(/--.*$/gm, "").trim();
  if (body === "") return false;
  await client.query("begin");
  try {
    await client.query(sql);
    await client.query("commit");
  } catch (error) {
    await client.query("rollback");
    throw new Error(`migrations/current.sql: ${(error as Error).message}`, { cause: error });
  }
  return true;
}

/** graphile-worker keeps its queue in the `graphile_worker` schema; our triggers call into it. */
export async function installWorkerSchema(ownerUrl: string, log: Logger): Promise<void> {
  // Our own pool, ended here: nothing of it outlives the call (or errors after it).
  const pgPool = new pg.Pool({ connectionString: ownerUrl, max: 1 });
  pgPool.on("error", () => undefined);
  pgPool.on("connect", (client) => client.on("error", () => undefined));
  try {
    await runWorkerMigrations({ pgPool, logger: workerLoggerFor(log) });
  } finally {
    await pgPool.end();
  }
}

/** The hash of the newest committed migration on disk (`--! Hash:` header), or null. */
export async function latestCommittedMigrationHash(
  dir: string = MIGRATIONS_DIR,
): Promise<string | null> {
  const committedDir = path.join(dir, "committed");
  const files = (await readdir(committedDir).catch(() => [] as string[]))
    .filter((f) => /^\d+.*\.sql$/.test(f))
    .sort();
  const last = files.at(-1);
  if (!last) return null;
  const head = (await readFile(path.join(committedDir, last), "utf8")).slice(0, 500);
  return /^--! Hash: (\S+)$/m.exec(head)?.[1] ?? null;
}

/** The hash of the newest migration applied to the database, or null when none is. */
export async function latestAppliedMigrationHash(client: pg.ClientBase): Promise<string | null> {
  const { rows } = await client.query<{ hash: string }>(
    `select hash from graphile_migrate.migrations order by filename desc limit 1`,
  );
  return rows[0]?.hash ?? null;
}
