/**
 * Routes graphile-worker's log messages into our logger as structured fields: the scope
 * (worker, task, job) and, for job messages, task, jobId, attempt, maxAttempts, queue and
 * durationMs instead of the whole job row (whose payload may hold personal data).
 */
import { Logger as WorkerLogger, type LogFunctionFactory } from "graphile-worker";

import type { LogFields, Logger } from "./log.ts";

type LogScope = Parameters<LogFunctionFactory>[0];

interface JobLike {
  id: string;
  task_identifier: string;
  attempts: number;
  max_attempts: number;
  queue_name?: string | null;
}

function isJob(value: unknown): value is JobLike {
  const j = value as Partial<JobLike> | null;
  return (
    !!j &&
    typeof j.id === "string" &&
    typeof j.task_identifier === "string" &&
    typeof j.attempts === "number"
  );
}

/** Our fields for one graphile-worker message. */
export function workerLogFields(
  scope: LogScope,
  meta: Record<string, unknown> | undefined,
): LogFields {
  const { job, duration, error, ...rest } = meta ?? {};
  return {
    component: "worker",
    ...(scope.workerId ? { workerId: scope.workerId } : {}),
    ...(scope.taskIdentifier ? { task: scope.taskIdentifier } : {}),
    ...(scope.jobId ? { jobId: scope.jobId } : {}),
    ...(isJob(job)
      ? {
          task: job.task_identifier,
          jobId: job.id,
          attempt: job.attempts,
          maxAttempts: job.max_attempts,
          ...(job.queue_name ? { queue: job.queue_name } : {}),
        }
      : {}),
    ...(typeof duration === "number" ? { durationMs: Math.round(duration * 100) / 100 } : {}),
    ...(error !== undefined
      ? { error: error instanceof Error ? error.message : String(error) }
      : {}),
    ...(error instanceof Error && error.stack ? { stack: error.stack } : {}),
    ...rest,
  };
}

export function workerLoggerFor(log: Logger): WorkerLogger {
  return new WorkerLogger((scope) => (level, message, meta) => {
    const fields = workerLogFields(scope, meta);
    // graphile-worker appends the stack to failure messages; keep the first line as the message
    const text = fields.error !== undefined ? (message.split("\n")[0] ?? message) : message;
    const severity = String(level);
    if (severity === "error") log.error(text, fields);
    else if (severity === "warning") log.warn(text, fields);
    else if (severity === "debug") log.debug(text, fields);
    else log.info(text, fields);
  });
}
