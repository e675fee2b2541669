/**
 * The catalog of base backups: `base/<id>/data` (the copy) and `base/<id>/manifest.json`
 * (written last: a folder without one is an unfinished backup and is ignored), and the window
 * of time they can restore to with the WAL archive.
 *
 * Restorable window:
 * - earliest: the oldest complete base backup's finish time (after pg_backup_stop returned,
 *   so the copy is consistent by then);
 * - latest: the newest modification time of an archived WAL file, or, when the server is stopped
 *   and its own pg_wal holds newer WAL (the last minute before a stop or a crash, not archived
 *   yet), of that file: a restore copies those files in too. Every commit in that WAL happened
 *   before the file was last written, so a restore `--to` any time at or after it gives the
 *   same result as `--latest`; writes after it are not in any WAL a restore can read.
 */
import { readdir, readFile, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";

import type { RunAs } from "../db/postgresUser.ts";
import type { Logger } from "../log.ts";
import { backupFoldersFor, ensureBackupFolders } from "./archive.ts";
import { takeBaseBackup, type BaseBackupResult } from "./baseBackup.ts";
import { progressLogger } from "./progress.ts";

export interface BackupManifest {
  id: string;
  label: string;
  startLsn: string;
  stopLsn: string;
  startedAt: string;
  finishedAt: string;
  bytes: number;
}

export interface CatalogEntry extends BackupManifest {
  /** The copy of the data folder. */
  dir: string;
}

/** A WAL segment file name (timeline, log, segment: 24 hex digits). */
export const WAL_SEGMENT = /^[0-9A-F]{24}$/;

/** Folder name of a backup taken at `at`: sortable, file-system safe. */
export function backupId(at: Date): string {
  return at.toISOString().replace(/[-:]/g, "");
}

/** Complete base backups, oldest first. */
export async function listBaseBackups(baseDir: string): Promise<CatalogEntry[]> {
  const names = await readdir(baseDir).catch(() => [] as string[]);
  const entries: CatalogEntry[] = [];
  for (const name of names.sort()) {
    const text = await readFile(path.join(baseDir, name, "manifest.json"), "utf8").catch(
      () => null,
    );
    if (text === null) continue;
    entries.push({
      ...(JSON.parse(text) as BackupManifest),
      dir: path.join(baseDir, name, "data"),
    });
  }
  return entries.sort((a, b) => a.finishedAt.localeCompare(b.finishedAt));
}

/** The newest complete base backup of the cluster in `clusterDir`, if any. */
export async function latestBaseBackup(clusterDir: string): Promise<CatalogEntry | null> {
  return (await listBaseBackups(backupFoldersFor(clusterDir).base)).at(-1) ?? null;
}

/** The newest modification time of a WAL segment file in `dir`, if any. */
export async function newestWalTime(dir: string): Promise<Date | null> {
  let newest: Date | null = null;
  for (const name of await readdir(dir).catch(() => [] as string[])) {
    if (!WAL_SEGMENT.test(name)) continue;
    const s = await stat(path.join(dir, name)).catch(() => null);
    if (s && (!newest || s.mtime > newest)) newest = s.mtime;
  }
  return newest;
}

export interface RestoreWindow {
  earliest: Date | null;
  latest: Date | null;
  backups: CatalogEntry[];
}

/**
 * The window a restore can reach (see the module comment). `includeLocalWal`: the server is
 * stopped, and its pg_wal will be copied into a restore.
 */
export async function restoreWindow(
  clusterDir: string,
  options: { includeLocalWal?: boolean } = {},
): Promise<RestoreWindow> {
  const folders = backupFoldersFor(clusterDir);
  const backups = await listBaseBackups(folders.base);
  const earliest = backups[0] ? new Date(backups[0].finishedAt) : null;
  const times = [await newestWalTime(folders.wal)];
  if (options.includeLocalWal) times.push(await newestWalTime(path.join(clusterDir, "pg_wal")));
  let latest = times.reduce<Date | null>((a, b) => (b && (!a || b > a) ? b : a), null);
  if (earliest && latest && latest < earliest) latest = earliest;
  return { earliest, latest: earliest ? latest : null, backups };
}

/**
 * Takes a base backup of the running cluster into the catalog: copies into
 * `base/<id>.partial/data`, writes the manifest, then renames the folder to `base/<id>`.
 */
export async function backupNow(o: {
  superuserUrl: string;
  clusterDir: string;
  owner: RunAs;
  log: Logger;
}): Promise<CatalogEntry> {
  const folders = await ensureBackupFolders(o.clusterDir, o.owner);
  const id = backupId(new Date());
  const partial = path.join(folders.base, `${id}.partial`);
  await rm(partial, { recursive: true, force: true });
  const progress = progressLogger(o.log, "base backup");
  let result: BaseBackupResult;
  try {
    result = await takeBaseBackup({
      superuserUrl: o.superuserUrl,
      dataDir: o.clusterDir,
      targetDir: path.join(partial, "data"),
      owner: o.owner,
      onProgress: progress.onProgress,
      log: o.log,
      label: `mking-${id}`,
    });
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    throw error;
  }
  progress.done({ bytes: result.bytes, totalBytes: result.bytes });
  const manifest: BackupManifest = {
    id,
    label: result.label,
    startLsn: result.startLsn,
    stopLsn: result.stopLsn,
    startedAt: result.startedAt.toISOString(),
    finishedAt: result.finishedAt.toISOString(),
    bytes: result.bytes,
  };
  await writeFile(path.join(partial, "manifest.json"), JSON.stringify(manifest, null, 2) + "\n");
  const final = path.join(folders.base, id);
  await rename(partial, final);
  return { ...manifest, dir: path.join(final, "data") };
}

export interface BackupStatus {
  /** Finish time of the newest complete base backup. */
  lastBaseBackupAt: Date | null;
  baseBackups: number;
  window: { earliest: Date | null; latest: Date | null };
}

/** For metrics and status pages: the newest base backup and the restorable window. */
export async function backupStatus(clusterDir: string): Promise<BackupStatus> {
  const w = await restoreWindow(clusterDir);
  const last = w.backups.at(-1);
  return {
    lastBaseBackupAt: last ? new Date(last.finishedAt) : null,
    baseBackups: w.backups.length,
    window: { earliest: w.earliest, latest: w.latest },
  };
}
