/**
 * The restore drill on a real embedded cluster with WAL archiving as `npm start` runs it: a
 * base backup, rows before and after a moment T, restore --to T, and the service answering on
 * the restored data; then restore --latest after everything.
 */
import { existsSync } from "node:fs";

import { backupNow, restoreWindow } from "../../src/backup/catalog.ts";
import { restoreCluster } from "../../src/backup/restore.ts";
import { checkRestoredDatabase } from "../../src/backup/verify.ts";
import { postgresRunAs } from "../../src/db/postgresUser.ts";
import { withUrlParts } from "../../src/db/urls.ts";
import { testLogger } from "../helpers/log.ts";
import { startTestServer } from "../helpers/server.ts";
import { buildWorld } from "../helpers/world.ts";
import {
  archiveNow,
  AUTHENTICATOR,
  backupFoldersFor,
  createBackupTestCluster,
  DATABASE,
  PASSWORD,
  query,
  type BackupTestCluster,
} from "./cluster.ts";

const log = testLogger();
let cluster: BackupTestCluster;

beforeAll(async () => {
  cluster = await createBackupTestCluster(log);
}, 60_000);

afterAll(async () => {
  await cluster?.remove();
}, 30_000);

async function addComments(postId: string, authorId: string, texts: string[]): Promise<void> {
  for (const text of texts) {
    await query(
      cluster.ownerUrl(),
      `insert into app_public.comments (post_id, author_id, content) values ($1, $2, $3)`,
      [postId, authorId, text],
    );
  }
}

/** Waits until the clock is past `t` (commit times are compared with it to the microsecond). */
async function clockPast(t: Date): Promise<void> {
  while (Date.now() <= t.getTime() + 1) await new Promise((resolve) => setTimeout(resolve, 1));
}

test("restore --to T brings back exactly what was committed before T, and the service runs on it", async () => {
  const world = await buildWorld(cluster.ownerUrl());
  const postId = world.row["post.public"]!;
  const walDir = backupFoldersFor(cluster.dataDir).wal;

  const backup = await backupNow({
    superuserUrl: cluster.superuserUrl(),
    clusterDir: cluster.dataDir,
    owner: await postgresRunAs(),
    log,
  });
  expect(existsSync(`${backup.dir}/backup_label`)).toBe(true);
  expect(existsSync(`${backup.dir}/postmaster.pid`)).toBe(false);

  await addComments(postId, world.user.fred, ["before-1", "before-2"]);
  const t = new Date();
  await clockPast(t);
  await addComments(postId, world.user.fred, ["after-1", "after-2"]);
  await archiveNow(cluster.superuserUrl(), walDir);

  const window = await restoreWindow(cluster.dataDir);
  expect(window.earliest!.getTime()).toBe(new Date(backup.finishedAt).getTime());
  expect(window.latest!.getTime()).toBeGreaterThan(t.getTime());

  // refused while the server runs on the folder
  await expect(
    restoreCluster({
      dataDir: cluster.dataDir,
      target: { time: t },
      port: cluster.port,
      superuserPassword: PASSWORD,
      log,
    }),
  ).rejects.toThrow(/is running on/);

  await cluster.server.stop();
  const restored = await restoreCluster({
    dataDir: cluster.dataDir,
    target: { time: t },
    port: cluster.port,
    superuserPassword: PASSWORD,
    log,
  });
  cluster.server = restored.server;
  expect(restored.backup.id).toBe(backup.id);
  expect(restored.replayedAll).toBe(false);
  expect(existsSync(restored.asideDir!)).toBe(true);

  const comments = await query<{ content: string }>(
    cluster.ownerUrl(),
    `select content from app_public.comments where content like 'before-%' or content like 'after-%' order by content`,
  );
  expect(comments.map((c) => c.content)).toEqual(["before-1", "before-2"]);
  // counters agree with the rows, or their recount job is queued (restored with them)
  const checked = await checkRestoredDatabase(cluster.superuserUrl(DATABASE));
  expect(checked.problems).toEqual([]);
  expect(checked.countersPending).toBeGreaterThan(0);
  const jobs = await query<{ n: number }>(
    cluster.ownerUrl(),
    `select count(*)::int as n from graphile_worker.jobs where key = $1`,
    [`recount:posts:${postId}`],
  );
  expect(jobs[0]!.n).toBe(1);

  // the service boots on the restored data and answers
  const ownerUrl = cluster.ownerUrl();
  const api = await startTestServer({
    name: DATABASE,
    ownerUrl,
    authUrl: withUrlParts(ownerUrl, { user: AUTHENTICATOR.name, password: AUTHENTICATOR.password }),
    superuserUrl: cluster.superuserUrl(DATABASE),
    authenticator: AUTHENTICATOR,
    drop: async () => undefined,
  });
  try {
    const ready = await fetch(`${api.url}/readyz`);
    expect(ready.status).toBe(200);
    const { body } = await api.graphql(`{ __typename }`);
    expect(body.data).toEqual({ __typename: "Query" });
  } finally {
    await api.close();
  }

  // writes after the restore go on, on a new timeline, and are archived too
  await addComments(postId, world.user.fred, ["after-restore"]);
  await archiveNow(cluster.superuserUrl(), walDir);
  await cluster.server.stop();
  const latest = await restoreCluster({
    dataDir: cluster.dataDir,
    target: "latest",
    port: cluster.port,
    superuserPassword: PASSWORD,
    log,
  });
  cluster.server = latest.server;
  const after = await query<{ content: string }>(
    cluster.ownerUrl(),
    `select content from app_public.comments where content like 'before-%' or content like 'after-%' order by content`,
  );
  expect(after.map((c) => c.content)).toEqual(["after-restore", "before-1", "before-2"]);
}, 120_000);
