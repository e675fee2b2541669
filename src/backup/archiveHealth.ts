/**
 * Whether WAL archiving is failing, from pg_stat_archiver (readable by any role): the newest
 * attempt failed (last_failed_time after last_archived_time). /readyz shows it as a warning —
 * the API still serves, but every minute of it is at risk — and the server's log has the
 * archive_command's error.
 */
import type pg from "pg";

export interface ArchiveState {
  /** archive_mode is on. */
  enabled: boolean;
  failedCount: number;
  lastArchivedAt: Date | null;
  lastFailedAt: Date | null;
  lastFailedWal: string | null;
  /** The newest attempt failed. */
  failing: boolean;
}

export async function archiveState(client: pg.ClientBase): Promise<ArchiveState> {
  const { rows } = await client.query<{
    enabled: boolean;
    failed_count: string;
    last_archived_time: Date | null;
    last_failed_time: Date | null;
    last_failed_wal: string | null;
  }>(
    `select current_setting('archive_mode') <> 'off' as enabled, failed_count::text,
            last_archived_time, last_failed_time, last_failed_wal
       from pg_stat_archiver`,
  );
  const r = rows[0]!;
  const failing =
    r.enabled &&
    r.last_failed_time !== null &&
    (r.last_archived_time === null || r.last_failed_time > r.last_archived_time);
  return {
    enabled: r.enabled,
    failedCount: Number(r.failed_count),
    lastArchivedAt: r.last_archived_time,
    lastFailedAt: r.last_failed_time,
    lastFailedWal: r.last_failed_wal,
    failing,
  };
}

/** A one-line warning when archiving is failing, else null. */
export async function archiveWarning(client: pg.ClientBase): Promise<string | null> {
  const s = await archiveState(client);
  if (!s.failing) return null;
  return (
    `WAL archiving is failing (${s.failedCount} failures; last ${s.lastFailedWal} at ` +
    `${s.lastFailedAt!.toISOString()}): new writes are not backed up; see the database log`
  );
}
