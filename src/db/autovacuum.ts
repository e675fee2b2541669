/**
 * Autovacuum settings for graphile-worker's queue table, applied by the migrate step after
 * graphile-worker's own migrations (idempotent: nothing is altered when they are in place).
 * They live here rather than in migrations/: graphile-worker owns its schema and has recreated
 * its jobs table in past upgrades, which would silently drop settings a migration made once.
 * The app tables' settings are in the migrations (section "maintenance and retention").
 *
 * The queue is small (a few thousand rows at the benchmark's worst backlog) but churns through
 * everything: under the benchmark's mutation load ~320 jobs/s, each inserted, locked (an update)
 * and deleted, so ~1000 dead rows/s. Dead rows in `jobs_main_index` are what slows the
 * next-job query of a busy queue. A percentage means nothing for a table whose size swings from 0
 * to a backlog, so every threshold is a fixed row count (scale factor 0): vacuum after 500 dead
 * rows, i.e. at every autovacuum round (autovacuum_naptime) while jobs flow, analyze after 1000
 * changes, and never throttle the vacuum of this small table (cost delay 0).
 */
import type pg from "pg";

import type { Logger } from "../log.ts";

/** graphile-worker 0.18's table behind the `graphile_worker.jobs` view. */
export const WORKER_QUEUE_TABLE = "graphile_worker._private_jobs";

export const WORKER_QUEUE_AUTOVACUUM: Readonly<Record<string, string>> = {
  autovacuum_vacuum_scale_factor: "0",
  autovacuum_vacuum_threshold: "500",
  autovacuum_vacuum_insert_scale_factor: "0",
  autovacuum_vacuum_insert_threshold: "1000",
  autovacuum_analyze_scale_factor: "0",
  autovacuum_analyze_threshold: "1000",
  autovacuum_vacuum_cost_delay: "0",
};

/** Applies WORKER_QUEUE_AUTOVACUUM when missing; returns whether it altered the table. */
export async function tuneWorkerQueue(client: pg.ClientBase, log: Logger): Promise<boolean> {
  const { rows } = await client.query<{ reloptions: string[] | null }>(
    `select c.reloptions from pg_class c where c.oid = to_regclass($1)`,
    [WORKER_QUEUE_TABLE],
  );
  const table = rows[0];
  if (!table) {
    log.warn("graphile-worker's queue table is not where expected; its autovacuum is not tuned", {
      table: WORKER_QUEUE_TABLE,
    });
    return false;
  }
  const have = new Set(table.reloptions ?? []);
  const want = Object.entries(WORKER_QUEUE_AUTOVACUUM).map(([key, value]) => `${key}=${value}`);
  if (want.every((option) => have.has(option))) return false;
  await client.query(`alter table ${WORKER_QUEUE_TABLE} set (${want.join(", ")})`);
  return true;
}
