/**
 * The read replicas' metrics (src/db/readReplicas.ts, src/db/replicaRouting.ts), per API process:
 *
 * - mking_db_read_replica_lag_seconds{replica}   gauge (as this process measures it; absent
 *     while unknown, e.g. unreachable)
 * - mking_db_read_replica_in_rotation{replica}   gauge (1 in rotation, 0 out)
 * - mking_db_reads_routed_total{target}   counter (target: primary|replica; one per query
 *     operation that reads the database, counted when it first does)
 *
 * `replica` is host:port. The lag the primary reports for its standbys stays
 * mking_db_replication_lag_seconds{standby} (src/metrics/database.ts).
 */
import type { ReadReplicas } from "../db/readReplicas.ts";
import type { ReadTarget } from "../db/replicaRouting.ts";
import type { ProcessMetrics } from "./registry.ts";

const NAMES = [
  "mking_db_read_replica_lag_seconds",
  "mking_db_read_replica_in_rotation",
  "mking_db_reads_routed_total",
] as const;

export interface ReplicaMetrics {
  /** Count one routed query operation. */
  routed(target: ReadTarget): void;
  /** Stops reporting (the pools' watches and the gauges' collection). */
  unregister(): void;
}

export function replicaMetrics(metrics: ProcessMetrics, replicas: ReadReplicas): ReplicaMetrics {
  metrics.gauge({
    name: NAMES[0],
    help: "How far each read replica is behind the primary, as this API process measures it.",
    labelNames: ["replica"],
    collect(family) {
      family.clear();
      for (const r of replicas.replicas) {
        if (r.lagMs !== null) family.series([r.name]).set(r.lagMs / 1000);
      }
    },
  });
  metrics.gauge({
    name: NAMES[1],
    help: "1 while the read replica serves reads, 0 while it is out (lag, unreachable, promoted).",
    labelNames: ["replica"],
    collect(family) {
      for (const r of replicas.replicas) family.series([r.name]).set(r.inRotation ? 1 : 0);
    },
  });
  const routed = metrics.counter({
    name: NAMES[2],
    help: "GraphQL query operations by the server that ran them: primary or replica.",
    labelNames: ["target"],
  });
  const unwatch = replicas.replicas.map((r, i) => metrics.watchPool(`api_read_${i}`, r.pool));
  return {
    routed: (target) => routed.series([target]).inc(),
    unregister() {
      for (const u of unwatch) u();
      for (const name of NAMES) metrics.remove(name);
    },
  };
}
