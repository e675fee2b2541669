/**
 * The background worker: graphile-worker running src/tasks/ and src/crontab against the same
 * database, as the owner role (tasks maintain counters and notifications across users, so
 * they are not subject to the API's row-level security).
 */
import { readFile } from "node:fs/promises";
import path from "node:path";

import {
  makeWorkerUtils,
  run,
  type Runner,
  type TaskList,
  type WorkerUtils,
} from "graphile-worker";
import pg from "pg";

import type { Config } from "./config.ts";
import type { Logger } from "./log.ts";
import { outboxTransport } from "./mail/transport.ts";
import { makeTaskList, type TaskDependencies } from "./tasks/index.ts";
import { workerLoggerFor } from "./workerLogger.ts";

export const CRONTAB_PATH = new URL("./crontab", import.meta.url);

/** The mail settings tasks use: the development outbox under DATA_DIR (SMTP comes later). */
export function mailFor(config: Config): TaskDependencies["mail"] {
  return {
    transport: outboxTransport(path.join(config.dataDir, "outbox")),
    from: config.mail.from,
    appUrl: config.mail.appUrl,
  };
}

export interface WorkerOptions {
  ownerUrl: string;
  concurrency: number;
  pollIntervalMs: number;
  log: Logger;
  mail: TaskDependencies["mail"];
  /** Tasks in addition to src/tasks (same identifier: replaces it). */
  extraTasks?: TaskList;
}

export interface Worker {
  readonly runner: Runner;
  readonly workerUtils: WorkerUtils;
  /** Stops taking jobs, lets running jobs finish, then releases connections. */
  stop(): Promise<void>;
}

export async function startWorker(options: WorkerOptions): Promise<Worker> {
  const log = options.log.child({ component: "worker" });
  const pgPool = new pg.Pool({
    connectionString: options.ownerUrl,
    max: options.concurrency + 2,
    application_name: "mking-friend-worker",
  });
  pgPool.on("error", (error) => log.warn("idle worker connection failed", { error }));
  pgPool.on("connect", (client) => {
    client.on("error", (error) => log.warn("worker connection failed", { error }));
  });
  const logger = workerLoggerFor(log);
  const workerUtils = await makeWorkerUtils({ pgPool, logger });
  let runner: Runner;
  try {
    runner = await run({
      pgPool,
      logger,
      concurrency: options.concurrency,
      pollInterval: options.pollIntervalMs,
      noHandleSignals: true,
      // Batched (delay 0) completion and failure writes are flushed by stop(); unbatched ones
      // are fire-and-forget and could be lost when the pool closes right after a job finishes.
      preset: { worker: { completeJobBatchDelay: 0, failJobBatchDelay: 0 } },
      taskList: {
        ...makeTaskList({ workerUtils, log, mail: options.mail }),
        ...options.extraTasks,
      },
      crontab: await readFile(CRONTAB_PATH, "utf8"),
    });
  } catch (error) {
    await workerUtils.release();
    await pgPool.end();
    throw error;
  }
  log.info("worker started", { concurrency: options.concurrency });

  let stopping: Promise<void> | null = null;
  return {
    runner,
    workerUtils,
    stop: () =>
      (stopping ??= (async () => {
        await runner.stop("shutting down");
        await workerUtils.release();
        await pgPool.end();
        log.info("worker stopped");
      })()),
  };
}
