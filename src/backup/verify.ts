/**
 * Proves the newest base backup: restores it with the archived WAL into a scratch folder beside
 * the backups, starts it on a free port (archiving off: the scratch server must never write into
 * the archive), and checks it:
 *
 * - the migrations are current (the newest committed migration is applied);
 * - every table of the application's schemas can be read in full;
 * - counters agree with the rows, except for rows whose recount job is still queued (the job
 *   queue is part of the restored state; such a row is consistent once the worker runs).
 *
 * The scratch folder is deleted afterwards. The result is written to the backup's folder
 * (`verify.json`) and returned; the time to recover is the RTO measured on this machine.
 */
import { writeFile } from "node:fs/promises";
import path from "node:path";

import pg from "pg";

import { latestAppliedMigrationHash, latestCommittedMigrationHash } from "../db/migrate.ts";
import { withUrlParts } from "../db/urls.ts";
import { freePort } from "../freePort.ts";
import type { Logger } from "../log.ts";
import { backupFoldersFor } from "./archive.ts";
import { restoreCluster } from "./restore.ts";

/** Tables whose counters are recomputed by `counters__recount` jobs (src/tasks/counters.ts). */
const COUNTED_TABLES = ["posts", "comments", "groups", "events"] as const;

export interface VerifyReport {
  backupId: string;
  ok: boolean;
  problems: string[];
  recoverySeconds: number;
  tables: number;
  rows: number;
  /** Rows whose counters differ from the rows, with their recount job queued. */
  countersPending: number;
  verifiedAt: string;
}

/** The checks, on a restored database (as a superuser). */
export async function checkRestoredDatabase(
  url: string,
): Promise<Pick<VerifyReport, "problems" | "tables" | "rows" | "countersPending">> {
  const problems: string[] = [];
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const applied = await latestAppliedMigrationHash(client).catch(() => null);
    if (applied !== (await latestCommittedMigrationHash())) {
      problems.push("migrations are not current");
    }
    const { rows: tables } = await client.query<{ schema: string; name: string }>(
      `select n.nspname as schema, c.relname as name from pg_class c
         join pg_namespace n on n.oid = c.relnamespace
        where c.relkind in ('r', 'p', 'm')
          and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
        order by 1, 2`,
    );
    let rows = 0;
    for (const t of tables) {
      const name = `${pg.escapeIdentifier(t.schema)}.${pg.escapeIdentifier(t.name)}`;
      try {
        // reads every row (and its toasted values): a damaged page or file fails here
        const { rows: r } = await client.query<{ n: string }>(
          `select count(*)::text as n from (select md5(x::text) from ${name} x) s`,
        );
        rows += Number(r[0]!.n);
      } catch (error) {
        problems.push(`${t.schema}.${t.name} cannot be read: ${(error as Error).message}`);
      }
    }
    let countersPending = 0;
    const hasCounters = await client.query(
      `select 1 from pg_proc p join pg_namespace n on n.oid = p.pronamespace
        where n.nspname = 'app_private' and p.proname = 'recount'`,
    );
    if (hasCounters.rowCount) {
      // recount() fixes what it finds; this transaction is rolled back
      await client.query("begin");
      try {
        for (const table of COUNTED_TABLES) {
          const { rows: r } = await client.query<{ pending: string; unexplained: string }>(
            `select count(*) filter (where queued)::text as pending,
                    count(*) filter (where not queued)::text as unexplained
               from (select exists (select 1 from graphile_worker.jobs j
                                     where j.key = format('recount:%s:%s', $1::text, x.id)) as queued
                       from app_public.${pg.escapeIdentifier(table)} x
                      where app_private.recount($1, x.id)) d`,
            [table],
          );
          countersPending += Number(r[0]!.pending);
          const unexplained = Number(r[0]!.unexplained);
          if (unexplained > 0) {
            problems.push(`${unexplained} ${table} rows have counters that disagree with the rows`);
          }
        }
      } finally {
        await client.query("rollback");
      }
    }
    return { problems, tables: tables.length, rows, countersPending };
  } finally {
    await client.end();
  }
}

export async function verifyLatestBackup(o: {
  /** The cluster's data folder (its backups are beside it). */
  clusterDir: string;
  /** The application's database in the cluster. */
  databaseName: string;
  /** The cluster's superuser password (the copy has the same). */
  superuserPassword: string;
  log: Logger;
}): Promise<VerifyReport> {
  const folders = backupFoldersFor(o.clusterDir);
  const scratch = path.join(folders.root, `verify-${process.pid}-${Date.now()}`);
  const restored = await restoreCluster({
    dataDir: scratch,
    backupsOf: o.clusterDir,
    target: "latest",
    port: await freePort(),
    superuserPassword: o.superuserPassword,
    log: o.log.child({ component: "backup-verify" }),
    archive: false,
    throwaway: true,
  }).catch((error: unknown) => {
    throw new Error(`verify: the newest backup could not be restored: ${(error as Error).message}`);
  });
  try {
    const checked = await checkRestoredDatabase(
      withUrlParts(restored.server.superuserUrl("postgres"), { database: o.databaseName }),
    );
    const report: VerifyReport = {
      backupId: restored.backup.id,
      ok: checked.problems.length === 0,
      recoverySeconds: restored.recoverySeconds,
      verifiedAt: new Date().toISOString(),
      ...checked,
    };
    await writeFile(
      path.join(path.dirname(restored.backup.dir), "verify.json"),
      JSON.stringify(report, null, 2) + "\n",
    );
    return report;
  } finally {
    await restored.server.stop();
  }
}
