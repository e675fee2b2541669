/**
 * The background worker: graphile-worker running src/tasks/ and src/crontab against the same
 * database, as the owner role (tasks maintain counters and notifications across users, so
 * they are not subject to the API's row-level security).
 *
 * Each worker pool beats a heartbeat into app_private.worker_instances. A pool silent for
 * three beats (its process was killed, its host lost) has its locked jobs handed back to the
 * queue by the pools still alive, within seconds instead of graphile-worker's 4-hour default;
 * so has a pool that locked jobs and was killed before its first beat was on record.
 */
import { EventEmitter } from "node:events";
import { readFile } from "node:fs/promises";
import { hostname } from "node:os";
import path from "node:path";

import {
  makeWorkerUtils,
  run,
  type Runner,
  type TaskList,
  type WorkerEvents,
  type WorkerUtils,
} from "graphile-worker";
import pg from "pg";

import type { Config } from "./config.ts";
import {
  ListenDirectPool,
  throughPooler,
  UnnamedStatementsClient,
  withSessionTasksOn,
} from "./db/pooler.ts";
import type { Logger } from "./log.ts";
import { outboxTransport, smtpTransport } from "./mail/transport.ts";
import { JobCounters, MISSED_BEATS } from "./metrics.ts";
import type { ProcessMetrics } from "./metrics/registry.ts";
import { makeTaskList, type TaskDependencies } from "./tasks/index.ts";
import { workerLoggerFor } from "./workerLogger.ts";

export const CRONTAB_PATH = new URL("./crontab", import.meta.url);
/** Rows per transaction in batch jobs (counter verification). */
export const DEFAULT_BATCH_SIZE = 500;

/** The mail settings tasks use: SMTP when SMTP_URL is set, else the outbox under DATA_DIR. */
export function mailFor(config: Config, log: Logger): TaskDependencies["mail"] {
  const outbox = path.join(config.dataDir, "outbox");
  if (!config.mail.smtpUrl) log.info("e-mails are written to the development outbox", { outbox });
  return {
    transport: config.mail.smtpUrl ? smtpTransport(config.mail.smtpUrl) : outboxTransport(outbox),
    from: config.mail.from,
    appUrl: config.mail.appUrl,
    outboxDir: config.mail.smtpUrl ? null : outbox,
  };
}

/** Retention and reindex settings a caller leaves out (the service passes the configuration's). */
export const DEFAULT_RETENTION = {
  auditLogDays: 365,
  emailDeliveryDays: 90,
  failedJobDays: 30,
  outboxDays: 7,
} as const;
export const DEFAULT_REINDEX: TaskDependencies["reindex"] = {
  bloatPercent: 50,
  minBytes: 10 * 1024 * 1024,
};

export interface WorkerOptions {
  ownerUrl: string;
  concurrency: number;
  pollIntervalMs: number;
  heartbeatMs: number;
  /** Run the schedule of src/crontab (WORKER_CRON); default true. */
  cron?: boolean;
  log: Logger;
  mail: TaskDependencies["mail"];
  retention: Pick<TaskDependencies["retention"], "deletedContentDays" | "readNotificationDays"> &
    Partial<TaskDependencies["retention"]>;
  /** Default: DEFAULT_REINDEX. */
  reindex?: TaskDependencies["reindex"];
  /** The embedded server's backups (src/tasks/backups.ts); absent with DATABASE_URL. */
  backups?: TaskDependencies["backups"];
  batchSize?: number;
  /** This process's metrics registry: reports the worker's pg pool (METRICS_PORT set). */
  metrics?: ProcessMetrics | null;
  /** Where data export archives go and how long their links work (src/tasks/data_export.ts). */
  dataExport?: TaskDependencies["dataExport"];
  /** Media processing: storage and limits (src/media/process/settings.ts). */
  media?: TaskDependencies["media"];
  /** Tasks in addition to src/tasks (same identifier: replaces it). */
  extraTasks?: TaskList;
  /** DATABASE_POOLER_URL: the jobs' queries go through this pooler (src/db/pooler.ts). */
  poolerUrl?: string | null;
}

export interface Worker {
  readonly runner: Runner;
  readonly workerUtils: WorkerUtils;
  /** graphile-worker's pool id (app_private.worker_instances.id). */
  readonly poolId: string;
  readonly counters: JobCounters;
  /** When the last heartbeat reached the database (ms since epoch), null before the first. */
  lastHeartbeatAt(): number | null;
  /** Stops taking jobs, lets running jobs finish, then releases connections. */
  stop(): Promise<void>;
}

export async function startWorker(options: WorkerOptions): Promise<Worker> {
  const log = options.log.child({ component: "worker" });
  // Through the pooler (DATABASE_POOLER_URL) the jobs' queries go to PgBouncer, and what needs
  // a session (graphile-worker's LISTEN, SESSION_TASKS) to a small direct pool: src/db/pooler.ts.
  const poolerUrl = options.poolerUrl ?? null;
  const sessionPool =
    poolerUrl === null
      ? null
      : new pg.Pool({
          connectionString: options.ownerUrl,
          max: 2,
          application_name: "mking-friend-worker-session",
        });
  sessionPool?.on("error", (error) => log.warn("idle worker session connection failed", { error }));
  const poolConfig = { max: options.concurrency + 2, application_name: "mking-friend-worker" };
  const pgPool =
    poolerUrl === null || sessionPool === null
      ? new pg.Pool({ connectionString: options.ownerUrl, ...poolConfig })
      : new ListenDirectPool(
          {
            connectionString: throughPooler(poolerUrl, options.ownerUrl),
            Client: UnnamedStatementsClient,
            ...poolConfig,
          },
          sessionPool,
        );
  pgPool.on("error", (error) => log.warn("idle worker connection failed", { error }));
  pgPool.on("connect", (client) => {
    client.on("error", (error) => log.warn("worker connection failed", { error }));
  });
  const unwatchPool = options.metrics?.watchPool("worker", pgPool);
  const logger = workerLoggerFor(log);
  const workerUtils = await makeWorkerUtils({ pgPool, logger });

  // The pool id (what its jobs are locked by) is only known from an event run() emits.
  const events: WorkerEvents = new EventEmitter();
  const counters = new JobCounters(events);
  let poolId: string | null = null;
  events.on("pool:create", ({ workerPool }) => (poolId = workerPool.id));

  const startRunner = (): Promise<Runner> =>
    run({
      pgPool,
      logger,
      events,
      concurrency: options.concurrency,
      pollInterval: options.pollIntervalMs,
      noHandleSignals: true,
      // Batched (delay 0) completion and failure writes are flushed by stop(); unbatched ones
      // are fire-and-forget and could be lost when the pool closes right after a job finishes.
      preset: {
        worker: {
          completeJobBatchDelay: 0,
          failJobBatchDelay: 0,
          // named statements do not survive transaction pooling (src/db/pooler.ts)
          preparedStatements: poolerUrl === null,
        },
      },
      taskList: onSessionPool({
        ...makeTaskList({
          workerUtils,
          log,
          mail: options.mail,
          retention: { ...DEFAULT_RETENTION, ...options.retention },
          reindex: options.reindex ?? DEFAULT_REINDEX,
          backups: options.backups ?? null,
          dataExport: options.dataExport ?? null,
          media: options.media ?? null,
          batchSize: options.batchSize ?? DEFAULT_BATCH_SIZE,
        }),
        ...options.extraTasks,
      }),
      crontab,
    });
  const onSessionPool = (tasks: TaskList): TaskList =>
    sessionPool === null ? tasks : withSessionTasksOn(tasks, sessionPool);
  // without the schedule (WORKER_CRON=false: e.g. a benchmark's worker, whose data set a
  // nightly purge would change mid-run) the worker still runs every job it is given
  const crontab = options.cron === false ? "" : await readFile(CRONTAB_PATH, "utf8");
  let runner: Runner;
  try {
    runner = await startRunner();
  } catch (error) {
    await workerUtils.release();
    await pgPool.end();
    throw error;
  }
  if (!poolId) throw new Error("graphile-worker did not announce its pool (pool:create)");
  // the pool beating now (a runner started again after a lost connection has a new id)
  const currentId = (): string => poolId!;

  let lastBeat: number | null = null;
  let beats = 0;
  const heartbeat = async (): Promise<void> => {
    await pgPool.query(
      `select app_private.worker_heartbeat($1, $2, $3, make_interval(secs => $4::float8 / 1000))`,
      [currentId(), hostname(), process.pid, options.heartbeatMs],
    );
    lastBeat = Date.now();
    await reclaimFromSilentPools(pgPool, workerUtils, log);
    // this one reads the whole queue (no index on locked_by): every MISSED_BEATS beats is enough
    if (beats++ % MISSED_BEATS === 0) {
      await reclaimFromUnannouncedPools(pgPool, workerUtils, log, options.heartbeatMs);
    }
  };
  let beating: Promise<void> = Promise.resolve();
  const beat = (): Promise<void> =>
    (beating = beating
      .then(heartbeat)
      .catch((error: unknown) => log.warn("worker heartbeat failed", { error })));
  await beat();
  const timer = setInterval(() => void beat(), options.heartbeatMs);
  timer.unref();

  log.info("worker started", { concurrency: options.concurrency, poolId: currentId() });

  let stopping: Promise<void> | null = null;
  /**
   * graphile-worker stops a runner for good when a connection it relies on breaks (PostgreSQL
   * restarted): found by the chaos soak (soak/), the worker then took no more jobs and, with
   * nothing left to keep Node busy, exited with code 0. A new runner is started instead, with
   * back-off until the database answers again; the jobs the old pool held go back to the queue
   * once its heartbeat is silent (reclaimFromSilentPools).
   */
  const supervise = (watched: Runner): void => {
    void watched.promise
      .catch(() => undefined)
      .then(async () => {
        if (stopping || watched !== runner) return;
        log.error("the worker's runner stopped by itself; starting a new one", {
          poolId: currentId(),
        });
        for (let attempt = 0; !stopping; attempt += 1) {
          await new Promise((resolve) => setTimeout(resolve, Math.min(10_000, 250 * 2 ** attempt)));
          if (stopping) return;
          try {
            const next = await startRunner();
            if (stopping) {
              await next.stop("shutting down");
              return;
            }
            runner = next;
            supervise(next);
            // the new pool already takes jobs: on record at once, not at the next beat
            void beat();
            log.info("worker runner started again", { poolId: currentId(), attempt: attempt + 1 });
            return;
          } catch (error) {
            log.warn("the worker's runner could not start yet", { error, attempt: attempt + 1 });
          }
        }
      });
  };
  supervise(runner);
  return {
    get runner() {
      return runner;
    },
    workerUtils,
    get poolId() {
      return currentId();
    },
    counters,
    lastHeartbeatAt: () => lastBeat,
    stop: () =>
      (stopping ??= (async () => {
        // a runner that stopped by itself (see supervise) has nothing left to stop
        await runner
          .stop("shutting down")
          .catch((error: unknown) =>
            log.warn("the worker's runner was already stopped", { error }),
          );
        clearInterval(timer);
        await beating;
        await pgPool
          .query(`delete from app_private.worker_instances where id = $1`, [currentId()])
          .catch((error: unknown) => log.warn("could not deregister the worker pool", { error }));
        await workerUtils.release();
        unwatchPool?.();
        await pgPool.end();
        log.info("worker stopped");
      })()),
  };
}

/**
 * Hands back the jobs locked by pools that never had a heartbeat on record, once the locks are
 * MISSED_BEATS beats old (of the slowest pool on record, and at least of this one): graphile-worker
 * takes jobs as soon as a pool exists, so a process killed before its first beat reached the
 * database left locks under an id nobody knew (found by the chaos soak).
 */
async function reclaimFromUnannouncedPools(
  pgPool: pg.Pool,
  workerUtils: WorkerUtils,
  log: Logger,
  heartbeatMs: number,
): Promise<void> {
  const { rows } = await pgPool.query<{ pool_id: string; jobs: number }>(
    `select u.pool_id,
            (select count(*)::int from graphile_worker.jobs j where j.locked_by = u.pool_id) as jobs
       from app_private.unannounced_worker_pools($1, make_interval(secs => $2::float8 / 1000)) u(pool_id)`,
    [MISSED_BEATS, heartbeatMs],
  );
  if (rows.length === 0) return;
  await workerUtils.forceUnlockWorkers(rows.map((r) => r.pool_id));
  for (const stale of rows) {
    log.warn("a worker pool that never beat holds jobs; they go back to the queue", {
      unannouncedPool: stale.pool_id,
      jobsReclaimed: stale.jobs,
    });
  }
}

/**
 * Hands the jobs locked by pools that missed MISSED_BEATS of their own heartbeats back to the
 * queue (each pool is judged by the interval it announced, so differently configured pools can
 * share a database).
 */
async function reclaimFromSilentPools(
  pgPool: pg.Pool,
  workerUtils: WorkerUtils,
  log: Logger,
): Promise<void> {
  const { rows } = await pgPool.query<{ pool_id: string; jobs: number }>(
    `select s.pool_id,
            (select count(*)::int from graphile_worker.jobs j where j.locked_by = s.pool_id) as jobs
       from app_private.silent_worker_pools($1) s(pool_id)`,
    [MISSED_BEATS],
  );
  for (const stale of rows) {
    await workerUtils.forceUnlockWorkers([stale.pool_id]);
    // unless it came back meanwhile
    await pgPool.query(
      `delete from app_private.worker_instances
        where id = $1 and id in (select app_private.silent_worker_pools($2))`,
      [stale.pool_id, MISSED_BEATS],
    );
    log.warn("a worker pool stopped beating; its jobs go back to the queue", {
      silentPool: stale.pool_id,
      jobsReclaimed: stale.jobs,
    });
  }
}
