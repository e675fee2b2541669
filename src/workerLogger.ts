/** Routes graphile-worker's log messages, with their scope (worker, task, job), into our logger. */
import { Logger as WorkerLogger } from "graphile-worker";

import type { Logger } from "./log.ts";

export function workerLoggerFor(log: Logger): WorkerLogger {
  return new WorkerLogger((scope) => (level, message, meta) => {
    const fields = {
      component: "worker",
      ...(scope.workerId ? { workerId: scope.workerId } : {}),
      ...(scope.taskIdentifier ? { task: scope.taskIdentifier } : {}),
      ...(scope.jobId ? { jobId: scope.jobId } : {}),
      ...meta,
    };
    const severity = String(level);
    if (severity === "error") log.error(message, fields);
    else if (severity === "warning") log.warn(message, fields);
    else if (severity === "debug") log.debug(message, fields);
    else log.info(message, fields);
  });
}
