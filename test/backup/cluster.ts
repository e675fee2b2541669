/**
 * An embedded cluster of its own for the backup tests, with WAL archiving as `npm start` runs
 * it, in a folder under the project's .data (not the shared test cluster).
 */
import { randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";

import pg from "pg";

import { backupFoldersFor, prepareArchiving } from "../../src/backup/archive.ts";
import { ensureOwnerAndDatabase } from "../../src/db/connection.ts";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "../../src/db/embedded.ts";
import { migrateDatabase } from "../../src/db/migrate.ts";
import { withUrlParts } from "../../src/db/urls.ts";
import { PROJECT_ROOT } from "../../src/paths.ts";
import type { Logger } from "../../src/log.ts";
import { freePort } from "../helpers/process.ts";

export const PASSWORD = "backup-test";
export const OWNER = { role: "mking_owner", password: "owner-test" };
export const AUTHENTICATOR = { name: "mking_authenticator", password: "auth-test" };
export const DATABASE = "mking_backup_test";

export interface BackupTestCluster {
  /** Holds the data folder (`postgres`) and, beside it, `backups`. */
  readonly root: string;
  readonly dataDir: string;
  readonly port: number;
  server: EmbeddedPostgres;
  start(): Promise<EmbeddedPostgres>;
  ownerUrl(): string;
  superuserUrl(database?: string): string;
  remove(): Promise<void>;
}

export async function createBackupTestCluster(log: Logger): Promise<BackupTestCluster> {
  const root = path.join(PROJECT_ROOT, ".data", `backup-test-${randomBytes(4).toString("hex")}`);
  const port = await freePort();
  const start = (): Promise<EmbeddedPostgres> =>
    startEmbeddedPostgres({
      dataDir: path.join(root, "postgres"),
      port,
      superuserPassword: PASSWORD,
      log,
      prepare: prepareArchiving,
      // a process crash (kill -9), not a power loss, is what these tests simulate
      settings: { fsync: "off", full_page_writes: "off" },
    });
  const server = await start();
  const cluster: BackupTestCluster = {
    root,
    dataDir: server.dataDir,
    port,
    server,
    start: async () => (cluster.server = await start()),
    superuserUrl: (database = "postgres") => cluster.server.superuserUrl(database),
    ownerUrl: () =>
      withUrlParts(cluster.server.superuserUrl(DATABASE), {
        user: OWNER.role,
        password: OWNER.password,
      }),
    remove: async () => {
      await cluster.server.stop();
      await rm(root, { recursive: true, force: true });
    },
  };
  await ensureOwnerAndDatabase(cluster.superuserUrl(), { ...OWNER, database: DATABASE });
  await migrateDatabase({
    ownerUrl: cluster.ownerUrl(),
    authenticator: AUTHENTICATOR,
    log,
    // with migrations/current.sql, as the suite's globalSetup: policies/*.sql are applied from
    // the work tree and may already rely on the migration being written
    current: true,
  });
  return cluster;
}

export async function query<T extends pg.QueryResultRow>(
  url: string,
  text: string,
  values: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return (await client.query<T>(text, values)).rows;
  } finally {
    await client.end();
  }
}

/** Closes the current WAL file and waits until the archiver has copied it. */
export async function archiveNow(superuserUrl: string, walDir: string): Promise<void> {
  const rows = await query<{ file: string }>(
    superuserUrl,
    "select pg_walfile_name(pg_switch_wal()) as file",
  );
  const file = rows[0]!.file;
  const deadline = Date.now() + 20_000;
  while (!existsSync(path.join(walDir, file))) {
    if (Date.now() > deadline) throw new Error(`${file} was not archived`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

export { backupFoldersFor };
