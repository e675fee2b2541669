/**
 * `maintenance__reindex_bloated` (weekly, src/crontab): rebuilds with REINDEX INDEX CONCURRENTLY
 * every b-tree index `app_private.bloated_indexes` estimates to be at least INDEX_BLOAT_PERCENT
 * bloated and INDEX_BLOAT_MIN_MB large. Readers and writers are never blocked; the rebuild waits
 * for transactions already running. REINDEX CONCURRENTLY cannot run in a transaction block, so
 * each one is a statement of its own on one connection held for the job.
 *
 * First it drops what a failed rebuild left behind (invalid `*_ccnew` indexes). It does nothing
 * when another rebuild or index build is running in this database (another worker's run, or
 * someone's by hand): a session advisory lock and pg_stat_progress_create_index tell.
 */
import type { Task } from "graphile-worker";
import pg from "pg";

import type { TaskDependencies } from "./index.ts";

/** Arbitrary constant: the advisory lock key of the index rebuilds. */
export const REINDEX_LOCK_KEY = 7_302_146_512;

interface BloatedIndex {
  schema_name: string;
  index_name: string;
  table_name: string;
  index_bytes: string;
  expected_bytes: string;
  bloat_percent: string;
}

const qualified = (schema: string, name: string): string =>
  `${pg.escapeIdentifier(schema)}.${pg.escapeIdentifier(name)}`;

export function reindexBloated({ reindex }: TaskDependencies): Task {
  return async (_payload, helpers) => {
    const started = Date.now();
    const log = helpers.logger;
    await helpers.withPgClient(async (client) => {
      const { rows: lock } = await client.query<{ ok: boolean }>(
        `select pg_try_advisory_lock($1) as ok`,
        [REINDEX_LOCK_KEY],
      );
      if (!lock[0]?.ok) {
        log.info("maintenance__reindex_bloated done", { skipped: "another run holds the lock" });
        return;
      }
      try {
        const { rows: busy } = await client.query<{ n: number }>(
          `select count(*)::int as n from pg_stat_progress_create_index
            where datid = (select oid from pg_database where datname = current_database())
              and pid <> pg_backend_pid()`,
        );
        if ((busy[0]?.n ?? 0) > 0) {
          log.info("maintenance__reindex_bloated done", { skipped: "an index build is running" });
          return;
        }
        const { rows: leftovers } = await client.query<{ schema_name: string; index_name: string }>(
          `select schema_name, index_name from app_private.failed_reindex_leftovers()`,
        );
        for (const l of leftovers) {
          await client.query(
            `drop index concurrently if exists ${qualified(l.schema_name, l.index_name)}`,
          );
          log.warn("dropped an index a failed rebuild left behind", {
            index: `${l.schema_name}.${l.index_name}`,
          });
        }
        const { rows: bloated } = await client.query<BloatedIndex>(
          `select * from app_private.bloated_indexes($1, $2)`,
          [reindex.bloatPercent, reindex.minBytes],
        );
        const failed: string[] = [];
        for (const index of bloated) {
          const name = `${index.schema_name}.${index.index_name}`;
          const t0 = Date.now();
          try {
            await client.query(
              `reindex index concurrently ${qualified(index.schema_name, index.index_name)}`,
            );
          } catch (error) {
            failed.push(name);
            log.warn("index rebuild failed", { index: name, error });
            continue;
          }
          const { rows: after } = await client.query<{ bytes: string }>(
            `select pg_relation_size(to_regclass($1))::text as bytes`,
            [qualified(index.schema_name, index.index_name)],
          );
          log.info("index rebuilt", {
            index: name,
            table: index.table_name,
            estimatedBloatPercent: Number(index.bloat_percent),
            bytesBefore: Number(index.index_bytes),
            bytesAfter: Number(after[0]?.bytes ?? 0),
            ms: Date.now() - t0,
          });
        }
        log.info("maintenance__reindex_bloated done", {
          checked: "b-tree indexes",
          rebuilt: bloated.length - failed.length,
          failed: failed.length,
          leftoversDropped: leftovers.length,
          ms: Date.now() - started,
        });
        // retried later (the next run first drops what a failed rebuild left)
        if (failed.length > 0) throw new Error(`could not rebuild ${failed.join(", ")}`);
      } finally {
        await client.query(`select pg_advisory_unlock($1)`, [REINDEX_LOCK_KEY]);
      }
    });
  };
}
