/**
 * Retention: base backups older than BACKUP_RETENTION_DAYS are deleted, but never the newest
 * one; archived WAL older than the oldest kept base backup's start (its backup_label's start
 * WAL file) is deleted, timeline history files are kept (they are tiny and recovery needs them).
 */
import { readdir, rm } from "node:fs/promises";
import path from "node:path";

import type { Logger } from "../log.ts";
import { backupFoldersFor } from "./archive.ts";
import { listBaseBackups, WAL_SEGMENT } from "./catalog.ts";

/** The WAL file name holding `lsn` ("X/Y") on `timeline`, for 16 MiB segments. */
export function walFileName(
  timeline: number,
  lsn: string,
  segmentBytes = 16 * 1024 * 1024,
): string {
  const [hi, lo] = lsn.split("/").map((part) => BigInt(`0x${part}`));
  const position = (hi! << 32n) + lo!;
  const segment = position / BigInt(segmentBytes);
  const perXlogId = 0x1_0000_0000n / BigInt(segmentBytes);
  const hex = (n: bigint): string => n.toString(16).toUpperCase().padStart(8, "0");
  return hex(BigInt(timeline)) + hex(segment / perXlogId) + hex(segment % perXlogId);
}

export interface PruneResult {
  backupsDeleted: string[];
  walFilesDeleted: number;
}

export async function pruneBackups(o: {
  clusterDir: string;
  retentionDays: number;
  log: Logger;
  now?: Date;
}): Promise<PruneResult> {
  const folders = backupFoldersFor(o.clusterDir);
  const backups = await listBaseBackups(folders.base);
  const cutoff = (o.now ?? new Date()).getTime() - o.retentionDays * 86_400_000;
  const old = backups.slice(0, -1).filter((b) => new Date(b.finishedAt).getTime() < cutoff);
  for (const b of old) await rm(path.dirname(b.dir), { recursive: true, force: true });
  const kept = backups.filter((b) => !old.includes(b));
  let walFilesDeleted = 0;
  const oldest = kept[0];
  if (oldest) {
    // compare the segment part only: any timeline's WAL before the oldest start is unneeded
    const keepFrom = walFileName(1, oldest.startLsn).slice(8);
    for (const name of await readdir(folders.wal)) {
      const segment = name.slice(0, 24);
      if (!WAL_SEGMENT.test(segment) || name.endsWith(".history")) continue;
      if (segment.slice(8) < keepFrom) {
        await rm(path.join(folders.wal, name), { force: true });
        walFilesDeleted++;
      }
    }
  }
  const result = { backupsDeleted: old.map((b) => b.id), walFilesDeleted };
  o.log.info("backups pruned", { ...result, retentionDays: o.retentionDays });
  return result;
}
