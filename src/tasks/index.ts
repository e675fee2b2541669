/**
 * The worker's task list: task identifier → handler. Identifiers follow `<table>__<action>`
 * (or `<area>__<action>`); jobs are queued by triggers with `graphile_worker.add_job(...)`, by
 * src/crontab, or by plugins.
 */
import type { TaskList, WorkerUtils } from "graphile-worker";

import type { Logger } from "../log.ts";
import type { MailTransport } from "../mail/transport.ts";
import { sendEmail } from "./send_email.ts";
import { workerCleanup } from "./worker__cleanup.ts";

/** What tasks may use beyond graphile-worker's job helpers. */
export interface TaskDependencies {
  workerUtils: WorkerUtils;
  log: Logger;
  mail: { transport: MailTransport; from: string; appUrl: string };
  /** Every identifier in the task list (for cleanup: identifiers to keep). */
  taskIdentifiers: readonly string[];
}

const FACTORIES = {
  send_email: sendEmail,
  worker__cleanup: workerCleanup,
} as const;

export const TASK_IDENTIFIERS = Object.keys(FACTORIES) as (keyof typeof FACTORIES)[];

export function makeTaskList(deps: Omit<TaskDependencies, "taskIdentifiers">): TaskList {
  const full: TaskDependencies = { ...deps, taskIdentifiers: TASK_IDENTIFIERS };
  return Object.fromEntries(TASK_IDENTIFIERS.map((id) => [id, FACTORIES[id](full)]));
}
