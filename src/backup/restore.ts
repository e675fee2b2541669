/**
 * Point-in-time restore of the embedded cluster (manual: "Recovering Using a Continuous
 * Archive Backup"): with the server stopped, move the data folder aside, copy in the newest base
 * backup finished before the target, add the old folder's unarchived WAL, and start the server
 * with recovery.signal, restore_command and the target; once recovery has ended and the server
 * is promoted, the restore is done. On any failure the old folder is put back.
 */
import { existsSync, readFileSync } from "node:fs";
import { chown, copyFile, readdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";

import pg from "pg";

import { startEmbeddedPostgres, type EmbeddedPostgres } from "../db/embedded.ts";
import { postgresRunAs, type RunAs } from "../db/postgresUser.ts";
import type { Logger } from "../log.ts";
import { backupFoldersFor, prepareArchiving, restoreCommand } from "./archive.ts";
import { listBaseBackups, WAL_SEGMENT, type CatalogEntry } from "./catalog.ts";
import { copyTree } from "./copyTree.ts";
import { progressLogger } from "./progress.ts";

export type RestoreTarget = { time: Date } | "latest";

/** `2026-01-31 12:00:00.123+00`: recovery_target_time does not take ISO 8601's T and Z. */
export function pgTimestamp(time: Date): string {
  return time.toISOString().replace("T", " ").replace("Z", "+00");
}

/** The pid of a live server on `dataDir` (its postmaster.pid names a live process), or null. */
export function serverRunningOn(dataDir: string): number | null {
  const pidFile = path.join(dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return null;
  const pid = Number(readFileSync(pidFile, "utf8").split("\n")[0]);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
    return pid;
  } catch (error) {
    // EPERM: alive, someone else's
    return (error as NodeJS.ErrnoException).code === "EPERM" ? pid : null;
  }
}

/** The base backup to start from: the newest finished at or before the target. */
export function chooseBackup(
  backups: readonly CatalogEntry[],
  target: RestoreTarget,
): CatalogEntry {
  if (backups.length === 0) throw new Error("restore: there is no base backup (npm run db:backup)");
  if (target === "latest") return backups.at(-1)!;
  const usable = backups.filter((b) => new Date(b.finishedAt) <= target.time);
  if (usable.length === 0) {
    throw new Error(
      `restore: ${target.time.toISOString()} is before the oldest base backup's end ` +
        `(${backups[0]!.finishedAt}); the earliest restorable time is that`,
    );
  }
  return usable.at(-1)!;
}

async function own(file: string, owner: RunAs): Promise<void> {
  if (owner.uid !== undefined && owner.gid !== undefined) await chown(file, owner.uid, owner.gid);
}

/** Copies the old folder's WAL (segments and timeline history) into the restored pg_wal. */
async function copyLocalWal(fromDataDir: string, toDataDir: string, owner: RunAs): Promise<number> {
  const from = path.join(fromDataDir, "pg_wal");
  let copied = 0;
  for (const name of await readdir(from).catch(() => [] as string[])) {
    if (!WAL_SEGMENT.test(name) && !/^[0-9A-F]{8}\.history$/.test(name)) continue;
    const to = path.join(toDataDir, "pg_wal", name);
    await copyFile(path.join(from, name), to);
    await own(to, owner);
    copied++;
  }
  return copied;
}

/** Writes recovery.signal and copies the base backup (and local WAL) into `dataDir`. */
async function lay(o: {
  backup: CatalogEntry;
  dataDir: string;
  oldDir: string | null;
  owner: RunAs;
  log: Logger;
}): Promise<void> {
  const progress = progressLogger(o.log, "restore");
  const bytes = await copyTree({
    from: o.backup.dir,
    to: o.dataDir,
    owner: o.owner,
    onProgress: progress.onProgress,
  });
  progress.done({ bytes, totalBytes: bytes });
  if (o.oldDir) {
    const files = await copyLocalWal(o.oldDir, o.dataDir, o.owner);
    if (files > 0) o.log.info("restore: the old folder's WAL files are replayed too", { files });
  }
  const signal = path.join(o.dataDir, "recovery.signal");
  await writeFile(signal, "", { mode: 0o600 });
  await own(signal, o.owner);
}

/** Waits until the server has left recovery (it was promoted). */
async function waitForPromotion(superuserUrl: string, timeoutMs = 10 * 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const client = new pg.Client({ connectionString: superuserUrl });
  await client.connect();
  try {
    for (;;) {
      const { rows } = await client.query<{ r: boolean }>("select pg_is_in_recovery() as r");
      if (!rows[0]!.r) return;
      if (Date.now() > deadline) throw new Error("restore: the server is still in recovery");
      await new Promise((resolve) => setTimeout(resolve, 200));
    }
  } finally {
    await client.end();
  }
}

export interface RestoreOptions {
  /** The cluster's data folder (as in use: EmbeddedPostgres.dataDir). */
  dataDir: string;
  target: RestoreTarget;
  port: number;
  superuserPassword: string;
  log: Logger;
  /**
   * Where the base backup and WAL come from (default: the cluster's own backup folders). The
   * restored server archives into the cluster's archive unless `archive` is false.
   */
  archive?: boolean;
  /** Extra server settings. */
  settings?: Readonly<Record<string, string>>;
  /** Delete the data folder when the returned server stops (verify's scratch copy). */
  throwaway?: boolean;
  /** Where the backups are (default: beside `dataDir`). */
  backupsOf?: string;
}

export interface RestoreResult {
  backup: CatalogEntry;
  /** The previous data folder, kept aside; null when there was none. */
  asideDir: string | null;
  /** The restored server, running (stop it when done). */
  server: EmbeddedPostgres;
  /** True when recovery replayed all WAL there is (--latest, or a target past the newest WAL). */
  replayedAll: boolean;
  recoverySeconds: number;
}

/** A logger that also remembers the server's output lines (to tell why recovery stopped). */
function recording(log: Logger, lines: string[]): Logger {
  const wrap = (inner: Logger): Logger => ({
    debug: (m, f) => {
      lines.push(m);
      inner.debug(m, f);
    },
    info: (m, f) => inner.info(m, f),
    warn: (m, f) => inner.warn(m, f),
    error: (m, f) => inner.error(m, f),
    child: (f) => wrap(inner.child(f)),
  });
  return wrap(log);
}

const TARGET_NOT_REACHED = /recovery ended before configured recovery target was reached/;

export async function restoreCluster(o: RestoreOptions): Promise<RestoreResult> {
  const dataDir = path.resolve(o.dataDir);
  const running = serverRunningOn(dataDir);
  if (running !== null) {
    throw new Error(
      `restore: a server (pid ${running}) is running on ${dataDir}; stop the service first`,
    );
  }
  const folders = backupFoldersFor(o.backupsOf ?? dataDir);
  const backup = chooseBackup(await listBaseBackups(folders.base), o.target);
  const owner = await postgresRunAs();
  const asideDir = existsSync(dataDir)
    ? `${dataDir}.before-restore-${new Date().toISOString().replace(/[-:]/g, "")}`
    : null;
  if (asideDir) await rename(dataDir, asideDir);
  o.log.info("restore: starting", {
    backup: backup.id,
    target: o.target === "latest" ? "latest" : o.target.time.toISOString(),
    dataDir,
    oldFolderKeptIn: asideDir,
  });
  const started = Date.now();
  const start = async (target: RestoreTarget): Promise<EmbeddedPostgres> => {
    const lines: string[] = [];
    const server = await startEmbeddedPostgres({
      dataDir,
      port: o.port,
      superuserPassword: o.superuserPassword,
      log: recording(o.log, lines),
      throwaway: o.throwaway,
      prepare: o.archive === false ? undefined : prepareArchiving,
      settings: {
        ...(o.archive === false ? { archive_mode: "off" } : {}),
        ...o.settings,
        restore_command: restoreCommand(folders.wal),
        recovery_target_action: "promote",
        ...(target === "latest" ? {} : { recovery_target_time: pgTimestamp(target.time) }),
      },
    }).catch((error: unknown) => {
      if (target !== "latest" && lines.some((l) => TARGET_NOT_REACHED.test(l))) {
        return null;
      }
      throw error;
    });
    if (server === null) throw new TargetBeyondWal();
    return server;
  };
  try {
    await lay({ backup, dataDir, oldDir: asideDir, owner, log: o.log });
    let server: EmbeddedPostgres;
    let replayedAll = o.target === "latest";
    try {
      server = await start(o.target);
    } catch (error) {
      if (!(error instanceof TargetBeyondWal)) throw error;
      // every commit in the WAL is before the target: that is the latest state; start again
      o.log.info("restore: the target is past the newest WAL; restoring everything there is");
      await rm(dataDir, { recursive: true, force: true });
      await lay({ backup, dataDir, oldDir: asideDir, owner, log: o.log });
      server = await start("latest");
      replayedAll = true;
    }
    try {
      await waitForPromotion(server.superuserUrl("postgres"));
    } catch (error) {
      await server.stop();
      throw error;
    }
    const recoverySeconds = (Date.now() - started) / 1000;
    o.log.info("restore: done, the server is out of recovery", {
      backup: backup.id,
      seconds: recoverySeconds.toFixed(1),
      oldFolderKeptIn: asideDir,
    });
    return { backup, asideDir, server, replayedAll, recoverySeconds };
  } catch (error) {
    await rm(dataDir, { recursive: true, force: true });
    if (asideDir) await rename(asideDir, dataDir);
    o.log.error("restore failed; the previous data folder is back in place", {
      error: (error as Error).message,
    });
    throw error;
  }
}

class TargetBeyondWal extends Error {
  constructor() {
    super("recovery ended before the target was reached");
  }
}
