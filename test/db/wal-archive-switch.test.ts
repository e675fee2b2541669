/**
 * EMBEDDED_WAL_ARCHIVE: on by default (point-in-time recovery); false starts the embedded server
 * without archive_mode and without a backups folder (a scratch cluster for bulk loads).
 */
import { existsSync } from "node:fs";
import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import pg from "pg";

import { loadConfig } from "../../src/config.ts";
import { connectDatabase } from "../../src/db/connection.ts";
import { testLogger } from "../helpers/log.ts";
import { freePort } from "../helpers/process.ts";

const log = testLogger();

async function archiveModeWith(walArchive: string | undefined): Promise<{
  archiveMode: string;
  backupsFolder: boolean;
}> {
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "mking-wal-switch-"));
  // reachable by the `postgres` user when the tests run as root (else the cluster is relocated)
  await chmod(dataDir, 0o755);
  const env: Record<string, string> = {
    DATA_DIR: dataDir,
    EMBEDDED_PG_PORT: String(await freePort()),
    NODE_ENV: "test",
  };
  if (walArchive !== undefined) env.EMBEDDED_WAL_ARCHIVE = walArchive;
  const config = loadConfig(env, dataDir);
  const db = await connectDatabase(config, log);
  try {
    const client = new pg.Client({ connectionString: db.ownerUrl });
    await client.connect();
    try {
      const { rows } = await client.query<{ archive_mode: string }>("show archive_mode");
      return {
        archiveMode: rows[0]!.archive_mode,
        backupsFolder: existsSync(path.join(dataDir, "backups", "wal")),
      };
    } finally {
      await client.end();
    }
  } finally {
    await db.close();
    await rm(dataDir, { recursive: true, force: true });
  }
}

test("the embedded server archives WAL by default", async () => {
  expect(await archiveModeWith(undefined)).toEqual({ archiveMode: "on", backupsFolder: true });
}, 60_000);

test("EMBEDDED_WAL_ARCHIVE=false starts it without archiving", async () => {
  expect(await archiveModeWith("false")).toEqual({ archiveMode: "off", backupsFolder: false });
}, 60_000);
