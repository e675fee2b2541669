/**
 * `npm run bench:backup -- [--scale 1] [--seconds 30] [--clients 4] [--no-standby] [--keep-backup]`
 *
 * Backup and replication figures for BENCHMARKS.md, on the embedded server configured as for
 * `npm run bench` (DATA_DIR, EMBEDDED_PG_PORT; no DATABASE_URL), with the benchmark's data set
 * `<database>_bench` (created and seeded at `--scale` when it is not already, as `npm run bench`
 * does: either command reuses the other's):
 *
 * 1. a base backup of the whole cluster into its catalog, as `npm run db:backup` takes it
 *    (bytes, seconds, MB/s; removed afterwards unless --keep-backup);
 * 2. a restore of it with the archived WAL into a scratch folder until the restored server is out
 *    of recovery and answers a query on the data set: the RTO for this data set
 *    (as `npm run db:verify` restores);
 * 3. a hot standby made with `npm run db:standby`'s machinery (src/backup/standby.ts) in a
 *    scratch folder: how long making it takes;
 * 4. `--seconds` of mutations in SQL as the API runs them (bench/harness/writeLoad.ts), sampling
 *    once a second: the archive's age (`now() - pg_stat_archiver.last_archived_time`), WAL files
 *    waiting to be archived (`.ready` in pg_wal/archive_status) and the standby's replay lag
 *    (src/db/replication.ts); then how long the archive takes to drain once the load stops.
 *
 * Writes bench/results/backup-<date>.json and prints a Markdown table.
 */
import { mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";

import pg from "pg";

import { backupFoldersFor } from "../src/backup/archive.ts";
import { backupNow } from "../src/backup/catalog.ts";
import { restoreCluster } from "../src/backup/restore.ts";
import {
  standbyLag,
  startStandby,
  waitUntilReplayed,
  type Standby,
} from "../src/backup/standby.ts";
import { connectDatabase } from "../src/db/connection.ts";
import { postgresRunAs } from "../src/db/postgresUser.ts";
import { databaseNameOf, withUrlParts } from "../src/db/urls.ts";
import { createLogger } from "../src/log.ts";
import { PROJECT_ROOT } from "../src/paths.ts";
import { ensureBenchDatabase, queryOne } from "./harness/benchDatabase.ts";
import { freePort } from "./harness/processes.ts";
import { startWriteLoad } from "./harness/writeLoad.ts";
import { loadBenchConfig } from "./harness/benchConfig.ts";
import { script, type Fail } from "./harness/script.ts";

const cli = script("bench:backup");
const { say, positive, stopOnSignals } = cli;
const fail: Fail = cli.fail;
const { values } = cli.parse({
  options: {
    scale: { type: "string", default: "1" },
    seconds: { type: "string", default: "30" },
    clients: { type: "string", default: "4" },
    "no-standby": { type: "boolean", default: false },
    "keep-backup": { type: "boolean", default: false },
  },
});

const scale = positive("scale", values.scale);
const seconds = positive("seconds", values.seconds);
const clients = cli.whole("clients", values.clients);

const config = loadBenchConfig(fail, "measures the embedded server");

const log = createLogger({ level: "warn", json: false });
const MB = 1024 * 1024;
const round = (n: number, digits = 2): number => Number(n.toFixed(digits));

interface Spread {
  median: number;
  p95: number;
  max: number;
  samples: number;
}
function spread(values: number[]): Spread | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number): number =>
    sorted[Math.min(sorted.length - 1, Math.ceil(p * sorted.length) - 1)]!;
  return {
    median: round(at(0.5), 3),
    p95: round(at(0.95), 3),
    max: round(sorted.at(-1)!, 3),
    samples: sorted.length,
  };
}

const cleanups: (() => Promise<unknown>)[] = [];
const db = await connectDatabase(config, log);
cleanups.push(() => db.close());
const cleanUp = async (): Promise<void> => {
  for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
};
stopOnSignals(cleanUp);

try {
  const rootUrl = db.rootUrl!;
  const clusterDir = db.embedded!.dataDir;
  const bench = await ensureBenchDatabase({ db, scale, log, say });
  const benchDb = databaseNameOf(bench.ownerUrl);
  const sizes = await queryOne<{ cluster: string; bench: string; users: string }>(
    bench.ownerUrl,
    `select (select sum(pg_database_size(oid)) from pg_database)::text as cluster,
            pg_database_size(current_database())::text as bench,
            (select count(*) from app_public.users)::text as users`,
  );

  // 1. base backup
  say("base backup of the whole cluster");
  const owner = await postgresRunAs();
  let started = Date.now();
  const backup = await backupNow({ superuserUrl: rootUrl, clusterDir, owner, log });
  const backupSeconds = (Date.now() - started) / 1000;
  if (!values["keep-backup"])
    cleanups.push(() => rm(path.dirname(backup.dir), { recursive: true, force: true }));

  // 2. restore it (with the WAL archived since) into a scratch folder: the RTO
  say("restoring it into a scratch folder");
  const scratch = path.join(backupFoldersFor(clusterDir).root, `bench-restore-${process.pid}`);
  started = Date.now();
  const restored = await restoreCluster({
    dataDir: scratch,
    backupsOf: clusterDir,
    target: "latest",
    port: await freePort(),
    superuserPassword: config.embeddedPostgres.superuserPassword,
    log,
    archive: false,
    throwaway: true,
  });
  const answered = await queryOne<{ users: string }>(
    withUrlParts(restored.server.superuserUrl("postgres"), { database: benchDb }),
    "select count(*)::text as users from app_public.users",
  );
  const restoreSeconds = (Date.now() - started) / 1000;
  await restored.server.stop();
  if (answered.users !== sizes.users) {
    fail(`the restored data set has ${answered.users} users, the primary ${sizes.users}`);
  }

  // 3. a hot standby
  let standby: Standby | null = null;
  let standbySeconds: number | null = null;
  if (!values["no-standby"]) {
    say("making a hot standby");
    const dir = path.join(path.dirname(clusterDir), `bench-standby-${process.pid}`);
    started = Date.now();
    standby = await startStandby({
      primaryUrl: rootUrl,
      primaryDataDir: clusterDir,
      dir,
      port: await freePort(),
      superuserPassword: config.embeddedPostgres.superuserPassword,
      log,
      name: "bench-standby",
    });
    const made = standby;
    cleanups.push(async () => {
      await made.server.stop();
      await rm(made.dataDir, { recursive: true, force: true });
      const own = backupFoldersFor(made.dataDir).root;
      if (own !== backupFoldersFor(clusterDir).root)
        await rm(own, { recursive: true, force: true });
    });
    await waitUntilReplayed(rootUrl, standby.name, 10 * 60_000);
    standbySeconds = (Date.now() - started) / 1000;
  }

  // 4. write load, sampled every second
  say(`write load: ${clients} clients for ${seconds} s`);
  const sampler = new pg.Client({ connectionString: rootUrl });
  await sampler.connect();
  cleanups.push(() => sampler.end());
  const sample = async (): Promise<{ age: number | null; ready: number; lsn: string }> => {
    const { rows } = await sampler.query<{ age: number | null; ready: number; lsn: string }>(
      `select extract(epoch from now() - last_archived_time)::float8 as age,
              (select count(*) from pg_ls_archive_statusdir() where name like '%.ready')::int as ready,
              pg_current_wal_lsn()::text as lsn
         from pg_stat_archiver`,
    );
    return rows[0]!;
  };
  const first = await sample();
  const load = await startWriteLoad({ ownerUrl: bench.ownerUrl, authUrl: bench.authUrl, clients });
  const ages: number[] = [];
  const ready: number[] = [];
  const lagMs: number[] = [];
  const lagBytes: number[] = [];
  let lagUnmeasured = 0;
  const deadline = Date.now() + seconds * 1000;
  let last = first;
  while (Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 1000));
    last = await sample();
    if (last.age !== null) ages.push(last.age);
    ready.push(last.ready);
    if (standby) {
      const lag = await standbyLag(sampler, standby.name);
      if (lag) {
        lagBytes.push(lag.lagBytes);
        if (lag.lagSeconds === null) lagUnmeasured++;
        else lagMs.push(lag.lagSeconds * 1000);
      }
    }
  }
  const written = await load.stop();
  const { rows: walRows } = await sampler.query<{ bytes: string }>(
    "select pg_wal_lsn_diff($1::pg_lsn, $2::pg_lsn)::text as bytes",
    [last.lsn, first.lsn],
  );
  const walBytes = Number(walRows[0]!.bytes);
  // how long until every WAL file finished under the load is archived
  started = Date.now();
  let drained = await sample();
  while (drained.ready > 0 && Date.now() - started < 5 * 60_000) {
    await new Promise((resolve) => setTimeout(resolve, 100));
    drained = await sample();
  }
  const drainSeconds = (Date.now() - started) / 1000;

  const result = {
    kind: "backup",
    at: new Date().toISOString(),
    scale,
    dataSet: {
      users: Number(sizes.users),
      benchDatabaseBytes: Number(sizes.bench),
      clusterBytes: Number(sizes.cluster),
    },
    baseBackup: {
      bytes: backup.bytes,
      seconds: round(backupSeconds),
      mbPerSecond: round(backup.bytes / MB / backupSeconds, 1),
      kept: values["keep-backup"],
    },
    restore: {
      secondsUntilAnswering: round(restoreSeconds),
      recoverySeconds: round(restored.recoverySeconds),
    },
    standby: standby && { secondsToCreateAndCatchUp: round(standbySeconds!) },
    load: {
      clients,
      seconds: round(written.seconds, 1),
      transactions: written.transactions,
      transactionsPerSecond: round(written.transactions / written.seconds, 1),
      errors: written.errors,
      firstError: written.firstError,
      walMbPerSecond: round(walBytes / MB / written.seconds, 2),
    },
    archive: {
      timeoutSeconds: 60,
      ageSeconds: spread(ages),
      readyFiles: spread(ready),
      drainSecondsAfterLoad: round(drainSeconds),
    },
    replication: standby && {
      replayLagMs: spread(lagMs),
      lagBytes: spread(lagBytes),
      samplesWithoutReplayLag: lagUnmeasured,
    },
  };
  const stamp = result.at.replace(/[:.]/g, "-");
  const dir = path.join(PROJECT_ROOT, "bench", "results");
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `backup-${stamp}.json`);
  await writeFile(file, JSON.stringify(result, null, 2) + "\n");

  const fmt = (s: Spread | null, unit: string): string =>
    s
      ? `${s.median} / ${s.p95} / ${s.max}${unit && ` ${unit}`} (${s.samples} samples)`
      : "no samples";
  const rows: [string, string][] = [
    [
      "data set",
      `scale ${scale}: ${result.dataSet.users.toLocaleString("en")} users, ${benchDb} ` +
        `${(result.dataSet.benchDatabaseBytes / MB).toFixed(0)} MB, cluster ${(result.dataSet.clusterBytes / MB).toFixed(0)} MB`,
    ],
    [
      "base backup (db:backup)",
      `${(backup.bytes / MB).toFixed(0)} MB in ${result.baseBackup.seconds} s (${result.baseBackup.mbPerSecond} MB/s)`,
    ],
    [
      "restore until it answers (RTO)",
      `${result.restore.secondsUntilAnswering} s (copy + WAL replay + promotion: ${result.restore.recoverySeconds} s)`,
    ],
    ...(standby
      ? ([
          [
            "hot standby made and caught up (db:standby)",
            `${result.standby!.secondsToCreateAndCatchUp} s`,
          ],
        ] as [string, string][])
      : []),
    [
      "write load",
      `${clients} clients, ${result.load.transactionsPerSecond} transactions/s ` +
        `(add_comment or like+unlike), ${result.load.walMbPerSecond} MB/s of WAL, ${written.errors} errors`,
    ],
    ["archive age under load (RPO), median / p95 / max", fmt(result.archive.ageSeconds, "s")],
    ["WAL files waiting to be archived, median / p95 / max", fmt(result.archive.readyFiles, "")],
    ["archive drained after the load", `${result.archive.drainSecondsAfterLoad} s`],
    ...(standby
      ? ([
          [
            "standby replay lag under load, median / p95 / max",
            fmt(result.replication!.replayLagMs, "ms"),
          ],
          [
            "standby bytes behind under load, median / p95 / max",
            fmt(result.replication!.lagBytes, "B"),
          ],
        ] as [string, string][])
      : []),
  ];
  const markdown = [
    `Backups and replication, ${result.at} (embedded PostgreSQL, \`npm run bench:backup\`)`,
    "",
    "| measure | value |",
    "| --- | --- |",
    ...rows.map(([k, v]) => `| ${k} | ${v} |`),
    "",
    "The archive's age is `now() - pg_stat_archiver.last_archived_time`: with `archive_timeout = 60`",
    "a quiet server's newest writes wait up to 60 s for the archive (the RPO bound when the data",
    "folder is lost); under load WAL files fill and are archived sooner.",
  ].join("\n");
  process.stdout.write(`\n${markdown}\n`);
  say(`results: ${path.relative(PROJECT_ROOT, file)}`);
} finally {
  await cleanUp();
}
