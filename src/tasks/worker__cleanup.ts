/**
 * Housekeeping for graphile-worker's own tables: forgets job queues and task identifiers that
 * no job uses any more. Permanently failed jobs are kept for people to inspect, for
 * FAILED_JOB_RETENTION_DAYS (maintenance__purge_failed_jobs). Daily (src/crontab).
 */
import type { Task } from "graphile-worker";

import type { TaskDependencies } from "./index.ts";

export function workerCleanup({ workerUtils, taskIdentifiers }: TaskDependencies): Task {
  return async (_payload, helpers) => {
    const started = Date.now();
    await workerUtils.cleanup({
      tasks: ["GC_JOB_QUEUES", "GC_TASK_IDENTIFIERS"],
      taskIdentifiersToKeep: taskIdentifiers,
    });
    helpers.logger.info("worker cleanup done", { ms: Date.now() - started });
  };
}
