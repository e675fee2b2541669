/**
 * The worker's task list: task identifier → handler. Identifiers follow `<area>__<action>`;
 * jobs are queued by triggers with `graphile_worker.add_job(...)`, by src/crontab, or by the
 * account functions (send_email). The README lists every task and its schedule.
 */
import type { TaskList, WorkerUtils } from "graphile-worker";

import type { Logger } from "../log.ts";
import type { MailTransport } from "../mail/transport.ts";
import type { MediaTaskSettings } from "../media/process/settings.ts";
import { accountErase } from "./account.ts";
import { backupsBaseBackup, backupsVerify, type BackupTaskContext } from "./backups.ts";
import { countersRecount, countersVerifyAll } from "./counters.ts";
import { dataExportBuild, dataExportPurge } from "./data_export.ts";
import {
  cleanupOrphans,
  purgeAuditLog,
  purgeDeletedContent,
  purgeEmailDeliveries,
  purgeFailedJobs,
  purgeNotifications,
  purgeSecrets,
  refreshViews,
} from "./maintenance.ts";
import { mediaCleanupOrphans, mediaProcess } from "./media.ts";
import { notificationsCreate } from "./notifications.ts";
import { pruneOutbox } from "./outbox.ts";
import { reindexBloated } from "./reindex.ts";
import { sendEmail } from "./send_email.ts";
import { workerCleanup } from "./worker__cleanup.ts";

/** What tasks may use beyond graphile-worker's job helpers. */
export interface TaskDependencies {
  workerUtils: WorkerUtils;
  log: Logger;
  mail: {
    transport: MailTransport;
    from: string;
    appUrl: string;
    /** The development outbox folder (pruned by maintenance__prune_outbox); unset with SMTP. */
    outboxDir?: string | null;
  };
  /** Days each kind of record is kept (src/config.ts `retention`). */
  retention: {
    deletedContentDays: number;
    readNotificationDays: number;
    auditLogDays: number;
    emailDeliveryDays: number;
    failedJobDays: number;
    outboxDays: number;
  };
  /** Which indexes maintenance__reindex_bloated rebuilds. */
  reindex: { bloatPercent: number; minBytes: number };
  /** Rows per transaction in batch jobs. */
  batchSize: number;
  /** The embedded server's backups (src/tasks/backups.ts); null/absent with DATABASE_URL. */
  backups?: BackupTaskContext | null;
  /** "Download my data" archives (src/tasks/data_export.ts); absent: those tasks fail. */
  dataExport?: { dataDir: string; ttlHours: number } | null;
  /** Media processing and clean-up (src/tasks/media.ts); absent: those tasks fail. */
  media?: MediaTaskSettings | null;
  /** Every identifier in the task list (for cleanup: identifiers to keep). */
  taskIdentifiers: readonly string[];
}

const FACTORIES = {
  counters__recount: countersRecount,
  counters__verify_all: countersVerifyAll,
  notifications__create: notificationsCreate,
  send_email: sendEmail,
  maintenance__cleanup_orphans: cleanupOrphans,
  maintenance__purge_secrets: purgeSecrets,
  maintenance__purge_deleted_content: purgeDeletedContent,
  maintenance__purge_notifications: purgeNotifications,
  maintenance__refresh_views: refreshViews,
  maintenance__purge_audit_log: purgeAuditLog,
  maintenance__purge_email_deliveries: purgeEmailDeliveries,
  maintenance__purge_failed_jobs: purgeFailedJobs,
  maintenance__prune_outbox: pruneOutbox,
  maintenance__reindex_bloated: reindexBloated,
  worker__cleanup: workerCleanup,
  backups__base_backup: backupsBaseBackup,
  backups__verify: backupsVerify,
  account__erase: accountErase,
  data_export__build: dataExportBuild,
  data_export__purge: dataExportPurge,
  media__process: mediaProcess,
  media__cleanup_orphans: mediaCleanupOrphans,
} as const;

export const TASK_IDENTIFIERS = Object.keys(FACTORIES) as (keyof typeof FACTORIES)[];

export function makeTaskList(deps: Omit<TaskDependencies, "taskIdentifiers">): TaskList {
  const full: TaskDependencies = { ...deps, taskIdentifiers: TASK_IDENTIFIERS };
  return Object.fromEntries(TASK_IDENTIFIERS.map((id) => [id, FACTORIES[id](full)]));
}
