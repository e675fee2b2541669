/**
 * Worker metrics (names: src/metrics/registry.ts): the job queue's depth by task and
 * state (read from graphile_worker.jobs, so any process can report it), the worker pools alive,
 * and what the worker in this process has done since it started (jobs completed, failed
 * attempts, jobs given up, time spent).
 */
import type { WorkerEvents } from "graphile-worker";
import type pg from "pg";
import { Gauge } from "prom-client";

import type { Logger } from "./log.ts";
import type { MetricsRegistry, ProcessMetrics } from "./metrics/registry.ts";

/** Heartbeats a worker pool may miss before it counts as gone (src/worker.ts). */
export const MISSED_BEATS = 3;

export const QUEUE_STATES = ["ready", "scheduled", "running", "retrying", "failed"] as const;
export type QueueState = (typeof QUEUE_STATES)[number];

interface TaskTotals {
  completed: number;
  errored: number;
  givenUp: number;
  seconds: number;
}

/** Counts the jobs of one worker from its events. */
export class JobCounters {
  readonly #byTask = new Map<string, TaskTotals>();
  readonly #startedAt = new Map<string, number>();

  constructor(events: WorkerEvents) {
    events.on("job:start", ({ job }) => this.#startedAt.set(job.id, performance.now()));
    events.on("job:success", ({ job }) => this.#finish(job.id, job.task_identifier, "completed"));
    events.on("job:error", ({ job }) => this.#finish(job.id, job.task_identifier, "errored"));
    // job:failed follows job:error on the last attempt: the job will not be tried again
    events.on("job:failed", ({ job }) => (this.#totals(job.task_identifier).givenUp += 1));
  }

  #totals(task: string): TaskTotals {
    let totals = this.#byTask.get(task);
    if (!totals) {
      totals = { completed: 0, errored: 0, givenUp: 0, seconds: 0 };
      this.#byTask.set(task, totals);
    }
    return totals;
  }

  #finish(jobId: string, task: string, outcome: "completed" | "errored"): void {
    const totals = this.#totals(task);
    totals[outcome] += 1;
    const started = this.#startedAt.get(jobId);
    if (started !== undefined) {
      totals.seconds += (performance.now() - started) / 1000;
      this.#startedAt.delete(jobId);
    }
  }

  snapshot(): ReadonlyMap<string, Readonly<TaskTotals>> {
    return new Map([...this.#byTask].map(([task, totals]) => [task, { ...totals }]));
  }
}

export interface QueueDepth {
  task: string;
  state: QueueState;
  jobs: number;
}

export interface QueueSnapshot {
  depth: QueueDepth[];
  /** Age of the oldest job that is due but not taken (0 when none waits). */
  oldestReadySeconds: number;
  /** Worker pools that sent a heartbeat recently (src/worker.ts). */
  livePools: number;
}

/** Reads the queue's state in one round trip (graphile_worker.jobs is the supported view). */
export async function readQueue(pool: pg.Pool): Promise<QueueSnapshot> {
  const { rows } = await pool.query<{ depth: QueueDepth[] | null; oldest: number; pools: number }>(
    `with jobs as (
       select task_identifier,
              case
                when attempts >= max_attempts then 'failed'
                when locked_at is not null and locked_at > now() - interval '4 hours' then 'running'
                when run_at > now() then case when attempts > 0 then 'retrying' else 'scheduled' end
                else 'ready'
              end as state,
              run_at
         from graphile_worker.jobs
     )
     select (select json_agg(json_build_object('task', task_identifier, 'state', state, 'jobs', n))
               from (select task_identifier, state, count(*)::int as n
                       from jobs group by 1, 2 order by 1, 2) d) as depth,
            coalesce((select extract(epoch from now() - min(run_at))::float8
                        from jobs where state = 'ready'), 0) as oldest,
            (select count(*)::int from app_private.worker_instances
              where heartbeat_at > now() - $1 * heartbeat_interval) as pools`,
    [MISSED_BEATS],
  );
  const row = rows[0];
  return {
    depth: row?.depth ?? [],
    oldestReadySeconds: row?.oldest ?? 0,
    livePools: row?.pools ?? 0,
  };
}

/**
 * The queue's metrics (any process can report them: they are read from the database at each
 * scrape, once for the three gauges). A failed read leaves them empty and logs a warning.
 */
export function registerQueueMetrics(metrics: MetricsRegistry, pool: pg.Pool, log: Logger): void {
  let pending: Promise<QueueSnapshot | null> | null = null;
  const snapshot = (): Promise<QueueSnapshot | null> =>
    (pending ??= readQueue(pool)
      .catch((error: unknown) => {
        log.warn("metrics: cannot read the job queue", { error });
        return null;
      })
      .finally(() => (pending = null)));
  const registers = [metrics.registry];
  new Gauge({
    name: "mking_jobs",
    help: "Jobs in the queue by task and state (ready, scheduled, running, retrying, failed).",
    labelNames: ["task", "state"] as const,
    registers,
    async collect() {
      const queue = await snapshot();
      this.reset();
      for (const d of queue?.depth ?? []) this.set({ task: d.task, state: d.state }, d.jobs);
    },
  });
  new Gauge({
    name: "mking_jobs_oldest_ready_seconds",
    help: "Age of the oldest job that is due but not yet taken.",
    registers,
    async collect() {
      const queue = await snapshot();
      if (queue) this.set(Number(queue.oldestReadySeconds.toFixed(3)));
      else this.reset();
    },
  });
  new Gauge({
    name: "mking_worker_pools_alive",
    help: "Worker pools with a recent heartbeat.",
    registers,
    async collect() {
      const queue = await snapshot();
      if (queue) this.set(queue.livePools);
      else this.reset();
    },
  });
}

/** What the worker running in this process has done since it started (read at each scrape). */
export function registerWorkerCounters(metrics: ProcessMetrics, counters: JobCounters): void {
  const counter = (name: string, help: string, pick: (t: TaskTotals) => number): void => {
    metrics.counter({
      name,
      help,
      labelNames: ["task"],
      collect(family) {
        for (const [task, totals] of counters.snapshot()) family.series([task]).set(pick(totals));
      },
    });
  };
  counter("mking_worker_jobs_completed_total", "Jobs this process completed.", (t) => t.completed);
  counter(
    "mking_worker_job_errors_total",
    "Job attempts that threw in this process (retried unless given up).",
    (t) => t.errored,
  );
  counter(
    "mking_worker_jobs_given_up_total",
    "Jobs that failed their last attempt in this process.",
    (t) => t.givenUp,
  );
  counter("mking_worker_job_seconds_total", "Time this process spent running jobs.", (t) =>
    Number(t.seconds.toFixed(6)),
  );
}
