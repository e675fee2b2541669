/**
 * A streaming-replication hot standby of the embedded server (`npm run db:standby`,
 * src/backup/standbyCli.ts). The embedded PostgreSQL has no pg_basebackup, so the standby is
 * built from PostgreSQL's low-level base backup (src/backup/baseBackup.ts):
 *
 * 1. the primary gets a replication role and a pg_hba.conf rule (src/backup/replicationAccess.ts);
 * 2. a base backup of the running primary is copied into the standby's folder (its backup_label
 *    tells the standby where to start replaying);
 * 3. the folder gets `standby.signal` and, in `postgresql.auto.conf`, `primary_conninfo` (streaming
 *    from the primary, `application_name` = the standby's name) and `restore_command` (the
 *    primary's WAL archive: the fallback when the primary has recycled WAL the standby still
 *    needs, so no replication slot has to keep WAL on the primary);
 * 4. it is started as the embedded server is (src/db/embedded.ts: as root as the system user
 *    `postgres`, never outliving this process), with the primary's archiving settings for its own
 *    folder: a standby does not archive, a promoted one does, as the service would run it.
 *
 * An existing standby folder (it has `standby.signal`) is started again as it is; one without
 * (promoted) is refused. Lag is read on the primary (src/db/replication.ts).
 */
import { existsSync } from "node:fs";
import { appendFile, chown, rm, writeFile } from "node:fs/promises";
import path from "node:path";

import pg from "pg";

import { placeCluster } from "../db/embeddedPlace.ts";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "../db/embedded.ts";
import { postgresRunAs, type RunAs } from "../db/postgresUser.ts";
import { replicationStatus, type StandbyStatus } from "../db/replication.ts";
import type { Logger } from "../log.ts";
import { backupFoldersFor, prepareArchiving, restoreCommand } from "./archive.ts";
import { takeBaseBackup } from "./baseBackup.ts";
import { progressLogger } from "./progress.ts";
import { ensureReplicationAccess } from "./replicationAccess.ts";

/** The standby's application_name as the primary lists it (pg_stat_replication). */
export const DEFAULT_STANDBY_NAME = "standby";

/**
 * Settings a hot standby must have at least as high as its primary (manual, "Hot Standby",
 * "Administrator's Overview"): copied from the primary at every start.
 */
const AT_LEAST_PRIMARY = [
  "max_connections",
  "max_prepared_transactions",
  "max_locks_per_transaction",
  "max_wal_senders",
  "max_worker_processes",
];

export interface StandbyOptions {
  /** The primary, as a superuser (database `postgres`). */
  primaryUrl: string;
  /** The primary's data folder in use (EmbeddedPostgres.dataDir). */
  primaryDataDir: string;
  /** The standby's folder (relocated like the embedded cluster when out of reach). */
  dir: string;
  port: number;
  /** The primary's superuser password: the copy has the same superuser; also the replicator's. */
  superuserPassword: string;
  log: Logger;
  /** application_name; default "standby". */
  name?: string;
  /** Extra server settings (tests: fsync off). */
  settings?: Readonly<Record<string, string>>;
}

export interface Standby {
  server: EmbeddedPostgres;
  name: string;
  dataDir: string;
  /** True when this call cloned the primary (false: an existing standby folder was started). */
  created: boolean;
}

/** A value for postgresql.conf: single-quoted, quotes doubled, backslashes escaped. */
export function confString(value: string): string {
  return `'${value.replaceAll("\\", "\\\\").replaceAll("'", "''")}'`;
}

/** A value in a libpq connection string: single-quoted, `\` and `'` backslash-escaped. */
function conninfoValue(value: string): string {
  return `'${value.replaceAll("\\", "\\\\").replaceAll("'", "\\'")}'`;
}

export function primaryConninfo(o: {
  port: number;
  user: string;
  password: string;
  name: string;
}): string {
  return [
    "host=127.0.0.1",
    `port=${o.port}`,
    `user=${conninfoValue(o.user)}`,
    `password=${conninfoValue(o.password)}`,
    `application_name=${conninfoValue(o.name)}`,
  ].join(" ");
}

async function own(file: string, owner: RunAs): Promise<void> {
  if (owner.uid !== undefined && owner.gid !== undefined) await chown(file, owner.uid, owner.gid);
}

/** Turns a base backup in `dataDir` into a standby of the primary on `primaryPort`. */
async function configureStandby(o: {
  dataDir: string;
  owner: RunAs;
  conninfo: string;
  walArchive: string;
  primaryPort: number;
}): Promise<void> {
  const signal = path.join(o.dataDir, "standby.signal");
  await writeFile(signal, "", { mode: 0o600 });
  await own(signal, o.owner);
  const auto = path.join(o.dataDir, "postgresql.auto.conf");
  await appendFile(
    auto,
    `\n# npm run db:standby: a hot standby of the embedded server on port ${o.primaryPort}\n` +
      `primary_conninfo = ${confString(o.conninfo)}\n` +
      `restore_command = ${confString(restoreCommand(o.walArchive))}\n`,
    { mode: 0o600 },
  );
  await own(auto, o.owner);
}

async function primarySettings(primaryUrl: string): Promise<Record<string, string>> {
  const client = new pg.Client({ connectionString: primaryUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ name: string; setting: string }>(
      `select name, setting from pg_catalog.pg_settings
        where name = any($1) or (name = 'shared_preload_libraries' and setting <> '')`,
      [AT_LEAST_PRIMARY],
    );
    return Object.fromEntries(rows.map((r) => [r.name, r.setting]));
  } finally {
    await client.end();
  }
}

/** Creates the standby when its folder holds none, and starts it; see the module comment. */
export async function startStandby(o: StandbyOptions): Promise<Standby> {
  const name = o.name ?? DEFAULT_STANDBY_NAME;
  const owner = await postgresRunAs();
  const dataDir = await placeCluster(path.resolve(o.dir), owner, o.log);
  const primaryPort = Number(new URL(o.primaryUrl).port);
  if (dataDir === path.resolve(o.primaryDataDir)) {
    throw new Error(`standby: ${dataDir} is the primary's own data folder`);
  }
  let created = false;
  if (existsSync(path.join(dataDir, "PG_VERSION"))) {
    if (!existsSync(path.join(dataDir, "standby.signal"))) {
      throw new Error(
        `standby: ${dataDir} holds a database that is not a standby (promoted?); run the service ` +
          `on it (EMBEDDED_PG_DIR, EMBEDDED_PG_PORT) or move it away for a new standby`,
      );
    }
    o.log.info("standby: starting the existing standby", { dataDir });
  } else {
    const access = await ensureReplicationAccess(o.primaryUrl, o.superuserPassword);
    if (access.hbaLineAdded) {
      o.log.info("standby: pg_hba.conf now admits replication connections from 127.0.0.1", {
        role: access.role,
      });
    }
    const progress = progressLogger(o.log, "standby base backup");
    try {
      await takeBaseBackup({
        superuserUrl: o.primaryUrl,
        dataDir: o.primaryDataDir,
        targetDir: dataDir,
        owner,
        onProgress: progress.onProgress,
        log: o.log,
        label: `mking-standby-${new Date().toISOString()}`,
      });
      await configureStandby({
        dataDir,
        owner,
        conninfo: primaryConninfo({
          port: primaryPort,
          user: access.role,
          password: access.password,
          name,
        }),
        walArchive: backupFoldersFor(o.primaryDataDir).wal,
        primaryPort,
      });
    } catch (error) {
      // "is not empty" comes before anything is copied: that folder is someone else's
      if (!/is not empty/.test((error as Error).message)) {
        await rm(dataDir, { recursive: true, force: true });
      }
      throw error;
    }
    created = true;
  }
  const server = await startEmbeddedPostgres({
    dataDir,
    port: o.port,
    superuserPassword: o.superuserPassword,
    log: o.log,
    hotStandby: true,
    prepare: process.platform === "win32" ? undefined : prepareArchiving,
    settings: { ...(await primarySettings(o.primaryUrl)), ...o.settings },
  });
  o.log.info("standby: running", { name, port: o.port, dataDir, created });
  return { server, name, dataDir, created };
}

/** The standby named `name` as the primary sees it, or null when it is not connected. */
export async function standbyLag(
  client: pg.ClientBase,
  name: string,
): Promise<StandbyStatus | null> {
  return (await replicationStatus(client)).find((s) => s.standby === name) ?? null;
}

/**
 * Resolves once the standby `name` has replayed everything the primary had written when called;
 * `timeoutMs` bounds the wait. Returns the seconds it took.
 */
export async function waitUntilReplayed(
  primaryUrl: string,
  name: string,
  timeoutMs = 30_000,
): Promise<number> {
  const started = Date.now();
  const client = new pg.Client({ connectionString: primaryUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ lsn: string }>(
      "select pg_current_wal_lsn()::text as lsn",
    );
    const target = rows[0]!.lsn;
    for (;;) {
      const { rows: r } = await client.query<{ done: boolean }>(
        `select coalesce(bool_or(replay_lsn >= $1::pg_lsn), false) as done
           from pg_catalog.pg_stat_replication where application_name = $2`,
        [target, name],
      );
      if (r[0]!.done) return (Date.now() - started) / 1000;
      if (Date.now() - started > timeoutMs) {
        throw new Error(`standby ${name} has not replayed up to ${target} after ${timeoutMs} ms`);
      }
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  } finally {
    await client.end();
  }
}

/**
 * Promotes the standby at `standbyUrl` (a superuser URL) with pg_promote(), waiting until it
 * accepts writes. Returns false when it was not a standby (already promoted).
 */
export async function promoteStandby(standbyUrl: string, waitSeconds = 60): Promise<boolean> {
  const client = new pg.Client({ connectionString: standbyUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ standby: boolean }>(
      "select pg_is_in_recovery() as standby",
    );
    if (!rows[0]!.standby) return false;
    const { rows: promoted } = await client.query<{ ok: boolean }>(
      "select pg_promote(true, $1) as ok",
      [waitSeconds],
    );
    if (!promoted[0]!.ok) {
      throw new Error(`standby: not promoted within ${waitSeconds} s (see its log)`);
    }
    return true;
  } finally {
    await client.end();
  }
}
