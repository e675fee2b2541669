/**
 * Streaming replication as the primary sees it (`pg_stat_replication`): one row per standby
 * connected to it. Used by the metrics collector (mking_db_replication_lag_*, mking_db_standbys)
 * and by `npm run db:standby -- --status`. On a server with no standbys (or on a standby itself)
 * the list is empty.
 */
import type pg from "pg";

export interface StandbyStatus {
  /** The standby's application_name (its cluster_name or primary_conninfo's application_name). */
  standby: string;
  /** startup | catchup | streaming | backup | stopping */
  state: string;
  /** True when this standby is the synchronous one (sync_state sync or quorum). */
  sync: boolean;
  /**
   * WAL the primary has written that the standby has not replayed yet, in bytes (before the
   * standby reports its first replay position: what has not even been sent; 0 if unknown).
   */
  lagBytes: number;
  /**
   * `replay_lag`: how long ago the newest WAL the standby has replayed was written on the
   * primary, in seconds. Null when PostgreSQL has no recent measurement: the standby has caught
   * up and nothing was written for a while (then lagBytes is 0), or it has only just connected.
   */
  lagSeconds: number | null;
}

interface Row {
  standby: string;
  state: string;
  sync_state: string;
  lag_bytes: string | null;
  lag_seconds: number | null;
}

export async function replicationStatus(client: pg.ClientBase): Promise<StandbyStatus[]> {
  // On a standby pg_current_wal_lsn() raises; it has no standbys of its own to report here
  // (cascading replication is not part of this setup).
  const { rows: recovery } = await client.query<{ standby: boolean }>(
    "select pg_is_in_recovery() as standby",
  );
  if (recovery[0]?.standby) return [];
  const { rows } = await client.query<Row>(
    `select coalesce(nullif(application_name, ''), client_addr::text, 'pid ' || pid) as standby,
            coalesce(state, 'unknown') as state,
            coalesce(sync_state, 'async') as sync_state,
            greatest(pg_wal_lsn_diff(pg_current_wal_lsn(), coalesce(replay_lsn, sent_lsn)), 0)::text
              as lag_bytes,
            extract(epoch from replay_lag)::float8 as lag_seconds
       from pg_catalog.pg_stat_replication
      -- pg_basebackup's connections are listed too (state 'backup'): they are not standbys
      where state is distinct from 'backup'
      order by 1`,
  );
  return rows.map((r) => ({
    standby: r.standby,
    state: r.state,
    sync: r.sync_state === "sync" || r.sync_state === "quorum",
    lagBytes: r.lag_bytes === null ? 0 : Number(r.lag_bytes),
    lagSeconds: r.lag_seconds,
  }));
}
