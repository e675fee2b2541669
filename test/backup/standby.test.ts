/**
 * `npm run db:standby`'s machinery on a real embedded primary with WAL archiving: a hot standby
 * cloned from a low-level base backup streams the primary's writes, answers reads and refuses
 * writes, reports its lag on the primary, and takes writes once promoted.
 */
import { existsSync, readFileSync } from "node:fs";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";

import pg from "pg";

import { ensureReplicationAccess } from "../../src/backup/replicationAccess.ts";
import {
  promoteStandby,
  standbyLag,
  startStandby,
  waitUntilReplayed,
  type Standby,
} from "../../src/backup/standby.ts";
import { replicationStatus } from "../../src/db/replication.ts";
import { withUrlParts } from "../../src/db/urls.ts";
import { testLogger } from "../helpers/log.ts";
import { freePort } from "../helpers/process.ts";
import { buildWorld } from "../helpers/world.ts";
import {
  createBackupTestCluster,
  DATABASE,
  PASSWORD,
  query,
  type BackupTestCluster,
} from "./cluster.ts";

const log = testLogger();
let cluster: BackupTestCluster;
let standby: Standby | undefined;

beforeAll(async () => {
  cluster = await createBackupTestCluster(log);
}, 60_000);

afterAll(async () => {
  await standby?.server.stop();
  await cluster?.remove();
}, 30_000);

async function comments(url: string): Promise<string[]> {
  const rows = await query<{ content: string }>(
    url,
    `select content from app_public.comments where content like 'standby-%'`,
  );
  return rows.map((r) => r.content).sort();
}

test("replication access: a pg_hba.conf without a replication rule gets one, once", async () => {
  // initdb's file admits replication from 127.0.0.1; take those rules out, as an edited file might
  const hba = path.join(cluster.dataDir, "pg_hba.conf");
  const original = await readFile(hba, "utf8");
  await writeFile(
    hba,
    original
      .split("\n")
      .filter((line) => !/^\s*(local|host)\s+replication\s/.test(line))
      .join("\n"),
  );
  await query(cluster.superuserUrl(), "select pg_reload_conf()");
  expect(await ensureReplicationAccess(cluster.superuserUrl(), PASSWORD)).toMatchObject({
    role: "mking_replicator",
    hbaLineAdded: true,
  });
  expect(await readFile(hba, "utf8")).toMatch(
    /^host\s+replication\s+mking_replicator\s+127\.0\.0\.1\/32\s+scram-sha-256$/m,
  );
  expect(await ensureReplicationAccess(cluster.superuserUrl(), PASSWORD)).toMatchObject({
    hbaLineAdded: false,
  });
  const roles = await query<{ rolreplication: boolean; rolsuper: boolean }>(
    cluster.superuserUrl(),
    "select rolreplication, rolsuper from pg_roles where rolname = 'mking_replicator'",
  );
  expect(roles).toEqual([{ rolreplication: true, rolsuper: false }]);
});

// streams through the rule added above
test("a hot standby streams the primary's writes, serves reads, reports its lag, and takes writes once promoted", async () => {
  const world = await buildWorld(cluster.ownerUrl());
  const postId = world.row["post.public"]!;
  const addComment = (url: string, text: string): Promise<unknown> =>
    query(
      url,
      `insert into app_public.comments (post_id, author_id, content) values ($1, $2, $3)`,
      [postId, world.user.fred, text],
    );
  await addComment(cluster.ownerUrl(), "standby-before-clone");

  standby = await startStandby({
    primaryUrl: cluster.superuserUrl(),
    primaryDataDir: cluster.dataDir,
    dir: path.join(cluster.root, "standby"),
    port: await freePort(),
    superuserPassword: PASSWORD,
    log,
    settings: { fsync: "off" },
  });
  expect(standby.created).toBe(true);
  expect(existsSync(path.join(standby.dataDir, "standby.signal"))).toBe(true);
  expect(readFileSync(path.join(standby.dataDir, "postgresql.auto.conf"), "utf8")).toMatch(
    /primary_conninfo = .*application_name=''standby''/,
  );
  const standbyDb = standby.server.superuserUrl(DATABASE);
  const standbyOwner = withUrlParts(standbyDb, {
    user: new URL(cluster.ownerUrl()).username,
    password: decodeURIComponent(new URL(cluster.ownerUrl()).password),
  });

  // writes on the primary reach the standby
  for (let i = 1; i <= 20; i++)
    await addComment(cluster.ownerUrl(), `standby-${String(i).padStart(2, "0")}`);
  const committedAt = Date.now();
  const replaySeconds = await waitUntilReplayed(cluster.superuserUrl(), standby.name, 20_000);
  log.info("replayed on the standby", {
    seconds: replaySeconds,
    afterCommitMs: Date.now() - committedAt,
  });

  const primary = new pg.Client({ connectionString: cluster.superuserUrl() });
  await primary.connect();
  try {
    const status = await replicationStatus(primary);
    expect(status.map((s) => [s.standby, s.state])).toEqual([["standby", "streaming"]]);
    const lag = await standbyLag(primary, standby.name);
    expect(lag).not.toBeNull();
    expect(lag!.lagBytes).toBeGreaterThanOrEqual(0);
    // the lag once replayed: a few milliseconds on one machine, or not measured (null) when idle
    expect(lag!.lagSeconds === null || lag!.lagSeconds < 5).toBe(true);
    log.info("replication lag", { ...lag });
  } finally {
    await primary.end();
  }

  // a hot standby: the application's role reads there, and nobody writes
  const expected = [
    ...Array.from({ length: 20 }, (_, i) => `standby-${String(i + 1).padStart(2, "0")}`),
    "standby-before-clone",
  ].sort();
  expect(await comments(standbyOwner)).toEqual(expected);
  await expect(addComment(standbyOwner, "standby-refused")).rejects.toMatchObject({
    code: "25006",
  });

  // promoted, it takes writes; the primary no longer has it streaming
  expect(await promoteStandby(standby.server.superuserUrl("postgres"))).toBe(true);
  expect(existsSync(path.join(standby.dataDir, "standby.signal"))).toBe(false);
  await addComment(standbyOwner, "standby-after-promotion");
  expect(await comments(standbyOwner)).toEqual([...expected, "standby-after-promotion"].sort());
  expect(await promoteStandby(standby.server.superuserUrl("postgres"))).toBe(false);
  expect(await comments(cluster.ownerUrl())).toEqual(expected);

  // a promoted folder is not started again as a standby
  await standby.server.stop();
  await expect(
    startStandby({
      primaryUrl: cluster.superuserUrl(),
      primaryDataDir: cluster.dataDir,
      dir: path.join(cluster.root, "standby"),
      port: await freePort(),
      superuserPassword: PASSWORD,
      log,
    }),
  ).rejects.toThrow(/not a standby/);
}, 60_000);
