/**
 * Database metrics that need a cluster of their own, archiving WAL as `npm start` runs it
 * (test/backup/cluster.ts): WAL archiving (last archived, failures), the newest base backup as
 * the service reads it (src/backup/catalog.ts), the data folder's free disk, and autovacuum and
 * autoanalyze of a hot table (with a short autovacuum_naptime, set on this cluster only).
 */
import { chmod } from "node:fs/promises";

import { backupNow, latestBaseBackup } from "../../src/backup/catalog.ts";
import { postgresRunAs } from "../../src/db/postgresUser.ts";
import { startMetricsServer, type MetricsServer } from "../../src/metricsServer.ts";
import {
  archiveNow,
  backupFoldersFor,
  createBackupTestCluster,
  DATABASE,
  query,
  type BackupTestCluster,
} from "../backup/cluster.ts";
import { testLogger } from "../helpers/log.ts";
import { scrape, type Samples } from "./scrape.ts";

const log = testLogger();
let cluster: BackupTestCluster;
let metrics: MetricsServer;

beforeAll(async () => {
  cluster = await createBackupTestCluster(log);
  metrics = await startMetricsServer({
    host: "127.0.0.1",
    port: 0,
    ownerUrl: cluster.ownerUrl(),
    heartbeatMs: 1000,
    log,
    worker: null,
    // what src/service.ts passes for the embedded server
    database: {
      intervalMs: 60_000,
      dataDir: cluster.dataDir,
      lastBackupAt: async () => {
        const newest = await latestBaseBackup(cluster.dataDir);
        return newest ? new Date(newest.finishedAt) : null;
      },
    },
  });
}, 60_000);
afterAll(async () => {
  await metrics?.close();
  await cluster?.remove();
}, 30_000);

async function collect(): Promise<Samples> {
  await metrics.database!.collect();
  return scrape(metrics.url);
}

/** Collects and scrapes until `ready` holds (the archiver and statistics work asynchronously). */
async function collectUntil(ready: (s: Samples) => boolean, what: string): Promise<Samples> {
  const deadline = Date.now() + 20_000;
  for (;;) {
    const samples = await collect();
    if (ready(samples)) return samples;
    if (Date.now() > deadline) throw new Error(`metrics never showed ${what}:\n${samples.text}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

it("report the newest base backup once one finished, and the data folder's free disk", async () => {
  const before = await collect();
  expect(before.has("mking_backup_last_success_timestamp_seconds")).toBe(false);
  const free = before.value("mking_db_disk_free_ratio");
  expect(free).toBeGreaterThan(0);
  expect(free).toBeLessThanOrEqual(1);

  const backup = await backupNow({
    superuserUrl: cluster.superuserUrl(),
    clusterDir: cluster.dataDir,
    owner: await postgresRunAs(),
    log,
  });
  const after = await collect();
  expect(after.value("mking_backup_last_success_timestamp_seconds")).toBe(
    new Date(backup.finishedAt).getTime() / 1000,
  );
}, 30_000);

it("report the age of the last archived WAL segment, and archiving failures", async () => {
  // some WAL in the current segment, so that switching it closes a segment to archive
  await query(cluster.superuserUrl(), "select pg_logical_emit_message(false, 'test', 'wal')");
  await archiveNow(cluster.superuserUrl(), backupFoldersFor(cluster.dataDir).wal);
  const archived = await collect();
  expect(archived.has("mking_db_archive_last_archived_age_seconds")).toBe(true);
  expect(archived.value("mking_db_archive_last_archived_age_seconds")).toBeLessThan(10);
  const failedBefore = archived.value("mking_db_archive_failed_total");

  const walDir = backupFoldersFor(cluster.dataDir).wal;
  await chmod(walDir, 0o500);
  try {
    await query(cluster.superuserUrl(), "select pg_logical_emit_message(false, 'test', 'wal')");
    await query(cluster.superuserUrl(), "select pg_switch_wal()");
    await collectUntil(
      (s) => s.value("mking_db_archive_failed_total") > failedBefore,
      "a failed archive attempt",
    );
  } finally {
    await chmod(walDir, 0o700);
  }
}, 30_000);

it("report when autovacuum and autoanalyze last processed a hot table", async () => {
  const table = { table: "graphile_worker._private_jobs" };
  const started = Date.now();
  const superuser = cluster.superuserUrl(DATABASE);
  await query(superuser, "alter system set autovacuum_naptime = '1s'");
  await query(superuser, "select pg_reload_conf()");
  await query(
    superuser,
    `alter table graphile_worker._private_jobs set (
       autovacuum_vacuum_threshold = 0, autovacuum_vacuum_scale_factor = 0,
       autovacuum_analyze_threshold = 0, autovacuum_analyze_scale_factor = 0)`,
  );
  await query(
    cluster.ownerUrl(),
    `select graphile_worker.add_job('test__vacuum', '{}'::json) from generate_series(1, 20)`,
  );
  await query(
    cluster.ownerUrl(),
    `delete from graphile_worker._private_jobs where task_id in
       (select id from graphile_worker._private_tasks where identifier = 'test__vacuum')`,
  );
  // processed since the test started: an age shorter than the time elapsed
  const since = (s: Samples, name: string): boolean =>
    s.has(name, table) && s.value(name, table) < (Date.now() - started) / 1000;
  await collectUntil(
    (s) =>
      since(s, "mking_db_table_last_autovacuum_age_seconds") &&
      since(s, "mking_db_table_last_autoanalyze_age_seconds"),
    "autovacuum and autoanalyze of graphile_worker._private_jobs",
  );
}, 30_000);
