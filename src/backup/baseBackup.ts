/**
 * A base backup of a running cluster through PostgreSQL's low-level API (manual, "Continuous
 * Archiving and Point-in-Time Recovery", "Making a Base Backup Using the Low Level API"):
 *
 *   pg_backup_start(label, fast) on one connection, held open
 *   → copy the data folder (without what the manual says to leave out)
 *   → pg_backup_stop(wait_for_archive) on the same connection
 *   → write its backup_label (and tablespace_map) into the copy.
 *
 * The copy alone is not a database: it becomes one by replaying WAL from the start LSN to at
 * least the stop LSN (restore_command from the archive, or streaming for a standby). With
 * archiving on, pg_backup_stop waits until the WAL up to the stop LSN is archived, so a backup
 * that returned is restorable from the archive; when archiving fails it keeps waiting and the
 * server's warnings are logged here.
 */
import { execFile } from "node:child_process";
import { chown, mkdir, readdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";

import pg from "pg";

import type { RunAs } from "../db/postgresUser.ts";
import type { Logger } from "../log.ts";
import { copyTree } from "./copyTree.ts";
import type { CopyProgress } from "./progress.ts";

/** Directories whose contents are left out, the directories themselves kept (manual + pg_basebackup). */
const EMPTY_DIRS = new Set([
  "pg_wal",
  "pg_dynshmem",
  "pg_notify",
  "pg_replslot",
  "pg_serial",
  "pg_snapshots",
  "pg_stat_tmp",
  "pg_subtrans",
]);
/** Top-level files left out. */
const SKIPPED_FILES = new Set([
  "postmaster.pid",
  "postmaster.opts",
  "backup_label",
  "backup_label.old",
  "tablespace_map",
  "tablespace_map.old",
  "recovery.signal",
  "standby.signal",
  "current_logfiles",
]);

/** What a base backup copies of the data folder (paths relative to it, with `/`). */
export function baseBackupFilter(
  relative: string,
  isDirectory: boolean,
): "copy" | "skip" | "empty" {
  const name = relative.slice(relative.lastIndexOf("/") + 1);
  if (name.startsWith("pgsql_tmp") || name === "pg_internal.init") return "skip";
  if (!relative.includes("/")) {
    if (isDirectory && EMPTY_DIRS.has(relative)) return "empty";
    if (!isDirectory && SKIPPED_FILES.has(relative)) return "skip";
  }
  return "copy";
}

export interface BaseBackupResult {
  label: string;
  startLsn: string;
  stopLsn: string;
  startedAt: Date;
  finishedAt: Date;
  bytes: number;
}

export interface BaseBackupOptions {
  superuserUrl: string;
  dataDir: string;
  targetDir: string;
  onProgress?: (p: CopyProgress) => void;
  log: Logger;
  /** Owner of the copy (as root: the server's user). Default: this process's user. */
  owner?: RunAs;
  /** Label recorded in backup_label; default `mking-<ISO time>`. */
  label?: string;
}

/** Flushes the copy to disk: a backup the kernel still holds in memory is not a backup. */
async function flushToDisk(dir: string): Promise<void> {
  await promisify(execFile)("sync", ["-f", dir]).catch(() =>
    promisify(execFile)("sync", []).then(() => undefined),
  );
}

export async function takeBaseBackup(o: BaseBackupOptions): Promise<BaseBackupResult> {
  const startedAt = new Date();
  const label = o.label ?? `mking-${startedAt.toISOString()}`;
  const existing = await readdir(o.targetDir).catch(() => []);
  if (existing.length > 0) throw new Error(`base backup: ${o.targetDir} is not empty`);
  await mkdir(o.targetDir, { recursive: true, mode: 0o700 });
  if (o.owner?.uid !== undefined && o.owner.gid !== undefined) {
    await chown(o.targetDir, o.owner.uid, o.owner.gid);
  }

  const client = new pg.Client({
    connectionString: o.superuserUrl,
    application_name: "mking-friend-backup",
  });
  client.on("error", (error) => o.log.warn("base backup connection failed", { error }));
  // pg_backup_stop's "still waiting for all required WAL segments to be archived" and friends
  client.on("notice", (notice) => o.log.warn(`base backup: ${notice.message}`));
  await client.connect();
  try {
    await client.query("set statement_timeout = 0");
    const { rows: started } = await client.query<{ lsn: string }>(
      "select pg_backup_start($1, true)::text as lsn",
      [label],
    );
    const startLsn = started[0]!.lsn;
    o.log.info("base backup started", { label, startLsn, dataDir: o.dataDir });
    let bytes: number;
    try {
      bytes = await copyTree({
        from: o.dataDir,
        to: o.targetDir,
        filter: baseBackupFilter,
        owner: o.owner,
        onProgress: o.onProgress,
      });
    } catch (error) {
      // end backup mode; this session's backup ends with it anyway, but say so clearly
      await client.query("select pg_backup_stop(false)").catch(() => undefined);
      throw error;
    }
    const { rows: stopped } = await client.query<{
      lsn: string;
      labelfile: string;
      spcmapfile: string | null;
    }>("select lsn::text, labelfile, spcmapfile from pg_backup_stop(true)");
    const stop = stopped[0]!;
    const write = async (name: string, text: string): Promise<void> => {
      const file = path.join(o.targetDir, name);
      await writeFile(file, text, { mode: 0o600 });
      if (o.owner?.uid !== undefined && o.owner.gid !== undefined) {
        await chown(file, o.owner.uid, o.owner.gid);
      }
    };
    await write("backup_label", stop.labelfile);
    if (stop.spcmapfile) await write("tablespace_map", stop.spcmapfile);
    await flushToDisk(o.targetDir);
    const finishedAt = new Date();
    o.log.info("base backup finished", {
      label,
      startLsn,
      stopLsn: stop.lsn,
      bytes,
      ms: finishedAt.getTime() - startedAt.getTime(),
    });
    return { label, startLsn, stopLsn: stop.lsn, startedAt, finishedAt, bytes };
  } finally {
    await client.end().catch(() => undefined);
  }
}
