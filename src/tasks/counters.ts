/**
 * Denormalised counters, recomputed from the source rows (never `+ 1`), so a job that runs
 * twice, or after a crash, still leaves the right number:
 *
 * - `counters__recount` {table, id}: one row's counters, queued by triggers
 *   (app_private.enqueue_recount: one job per row per half second, another when a change
 *   commits while it runs); recounts of one row take turns, each counting once its turn came
 *   (app_private.recount; races pinned in test/tasks/countersRace.test.ts);
 * - `counters__verify_all`: every row of every counted table, in batches, nightly
 *   (src/crontab); logs how many rows had drifted.
 */
import type { Task } from "graphile-worker";

import type { TaskDependencies } from "./index.ts";

export const COUNTED_TABLES = ["posts", "comments", "groups", "events"] as const;
type CountedTable = (typeof COUNTED_TABLES)[number];

function assertRecountPayload(
  payload: unknown,
): asserts payload is { table: CountedTable; id: string } {
  const p = payload as { table?: unknown; id?: unknown } | null;
  if (!p || typeof p.id !== "string" || !COUNTED_TABLES.includes(p.table as CountedTable)) {
    throw new Error(`counters__recount: bad payload ${JSON.stringify(payload)}`);
  }
}

export function countersRecount(): Task {
  return async (payload, helpers) => {
    assertRecountPayload(payload);
    await helpers.query(`select app_private.recount($1, $2)`, [payload.table, payload.id]);
  };
}

export function countersVerifyAll({ batchSize }: Pick<TaskDependencies, "batchSize">): Task {
  return async (_payload, helpers) => {
    const started = Date.now();
    const fixed: Record<string, number> = {};
    for (const table of COUNTED_TABLES) {
      fixed[table] = 0;
      let after: string | null = null;
      do {
        // each batch its own transaction: short locks, progress kept if the job is interrupted
        const { rows }: { rows: { fixed: number; last_id: string | null }[] } = await helpers.query(
          `select fixed, last_id from app_private.recount_batch($1, $2, $3)`,
          [table, after, batchSize],
        );
        fixed[table] += rows[0]?.fixed ?? 0;
        after = rows[0]?.last_id ?? null;
      } while (after !== null);
    }
    const total = Object.values(fixed).reduce((a, b) => a + b, 0);
    const log =
      total > 0
        ? helpers.logger.warn.bind(helpers.logger)
        : helpers.logger.info.bind(helpers.logger);
    log(`counters__verify_all: ${total} rows had drifted and were repaired`, {
      fixed,
      ms: Date.now() - started,
    });
  };
}
