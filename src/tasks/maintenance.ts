/**
 * Scheduled clean-ups (src/crontab), each one SQL function in app_private doing the work and
 * this logging what it did:
 *
 * - `maintenance__cleanup_orphans`: likes whose post or comment no longer exists;
 * - `maintenance__purge_secrets`: expired or used tokens, old failed-login rows;
 * - `maintenance__purge_deleted_content`: posts and messages soft-deleted before the retention;
 * - `maintenance__purge_notifications`: notifications read before the retention, and the
 *   record of coalesced events handled before it;
 * - `maintenance__refresh_views`: materialised views, refreshed concurrently;
 * - `maintenance__purge_audit_log`, `maintenance__purge_email_deliveries`,
 *   `maintenance__purge_failed_jobs`: records past their retention, in batches of `batchSize`
 *   rows, one transaction each (no long row locks or old snapshots on a large backlog).
 *
 * The development outbox and the index rebuilds are in outbox.ts and reindex.ts.
 */
import type { Task } from "graphile-worker";

import type { TaskDependencies } from "./index.ts";

function sqlTask(
  name: string,
  sql: (deps: TaskDependencies) => { text: string; values: unknown[] },
) {
  return (deps: TaskDependencies): Task =>
    async (_payload, helpers) => {
      const started = Date.now();
      const { text, values } = sql(deps);
      const { rows } = await helpers.query<Record<string, unknown>>(text, values);
      helpers.logger.info(`${name} done`, { ...rows[0], ms: Date.now() - started });
    };
}

export const cleanupOrphans = sqlTask("maintenance__cleanup_orphans", () => ({
  text: `select app_private.cleanup_orphaned_likes() as likes_deleted`,
  values: [],
}));

export const purgeSecrets = sqlTask("maintenance__purge_secrets", () => ({
  text: `select refresh_tokens, user_tokens, login_attempts from app_private.purge_expired_secrets()`,
  values: [],
}));

export const purgeDeletedContent = sqlTask(
  "maintenance__purge_deleted_content",
  ({ retention }) => ({
    text: `select posts, messages from app_private.purge_deleted_content(make_interval(days => $1))`,
    values: [retention.deletedContentDays],
  }),
);

export const purgeNotifications = sqlTask("maintenance__purge_notifications", ({ retention }) => ({
  text: `select notifications as notifications_deleted, handled_events as handled_events_deleted
           from app_private.purge_read_notifications(make_interval(days => $1))`,
  values: [retention.readNotificationDays],
}));

export const refreshViews = sqlTask("maintenance__refresh_views", () => ({
  text: `select app_private.refresh_views() is null as refreshed`,
  values: [],
}));

/**
 * Calls `fn(retention interval, batch size)` (returns the rows it deleted, at most a batch) until
 * a batch comes back short; each call is its own transaction.
 */
function batchedPurgeTask(
  name: string,
  fn: string,
  days: (retention: TaskDependencies["retention"]) => number,
) {
  return ({ retention, batchSize }: TaskDependencies): Task =>
    async (_payload, helpers) => {
      const started = Date.now();
      let deleted = 0;
      let batches = 0;
      for (;;) {
        const { rows } = await helpers.query<{ n: number }>(
          `select ${fn}(make_interval(days => $1), $2) as n`,
          [days(retention), batchSize],
        );
        const n = rows[0]?.n ?? 0;
        deleted += n;
        batches += 1;
        if (n < batchSize) break;
      }
      helpers.logger.info(`${name} done`, { deleted, batches, ms: Date.now() - started });
    };
}

export const purgeAuditLog = batchedPurgeTask(
  "maintenance__purge_audit_log",
  "app_private.purge_audit_log",
  (r) => r.auditLogDays,
);

export const purgeEmailDeliveries = batchedPurgeTask(
  "maintenance__purge_email_deliveries",
  "app_private.purge_email_deliveries",
  (r) => r.emailDeliveryDays,
);

export const purgeFailedJobs = batchedPurgeTask(
  "maintenance__purge_failed_jobs",
  "app_private.purge_failed_jobs",
  (r) => r.failedJobDays,
);
