/**
 * The db:backup* commands' entry point (src/backup/cli.ts) as a child process, and loud
 * archiving failures: a failing archive_command shows in /readyz (still ready: the API works).
 */
import { chmod } from "node:fs/promises";

import { backupNow } from "../../src/backup/catalog.ts";
import { postgresRunAs } from "../../src/db/postgresUser.ts";
import { withUrlParts } from "../../src/db/urls.ts";
import { testLogger } from "../helpers/log.ts";
import { startProcess } from "../helpers/process.ts";
import { startTestServer } from "../helpers/server.ts";
import {
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

async function cli(args: string[]): Promise<{ code: number | null; output: string }> {
  const proc = startProcess(["src/backup/cli.ts", ...args], {
    DATA_DIR: cluster.root,
    EMBEDDED_PG_PORT: String(cluster.port),
    EMBEDDED_PG_SUPERUSER_PASSWORD: PASSWORD,
    EMBEDDED_PG_DATABASE: DATABASE,
    JWT_SECRET: "test-secret-test-secret-test-secret-0123456789",
  });
  const code = await proc.exited;
  return { code, output: proc.output() };
}

test("db:backups lists base backups and the restorable window; db:restore refuses while the server runs", async () => {
  const empty = await cli(["backups"]);
  expect(empty.code).toBe(0);
  expect(empty.output).toContain("no base backups yet");

  const backup = await backupNow({
    superuserUrl: cluster.superuserUrl(),
    clusterDir: cluster.dataDir,
    owner: await postgresRunAs(),
    log,
  });
  const listed = await cli(["backups"]);
  expect(listed.code).toBe(0);
  expect(listed.output).toContain(backup.id);
  expect(listed.output).toContain(`earliest restorable time: ${backup.finishedAt}`);
  expect(listed.output).toMatch(/latest restorable time: +\d{4}-/);

  const refused = await cli(["restore", "--latest"]);
  expect(refused.code).toBe(1);
  expect(refused.output).toMatch(/is running on .*stop the service first/);

  // db:verify restores the newest backup into a scratch folder beside it and checks it
  const verified = await cli(["verify"]);
  expect(verified.code).toBe(0);
  expect(verified.output).toMatch(new RegExp(`"backupId": "${backup.id}"[\\s\\S]*"ok": true`));
  expect(verified.output).toMatch(/"problems": \[\]/);

  const noTarget = await cli(["restore"]);
  expect(noTarget.code).toBe(1);
  expect(noTarget.output).toContain("--latest");
}, 60_000);

test("a failing archive_command shows in /readyz as a warning", async () => {
  const ownerUrl = cluster.ownerUrl();
  const api = await startTestServer({
    name: DATABASE,
    ownerUrl,
    authUrl: withUrlParts(ownerUrl, { user: AUTHENTICATOR.name, password: AUTHENTICATOR.password }),
    superuserUrl: cluster.superuserUrl(DATABASE),
    authenticator: AUTHENTICATOR,
    drop: async () => undefined,
  });
  const walDir = backupFoldersFor(cluster.dataDir).wal;
  try {
    expect(await (await fetch(`${api.url}/readyz`)).json()).toEqual({ status: "ready" });
    await chmod(walDir, 0o500);
    await query(cluster.superuserUrl(), "select pg_switch_wal()");
    // the archiver retries; its first failure is recorded within a second or so
    const deadline = Date.now() + 20_000;
    let body: { status: string; warnings?: string[] } = { status: "" };
    while (!body.warnings && Date.now() < deadline) {
      body = (await (await fetch(`${api.url}/readyz`)).json()) as typeof body;
      if (!body.warnings) await new Promise((resolve) => setTimeout(resolve, 100));
    }
    expect(body.status).toBe("ready");
    expect(body.warnings?.[0]).toMatch(/WAL archiving is failing/);
  } finally {
    await chmod(walDir, 0o700);
    await api.close();
  }
}, 60_000);
