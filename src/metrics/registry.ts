/**
 * The metrics of a process, served on METRICS_PORT by src/metricsServer.ts. Two registries:
 * - `ProcessMetrics`, the main thread's: the API (src/metrics/api.ts), the read cache and
 *   replicas, the worker's counters (src/metrics.ts) and the pg pools of whoever runs in this
 *   process (below), recorded into shared memory (src/metrics/shared.ts);
 * - `ThreadMetrics`, the metrics thread's (src/metrics/thread.ts): a prom-client registry for
 *   what it reads from the database, the job queue (src/metrics.ts) and the database's health
 *   (src/metrics/database.ts). It renders the main thread's families too: a scrape gets both in
 *   one exposition, and the thread's pools are reported by the main thread's pool gauge.
 *
 * The names and labels are agreed with the dashboards, alert rules and `npm run status`
 * (issues #11/#12); change one only by adding the new name next to the old:
 *
 * API (per API process):
 * - mking_graphql_request_duration_seconds{operation_name,operation_type}   histogram
 *     (operation_type: query|mutation|subscription; operation_name "anonymous" when unnamed)
 * - mking_graphql_responses_total{operation_type,code}   counter (code: "OK" or the
 *     extensions.code of the first error; operation_type "unknown" when the document never parsed)
 * - mking_http_requests_in_flight   gauge
 * - mking_requests_refused_total{guard}   counter (guard: depth|cost|page_size|tokens|aliases|
 *     selections|directives|nesting|body_size|rate_limit|transport|origin|untrusted_document)
 * - mking_websocket_connections   gauge
 * - mking_subscriptions_running   gauge
 * - mking_realtime_events_delivered_total{subscription}   counter
 * - mking_realtime_events_dropped_total{reason}   counter (reason: slow_client)
 * - mking_realtime_listen_connected   gauge (1 while the LISTEN connection is up)
 * - mking_pg_pool_connections{pool,state}   gauge (pool: api|api_health|worker|metrics;
 *     state: total|idle|waiting)
 *
 * Worker:
 * - mking_jobs{task,state}   gauge (state: ready|scheduled|running|retrying|failed)
 * - mking_jobs_oldest_ready_seconds   gauge
 * - mking_worker_pools_alive   gauge
 * - mking_worker_jobs_completed_total{task}, mking_worker_job_errors_total{task},
 *   mking_worker_jobs_given_up_total{task}, mking_worker_job_seconds_total{task}   counters
 *
 * Database (collected by the metrics thread of the process that serves METRICS_PORT, one
 * connection):
 * - mking_db_connections{state,role}   gauge
 * - mking_db_longest_transaction_seconds   gauge
 * - mking_db_longest_query_seconds   gauge
 * - mking_db_locks_waiting   gauge
 * - mking_db_size_bytes{database}   gauge
 * - mking_db_table_size_bytes{table}   gauge
 * - mking_db_table_dead_tuples{table}   gauge
 * - mking_db_table_last_autovacuum_age_seconds{table}   gauge
 * - mking_db_table_last_autoanalyze_age_seconds{table}   gauge
 * - mking_db_cache_hit_ratio   gauge (0..1)
 * - mking_db_xid_age   gauge (age(datfrozenxid), max over databases)
 * - mking_db_archive_failed_total   gauge (pg_stat_archiver.failed_count)
 * - mking_db_archive_last_archived_age_seconds   gauge
 * - mking_db_replication_lag_seconds{standby}   gauge
 * - mking_db_replication_lag_bytes{standby}   gauge
 * - mking_db_standbys   gauge (standbys streaming now)
 * - mking_db_disk_free_ratio   gauge (0..1, the data folder's file system; only where local)
 * - mking_backup_last_success_timestamp_seconds   gauge (the newest base backup's finish time)
 * - mking_db_up   gauge (1 when the last collection succeeded)
 */
import { Registry } from "prom-client";

import { SharedRegistry } from "./shared.ts";

/** What a pg pool tells of its connections (a pg.Pool is one). */
export interface PoolCounts {
  readonly totalCount: number;
  readonly idleCount: number;
  readonly waitingCount: number;
}

/** Pools reported by name (a name is watched until its watcher lets go). */
class PoolWatch {
  readonly pools = new Map<string, PoolCounts>();

  watch(name: string, pool: PoolCounts): () => void {
    this.pools.set(name, pool);
    return () => {
      if (this.pools.get(name) === pool) this.pools.delete(name);
    };
  }
}

/** Where the database collector (src/metrics/database.ts) registers and reports its pool. */
export interface MetricsRegistry {
  readonly registry: Registry;
  watchPool(name: string, pool: PoolCounts): () => void;
}

/** The main thread's metrics: shared with the metrics thread, which renders them. */
export class ProcessMetrics extends SharedRegistry {
  readonly #pools = new PoolWatch();

  constructor() {
    super();
    const pools = this.#pools.pools;
    this.gauge({
      name: "mking_pg_pool_connections",
      help: "Connections of this process's pg pools: total, idle, and clients waiting for one.",
      labelNames: ["pool", "state"],
      collect(family) {
        family.clear();
        for (const [pool, p] of pools) {
          family.series([pool, "total"]).set(p.totalCount);
          family.series([pool, "idle"]).set(p.idleCount);
          family.series([pool, "waiting"]).set(p.waitingCount);
        }
      },
    });
  }

  /** Reports `pool` as `name` until the returned function is called. */
  watchPool(name: string, pool: PoolCounts): () => void {
    return this.#pools.watch(name, pool);
  }
}

/** The metrics thread's registry, and the pools it hands the main thread to report. */
export class ThreadMetrics implements MetricsRegistry {
  readonly registry = new Registry();
  readonly #pools = new PoolWatch();

  /** Reports `pool` as `name` (through the main thread's gauge) until the function is called. */
  watchPool(name: string, pool: PoolCounts): () => void {
    return this.#pools.watch(name, pool);
  }

  /** The watched pools' counts now, by name. */
  poolCounts(): Record<string, PoolCounts> {
    return Object.fromEntries(
      [...this.#pools.pools].map(([name, p]) => [
        name,
        { totalCount: p.totalCount, idleCount: p.idleCount, waitingCount: p.waitingCount },
      ]),
    );
  }

  /** The Prometheus text exposition of everything registered. */
  render(): Promise<string> {
    return this.registry.metrics();
  }

  get contentType(): string {
    return this.registry.contentType;
  }
}
