/**
 * Database health for Prometheus (names: src/metrics/registry.ts), read on one dedicated
 * connection (the owner's; it needs pg_monitor to see other roles' sessions) from cheap catalog
 * views: connections by state and role, the longest transaction and query, locks waited on,
 * sizes, dead tuples and autovacuum of the hot tables, cache hit ratio, transaction id age,
 * WAL archiving, replication (src/db/replication.ts) and the data folder's free disk.
 *
 * Collected on a timer and when a scrape finds the values older than the interval. A failed
 * collection sets mking_db_up to 0 and logs a warning; it never throws.
 */
import { statfs } from "node:fs/promises";

import pg from "pg";
import { Gauge } from "prom-client";

import { replicationStatus } from "../db/replication.ts";
import type { Logger } from "../log.ts";
import type { MetricsRegistry } from "./registry.ts";

/** The tables that change most, whose vacuum health is worth watching. */
export const HOT_TABLES = [
  "app_public.likes",
  "app_public.notifications",
  "app_public.messages",
  "app_public.posts",
  "app_public.comments",
  "graphile_worker._private_jobs",
] as const;

export interface DatabaseCollectorOptions {
  ownerUrl: string;
  log: Logger;
  /** How often to collect (and how old values may be at a scrape); default 15 s. */
  intervalMs?: number;
  /** The data folder, when the server is local (embedded): its file system's free space. */
  dataDir?: string | null;
  /** The newest successful base backup's finish time, if backups are known here. */
  lastBackupAt?: () => Promise<Date | null>;
}

interface Snapshot {
  connections: { state: string; role: string; n: number }[];
  longest_xact: number;
  longest_query: number;
  locks_waiting: number;
  databases: { database: string; bytes: number }[];
  tables: {
    table: string;
    dead: number;
    vacuum_age: number | null;
    analyze_age: number | null;
  }[];
  cache_hit_ratio: number | null;
  xid_age: number;
  archive_failed: number | null;
  archive_age: number | null;
}

const SNAPSHOT_SQL = `
select
  (select coalesce(json_agg(c), '[]') from (
     select coalesce(state, 'unknown') as state, coalesce(usename::text, 'unknown') as role,
            count(*)::int as n
       from pg_stat_activity
      where backend_type = 'client backend' and pid <> pg_backend_pid()
      group by 1, 2) c) as connections,
  coalesce((select extract(epoch from max(clock_timestamp() - xact_start))::float8 from pg_stat_activity
             where xact_start is not null and pid <> pg_backend_pid()
               and backend_type = 'client backend'), 0) as longest_xact,
  coalesce((select extract(epoch from max(clock_timestamp() - query_start))::float8 from pg_stat_activity
             where state = 'active' and pid <> pg_backend_pid()
               and backend_type = 'client backend'), 0) as longest_query,
  (select count(*)::int from pg_locks where not granted) as locks_waiting,
  (select json_agg(json_build_object('database', database, 'bytes', bytes))
     from app_private.database_sizes()) as databases,
  (select coalesce(json_agg(t), '[]') from (
     select c.oid::regclass::text as table,
            coalesce(s.n_dead_tup, 0) as dead,
            extract(epoch from clock_timestamp() - s.last_autovacuum)::float8 as vacuum_age,
            extract(epoch from clock_timestamp() - s.last_autoanalyze)::float8 as analyze_age
       from unnest($1::text[]) as h(name)
       join pg_class c on c.oid = to_regclass(h.name)
       left join pg_stat_all_tables s on s.relid = c.oid) t) as tables,
  (select sum(blks_hit)::float8 / nullif(sum(blks_hit) + sum(blks_read), 0)
     from pg_stat_database) as cache_hit_ratio,
  (select max(age(datfrozenxid))::int from pg_database) as xid_age,
  (select failed_count::int from pg_stat_archiver) as archive_failed,
  (select extract(epoch from clock_timestamp() - last_archived_time)::float8 from pg_stat_archiver)
    as archive_age`;

/**
 * Table sizes open the tables (an access share lock): behind a lock that excludes it (a
 * migration, VACUUM FULL) the size is skipped for this round rather than waited for.
 */
const SIZES_SQL = `
select c.oid::regclass::text as table, pg_total_relation_size(c.oid) as bytes
  from unnest($1::text[]) as h(name)
  join pg_class c on c.oid = to_regclass(h.name)`;

async function tableSizes(
  client: pg.PoolClient,
): Promise<{ table: string; bytes: string }[] | null> {
  await client.query("begin");
  try {
    await client.query("set local lock_timeout = '100ms'");
    const { rows } = await client.query<{ table: string; bytes: string }>(SIZES_SQL, [HOT_TABLES]);
    return rows;
  } catch (error) {
    if ((error as { code?: string }).code === "55P03") return null; // lock_not_available
    throw error;
  } finally {
    await client.query("rollback");
  }
}

export interface DatabaseCollector {
  /** Collects now, after any collection under way (what the timer and stale scrapes do). */
  collect(): Promise<void>;
  close(): Promise<void>;
}

/**
 * How long the metrics connections may sit idle before pg closes them: longer than the time
 * between two uses (a collection or a scrape every 15 s by default), so each use finds its
 * connection open. pg's default (10 s) closed it before every collection, and each one paid for
 * a new connection (SCRAM authentication in the API process, a new backend in PostgreSQL): up to
 * ~40 ms of the API's CPU every 15 s, measured in the metrics overhead benchmark.
 */
export function metricsIdleTimeoutMs(intervalMs: number): number {
  return Math.max(60_000, 2 * intervalMs + 5_000);
}

export function startDatabaseCollector(
  metrics: MetricsRegistry,
  options: DatabaseCollectorOptions,
): DatabaseCollector {
  const log = options.log.child({ component: "metrics" });
  const intervalMs = options.intervalMs ?? 15_000;
  const pool = new pg.Pool({
    connectionString: options.ownerUrl,
    max: 1,
    application_name: "mking-friend-metrics",
    connectionTimeoutMillis: 5000,
    idleTimeoutMillis: metricsIdleTimeoutMs(intervalMs),
  });
  pool.on("error", (error) => log.warn("idle metrics connection failed", { error }));
  const unwatch = metrics.watchPool("metrics", pool);

  let collectedAt = 0;
  let running: Promise<void> | null = null;
  // On a scrape, values older than the interval are refreshed first (prom-client awaits this).
  const fresh = async (): Promise<void> => {
    if (Date.now() - collectedAt >= intervalMs) await collect();
  };
  const registers = [metrics.registry];
  const gauge = <L extends string>(name: string, help: string, labelNames: L[] = []) =>
    new Gauge<L>({ name, help, labelNames, registers, collect: fresh });
  const g = {
    up: gauge("mking_db_up", "1 when the last collection of database metrics succeeded."),
    connections: gauge("mking_db_connections", "Client connections by state and role.", [
      "state",
      "role",
    ]),
    longestXact: gauge(
      "mking_db_longest_transaction_seconds",
      "Age of the oldest open transaction (0: none).",
    ),
    longestQuery: gauge(
      "mking_db_longest_query_seconds",
      "Run time of the longest running query (0: none).",
    ),
    locks: gauge("mking_db_locks_waiting", "Locks waited for (not granted) now."),
    size: gauge("mking_db_size_bytes", "Size of each database.", ["database"]),
    tableSize: gauge(
      "mking_db_table_size_bytes",
      "Size of the hot tables, indexes and TOAST included.",
      ["table"],
    ),
    dead: gauge("mking_db_table_dead_tuples", "Dead tuples of the hot tables.", ["table"]),
    vacuumAge: gauge(
      "mking_db_table_last_autovacuum_age_seconds",
      "Time since autovacuum last processed the hot table (absent: never).",
      ["table"],
    ),
    analyzeAge: gauge(
      "mking_db_table_last_autoanalyze_age_seconds",
      "Time since autoanalyze last processed the hot table (absent: never).",
      ["table"],
    ),
    cacheHit: gauge(
      "mking_db_cache_hit_ratio",
      "Share of block reads served from shared buffers (0..1).",
    ),
    xidAge: gauge(
      "mking_db_xid_age",
      "Transaction id age, age(datfrozenxid), max over databases (wraparound at 2^31).",
    ),
    archiveFailed: gauge(
      "mking_db_archive_failed_total",
      "WAL segments that failed to archive (pg_stat_archiver.failed_count).",
    ),
    archiveAge: gauge(
      "mking_db_archive_last_archived_age_seconds",
      "Time since the last WAL segment was archived (absent: none archived yet).",
    ),
    lagSeconds: gauge("mking_db_replication_lag_seconds", "Replay lag of each standby.", [
      "standby",
    ]),
    lagBytes: gauge("mking_db_replication_lag_bytes", "WAL not yet replayed by each standby.", [
      "standby",
    ]),
    standbys: gauge("mking_db_standbys", "Standbys streaming from this server now."),
    diskFree: gauge(
      "mking_db_disk_free_ratio",
      "Free space of the data folder's file system (0..1; absent: the folder is not local).",
    ),
    backup: gauge(
      "mking_backup_last_success_timestamp_seconds",
      "Finish time of the newest successful base backup (Unix seconds; absent: none known here).",
    ),
  };

  // Unlabelled gauges read 0 until set; these are absent instead while unknown (0 would mean a
  // full disk, a backup in 1970, a segment archived just now or no cache hits).
  const unknownUntilSet = [g.cacheHit, g.archiveAge, g.diskFree, g.backup];
  for (const m of unknownUntilSet) m.remove();
  const setOrRemove = (m: Gauge, value: number | null): void => {
    if (value === null) m.remove();
    else m.set(value);
  };

  const collectOnce = async (): Promise<void> => {
    const client = await pool.connect();
    try {
      const { rows } = await client.query<Snapshot>(SNAPSHOT_SQL, [HOT_TABLES]);
      const s = rows[0]!;
      const sizes = await tableSizes(client);
      const standbys = await replicationStatus(client);
      const disk = options.dataDir ? await statfs(options.dataDir) : null;
      const backup = options.lastBackupAt ? await options.lastBackupAt() : null;

      g.connections.reset();
      for (const c of s.connections) g.connections.set({ state: c.state, role: c.role }, c.n);
      g.longestXact.set(s.longest_xact);
      g.longestQuery.set(s.longest_query);
      g.locks.set(s.locks_waiting);
      g.size.reset();
      for (const d of s.databases) g.size.set({ database: d.database }, Number(d.bytes));
      for (const m of [g.dead, g.vacuumAge, g.analyzeAge]) m.reset();
      if (sizes) {
        g.tableSize.reset();
        for (const t of sizes) g.tableSize.set({ table: t.table }, Number(t.bytes));
      }
      for (const t of s.tables) {
        g.dead.set({ table: t.table }, Number(t.dead));
        if (t.vacuum_age !== null) g.vacuumAge.set({ table: t.table }, t.vacuum_age);
        if (t.analyze_age !== null) g.analyzeAge.set({ table: t.table }, t.analyze_age);
      }
      setOrRemove(g.cacheHit, s.cache_hit_ratio);
      g.xidAge.set(s.xid_age);
      g.archiveFailed.set(s.archive_failed ?? 0);
      setOrRemove(g.archiveAge, s.archive_age);
      g.lagSeconds.reset();
      g.lagBytes.reset();
      for (const standby of standbys) {
        g.lagBytes.set({ standby: standby.standby }, standby.lagBytes);
        if (standby.lagSeconds !== null)
          g.lagSeconds.set({ standby: standby.standby }, standby.lagSeconds);
      }
      g.standbys.set(standbys.filter((r) => r.state === "streaming").length);
      setOrRemove(g.diskFree, disk ? (disk.blocks > 0 ? disk.bavail / disk.blocks : 0) : null);
      setOrRemove(g.backup, backup ? backup.getTime() / 1000 : null);
      g.up.set(1);
    } finally {
      client.release();
    }
  };

  /** Joins the collection under way, or starts one. */
  function collect(): Promise<void> {
    return (running ??= collectOnce()
      .catch((error: unknown) => {
        g.up.set(0);
        log.warn("cannot collect database metrics", { error });
      })
      .finally(() => {
        collectedAt = Date.now();
        running = null;
      }));
  }

  const timer = setInterval(() => void collect(), intervalMs);
  timer.unref();
  void collect();

  return {
    async collect() {
      await running; // one that started before the caller's question does not answer it
      await collect();
    },
    async close() {
      clearInterval(timer);
      await running;
      unwatch();
      await pool.end();
    },
  };
}
