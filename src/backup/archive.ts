/**
 * Continuous WAL archiving for the embedded server (npm start, db:*): where backups live, and
 * the server settings that copy each finished WAL file into the archive.
 *
 * Backups live beside the cluster's data folder, in `backups/` (`<DATA_DIR>/backups/{base,wal}`
 * by default), or in `<cluster>-backups` when the cluster was relocated to the shared
 * /var/tmp/mking-friend (src/db/embeddedPlace.ts). As root the server runs as the system user
 * `postgres`, so the archive folder is owned by that user: the server writes it.
 */
import { chown, mkdir } from "node:fs/promises";
import path from "node:path";

import { REACHABLE_PLACE } from "../db/embeddedPlace.ts";
import type { RunAs } from "../db/postgresUser.ts";

/** WAL is archived at least this often when anything was written (the RPO bound). */
export const ARCHIVE_TIMEOUT_SECONDS = 60;

export interface BackupFolders {
  /** `base/<id>/` per base backup: `data/` (the copy) and `manifest.json`. */
  readonly base: string;
  /** Archived WAL files (and timeline history files). */
  readonly wal: string;
  readonly root: string;
}

/** Where the backups of the cluster in `clusterDir` (the data folder in use) live. */
export function backupFoldersFor(clusterDir: string): BackupFolders {
  const parent = path.dirname(clusterDir);
  const root = parent === REACHABLE_PLACE ? `${clusterDir}-backups` : path.join(parent, "backups");
  return { root, base: path.join(root, "base"), wal: path.join(root, "wal") };
}

/** Single-quotes `text` for /bin/sh. */
export function shellQuote(text: string): string {
  return `'${text.replaceAll("'", `'\\''`)}'`;
}

/**
 * The archive_command: copies to a temporary name, flushes it, renames it into place; refuses
 * to overwrite a file already archived (the manual's advice: an existing file is an error, which
 * shows in pg_stat_archiver and the log).
 */
export function archiveCommand(walDir: string): string {
  const file = shellQuote(`${walDir}/`) + "%f";
  return `test ! -f ${file} && cp %p ${file}.tmp && sync ${file}.tmp && mv ${file}.tmp ${file}`;
}

/** The restore_command: the reverse (PostgreSQL asks for files that may not exist; fine). */
export function restoreCommand(walDir: string): string {
  return `cp ${shellQuote(`${walDir}/`)}%f %p`;
}

/** Server settings for archiving into `walDir`. */
export function archiveSettings(walDir: string): Record<string, string> {
  return {
    wal_level: "replica",
    archive_mode: "on",
    archive_command: archiveCommand(walDir),
    archive_timeout: String(ARCHIVE_TIMEOUT_SECONDS),
  };
}

/** Creates the backup folders, owned by the server's user; returns them. */
export async function ensureBackupFolders(clusterDir: string, user: RunAs): Promise<BackupFolders> {
  const folders = backupFoldersFor(clusterDir);
  for (const dir of [folders.root, folders.base, folders.wal]) {
    await mkdir(dir, { recursive: true, mode: 0o700 });
    if (user.uid !== undefined && user.gid !== undefined) await chown(dir, user.uid, user.gid);
  }
  return folders;
}

/**
 * For startEmbeddedPostgres's `prepare`: creates the backup folders beside the cluster and
 * returns the archiving settings.
 */
export async function prepareArchiving(place: {
  dataDir: string;
  user: RunAs;
}): Promise<Record<string, string>> {
  const folders = await ensureBackupFolders(place.dataDir, place.user);
  return archiveSettings(folders.wal);
}
