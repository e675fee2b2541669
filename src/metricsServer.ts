/**
 * The metrics endpoint (METRICS_PORT): `GET /metrics` in the Prometheus text format (this
 * process's registry: src/metrics/registry.ts lists every name), `GET /healthz` (200 when the
 * database answers, the main thread answers and, if a worker runs in this process, its heartbeat
 * is recent) and `GET /debug/statements` (the SQL statements that took the most time, JSON; needs
 * pg_stat_statements: src/db/statements.ts). Meant for a scraper on the private network, not for
 * the internet.
 *
 * The endpoint runs on a thread of its own (src/metrics/thread.ts: the HTTP server, the job
 * queue's gauges, the database collector, their pg pools, and the render); this side keeps the
 * registry the request path records into (in shared memory the thread reads:
 * src/metrics/shared.ts), tells the thread of its new series, sets the few values read at a
 * scrape when the thread asks, and starts the thread again if it ever stops.
 */
import { Worker } from "node:worker_threads";

import type { Logger } from "./log.ts";
import { registerWorkerCounters, type JobCounters } from "./metrics.ts";
import { ProcessMetrics, type PoolCounts } from "./metrics/registry.ts";
import type { ThreadData, ThreadSettings } from "./metrics/thread.ts";
import {
  Channel,
  type Handlers,
  type MainEvent,
  type MainProtocol,
  type ThreadEvent,
  type ThreadProtocol,
} from "./metrics/threadChannel.ts";

export interface MetricsServerOptions {
  host: string;
  port: number;
  ownerUrl: string;
  heartbeatMs: number;
  log: Logger;
  /** The worker running in this process, if any. */
  worker: { counters: JobCounters; lastHeartbeatAt(): number | null } | null;
  /** This process's registry (the API's and the worker's metrics); default: a new one. */
  metrics?: ProcessMetrics;
  /**
   * How long a scrape or health check waits for the main thread (busy, or stuck) before
   * answering 503; default 5 s.
   */
  mainThreadTimeoutMs?: number;
  /** Database metrics (src/metrics/database.ts); default: on, collected every 15 s. */
  database?: {
    intervalMs?: number;
    /** The embedded server's data folder (free disk); null for a remote server. */
    dataDir?: string | null;
    /** Runs on the main thread, when the metrics thread collects. */
    lastBackupAt?: () => Promise<Date | null>;
  } | null;
}

export interface MetricsServer {
  readonly url: string;
  readonly metrics: ProcessMetrics;
  /** The database collector, when on (tests collect on demand). */
  readonly database: { collect(): Promise<void> } | null;
  /** The metrics thread now (tests, diagnostics); a new one after a restart. */
  readonly thread: Worker;
  close(): Promise<void>;
}

/** How long a collection asked for by a test may take. */
const COLLECT_TIMEOUT_MS = 60_000;
/** How long the thread may take to close its server and connections. */
const CLOSE_TIMEOUT_MS = 10_000;
/** The wait before a stopped metrics thread is started again. */
const RESTART_DELAY_MS = 1_000;

type ThreadChannel = Channel<ThreadProtocol, MainProtocol, ThreadEvent, MainEvent>;

interface RunningThread {
  worker: Worker;
  channel: ThreadChannel;
  port: number;
}

class ThreadStartError extends Error {
  readonly code: string | undefined;
  constructor(message: string, code: string | null) {
    super(message);
    this.name = "ThreadStartError";
    this.code = code ?? undefined;
  }
}

/** Starts the thread; resolves once its server listens, rejects if it cannot. */
async function startThread(
  settings: ThreadSettings,
  metrics: ProcessMetrics,
  handlers: Handlers<MainProtocol>,
  log: Logger,
): Promise<RunningThread> {
  const data: ThreadData = { settings, shared: metrics.snapshot() };
  const worker = new Worker(new URL("./metrics/thread.ts", import.meta.url), {
    workerData: data,
    name: "metrics",
  });
  const started = Promise.withResolvers<number>();
  const channel: ThreadChannel = new Channel(worker, handlers, (event) => {
    if (event.kind === "log") log[event.level](event.message, event.fields);
    else if (event.kind === "listening") started.resolve(event.port);
    else started.reject(new ThreadStartError(`metrics endpoint: ${event.message}`, event.code));
  });
  // in the same turn as the snapshot: the thread misses no family or series
  const unsubscribe = metrics.subscribe((announcement) =>
    channel.emit({ kind: "shared", announcement }),
  );
  worker.once("exit", unsubscribe);
  // an exception the thread did not catch: logged here (unhandled, it would end the process);
  // the thread then exits, and is started again (below)
  worker.on("error", (error) =>
    log.error("the metrics thread failed", { component: "metrics", error }),
  );
  const exited = (code: number): void =>
    started.reject(new Error(`the metrics thread exited (code ${code}) before it listened`));
  worker.once("exit", exited);
  try {
    const port = await started.promise;
    worker.off("exit", exited);
    return { worker, channel, port };
  } catch (error) {
    channel.close(error as Error);
    await worker.terminate();
    throw error;
  }
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const { log } = options;
  const metrics = options.metrics ?? new ProcessMetrics();
  if (options.worker) registerWorkerCounters(metrics, options.worker.counters);

  // the thread's pools, reported by this registry (one mking_pg_pool_connections family)
  const threadPools = new Map<
    string,
    { totalCount: number; idleCount: number; waitingCount: number }
  >();
  const unwatch: (() => void)[] = [];
  const reportPools = (pools: Record<string, PoolCounts>): void => {
    for (const [name, counts] of Object.entries(pools)) {
      const held = threadPools.get(name);
      if (held) Object.assign(held, counts);
      else {
        const copy = { ...counts };
        threadPools.set(name, copy);
        unwatch.push(metrics.watchPool(name, copy));
      }
    }
  };
  const lastBackupAt = options.database?.lastBackupAt;
  const handlers: Handlers<MainProtocol> = {
    refresh: ({ pools }) => {
      reportPools(pools);
      metrics.collect();
      return null;
    },
    heartbeat: () => options.worker?.lastHeartbeatAt() ?? null,
    lastBackupAt: async () => (lastBackupAt ? ((await lastBackupAt())?.getTime() ?? null) : null),
  };
  const settings: ThreadSettings = {
    host: options.host,
    port: options.port,
    ownerUrl: options.ownerUrl,
    heartbeatMs: options.heartbeatMs,
    mainThreadTimeoutMs: options.mainThreadTimeoutMs ?? 5_000,
    worker: options.worker !== null,
    database:
      options.database === null
        ? null
        : {
            intervalMs: options.database?.intervalMs,
            dataDir: options.database?.dataDir,
            lastBackup: lastBackupAt !== undefined,
          },
  };

  let current = await startThread(settings, metrics, handlers, log);
  let closed = false;
  // A thread that stops on its own (a crash) is started again on the port it had.
  const watch = (thread: RunningThread): void => {
    thread.worker.once("exit", (code) => {
      thread.channel.close(new Error("the metrics thread stopped"));
      if (closed) return;
      log.error("the metrics thread stopped; starting it again", {
        component: "metrics",
        code,
        ms: RESTART_DELAY_MS,
      });
      const restart = (): void => {
        if (closed) return;
        startThread({ ...settings, port: thread.port }, metrics, handlers, log).then(
          (next) => {
            if (closed) {
              void next.channel
                .request("close", {}, CLOSE_TIMEOUT_MS)
                .finally(() => next.worker.terminate());
              return;
            }
            current = next;
            watch(next);
            log.info("the metrics thread is back", { component: "metrics" });
          },
          (error: unknown) => {
            log.error("cannot start the metrics thread again; retrying", {
              component: "metrics",
              error,
            });
            setTimeout(restart, RESTART_DELAY_MS * 5).unref();
          },
        );
      };
      setTimeout(restart, RESTART_DELAY_MS).unref();
    });
  };
  watch(current);

  const url = `http://${options.host.includes(":") ? `[${options.host}]` : options.host}:${current.port}`;
  log.info(`metrics at ${url}/metrics`, { component: "metrics" });
  return {
    url,
    metrics,
    database:
      options.database === null
        ? null
        : {
            async collect() {
              await current.channel.request("collect", {}, COLLECT_TIMEOUT_MS);
            },
          },
    get thread() {
      return current.worker;
    },
    async close() {
      if (closed) return;
      closed = true;
      const { worker, channel } = current;
      // a thread that stopped (and is not back yet) has nothing left to close
      if (!channel.closed) {
        try {
          await channel.request("close", {}, CLOSE_TIMEOUT_MS);
        } catch (error) {
          log.warn("the metrics thread did not close cleanly", { component: "metrics", error });
        }
      }
      await worker.terminate();
      for (const u of unwatch) u();
    },
  };
}
