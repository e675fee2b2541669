/**
 * Backups of the embedded server (src/backup/), on the worker's schedule (src/crontab):
 *
 * - `backups__base_backup`: a base backup (daily), then retention (BACKUP_RETENTION_DAYS);
 * - `backups__verify`: restores the newest base backup into a scratch folder and checks it
 *   (weekly); a failed check fails the job (logged, retried, visible in mking_jobs).
 *
 * Only a process that runs the embedded server knows its data folder; with DATABASE_URL (or
 * with EMBEDDED_WAL_ARCHIVE=false: a scratch cluster) the tasks say once that backups are not
 * theirs (docs/OPERATIONS.md) and do nothing.
 */
import type { Task } from "graphile-worker";

import { backupNow } from "../backup/catalog.ts";
import { pruneBackups } from "../backup/prune.ts";
import { verifyLatestBackup } from "../backup/verify.ts";
import { postgresRunAs } from "../db/postgresUser.ts";
import type { Logger } from "../log.ts";

/** What the backup tasks need to know about the embedded server; null without one. */
export interface BackupTaskContext {
  clusterDir: string;
  superuserUrl: string;
  superuserPassword: string;
  databaseName: string;
  retentionDays: number;
}

let saidOperatorsJob = false;
function operatorsJob(log: Logger): void {
  if (saidOperatorsJob) return;
  saidOperatorsJob = true;
  log.info(
    "backups: DATABASE_URL is set (backing up that server is the operator's job) or the " +
      "embedded server does not archive WAL (EMBEDDED_WAL_ARCHIVE=false); the backup tasks do " +
      "nothing here (docs/OPERATIONS.md)",
  );
}

export function backupsBaseBackup(deps: { backups?: BackupTaskContext | null; log: Logger }): Task {
  return async () => {
    const b = deps.backups;
    if (!b) return operatorsJob(deps.log);
    const log = deps.log.child({ task: "backups__base_backup" });
    const entry = await backupNow({
      superuserUrl: b.superuserUrl,
      clusterDir: b.clusterDir,
      owner: await postgresRunAs(),
      log,
    });
    const pruned = await pruneBackups({
      clusterDir: b.clusterDir,
      retentionDays: b.retentionDays,
      log,
    });
    log.info("backups__base_backup done", { id: entry.id, bytes: entry.bytes, ...pruned });
  };
}

export function backupsVerify(deps: { backups?: BackupTaskContext | null; log: Logger }): Task {
  return async () => {
    const b = deps.backups;
    if (!b) return operatorsJob(deps.log);
    const log = deps.log.child({ task: "backups__verify" });
    const report = await verifyLatestBackup({
      clusterDir: b.clusterDir,
      databaseName: b.databaseName,
      superuserPassword: b.superuserPassword,
      log,
    });
    if (!report.ok) {
      throw new Error(
        `backup ${report.backupId} failed verification: ${report.problems.join("; ")}`,
      );
    }
    log.info("backups__verify done", {
      id: report.backupId,
      recoverySeconds: report.recoverySeconds.toFixed(1),
      tables: report.tables,
      rows: report.rows,
    });
  };
}
