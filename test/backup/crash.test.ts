/**
 * A kill -9 of PostgreSQL while acknowledged inserts run: after a restart every acknowledged row
 * is there (the WAL is written before a commit is acknowledged), and a restore --latest from
 * the base backup, the archive and the old folder's WAL has them too.
 */
import { readFileSync } from "node:fs";
import path from "node:path";

import pg from "pg";

import { backupNow } from "../../src/backup/catalog.ts";
import { restoreCluster } from "../../src/backup/restore.ts";
import { postgresRunAs } from "../../src/db/postgresUser.ts";
import { testLogger } from "../helpers/log.ts";
import { isAlive, waitUntil } from "../helpers/process.ts";
import { createBackupTestCluster, PASSWORD, query, type BackupTestCluster } from "./cluster.ts";

const log = testLogger();
let cluster: BackupTestCluster;

beforeAll(async () => {
  cluster = await createBackupTestCluster(log);
  await query(cluster.ownerUrl(), `create table public.acknowledged (n int primary key)`);
}, 60_000);

afterAll(async () => {
  await cluster?.remove();
}, 30_000);

test("kill -9 mid-write loses no acknowledged row, after restart and after restore --latest", async () => {
  await backupNow({
    superuserUrl: cluster.superuserUrl(),
    clusterDir: cluster.dataDir,
    owner: await postgresRunAs(),
    log,
  });
  const pid = Number(
    readFileSync(path.join(cluster.dataDir, "postmaster.pid"), "utf8").split("\n")[0],
  );

  const acknowledged: number[] = [];
  const client = new pg.Client({ connectionString: cluster.ownerUrl() });
  client.on("error", () => undefined);
  await client.connect();
  const writing = (async () => {
    for (let n = 1; ; n++) {
      try {
        // synchronous_commit is on: the commit returns once its WAL is on disk
        await client.query(`insert into public.acknowledged (n) values ($1)`, [n]);
      } catch {
        return;
      }
      acknowledged.push(n);
      if (n === 200) process.kill(pid, "SIGKILL");
    }
  })();
  await writing;
  await client.end().catch(() => undefined);
  await waitUntil("postgres gone", () => !isAlive(pid));
  expect(acknowledged.length).toBeGreaterThanOrEqual(200);

  // the supervisor saw its child die; start again on the same folder (crash recovery)
  await cluster.server.stop();
  await cluster.start();
  const afterRestart = await query<{ n: number }>(
    cluster.ownerUrl(),
    `select n from public.acknowledged order by n`,
  );
  expect(afterRestart.map((r) => r.n)).toEqual(expect.arrayContaining(acknowledged));

  // the last rows may be in no archived WAL file yet: restore --latest replays the old
  // folder's pg_wal after the archive
  await cluster.server.stop();
  const restored = await restoreCluster({
    dataDir: cluster.dataDir,
    target: "latest",
    port: cluster.port,
    superuserPassword: PASSWORD,
    log,
  });
  cluster.server = restored.server;
  const afterRestore = await query<{ n: number }>(
    cluster.ownerUrl(),
    `select n from public.acknowledged order by n`,
  );
  expect(afterRestore.map((r) => r.n)).toEqual(expect.arrayContaining(acknowledged));
}, 120_000);
