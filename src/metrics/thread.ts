/**
 * The metrics thread: everything the metrics endpoint does with sockets and the database runs
 * here, on a `worker_threads` thread of its own (started by src/metricsServer.ts): the HTTP
 * server on METRICS_PORT, the job queue's gauges, the database collector and
 * /debug/statements, with their own pg pools and registry. The main thread's metrics are read
 * from shared memory (src/metrics/shared.ts) and rendered here; the main thread is asked, by
 * message (src/metrics/threadChannel.ts), to set the few values only it can read at each scrape,
 * for the worker's heartbeat at each health check and for the last backup's time.
 *
 * Why a thread: code shared by the API's requests and a scrape (pg's client and pool, Node's HTTP
 * and stream internals) was optimised by V8 for the API's objects; a scrape handed it the metrics
 * pool's and the metrics server's, and V8 threw the optimised code away and compiled it again
 * for both: the metrics' whole cost at saturation (BENCHMARKS.md, "Costs"). A thread is an
 * isolate of its own, which shares no type feedback with the request path. And the render itself
 * (prom-client's) runs here: on the main thread it still cost ~2 % CPU per request at saturation.
 */
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { parentPort, workerData } from "node:worker_threads";

import pg from "pg";

import { routeConsoleTo } from "../consoleLog.ts";
import {
  createStatementsExtensionIfAllowed,
  statementsAvailable,
  topStatements,
} from "../db/statements.ts";
import type { LogFields, Logger } from "../log.ts";
import { MISSED_BEATS, registerQueueMetrics } from "../metrics.ts";
import { metricsIdleTimeoutMs, startDatabaseCollector } from "./database.ts";
import { ThreadMetrics } from "./registry.ts";
import { SharedView, type Announcement } from "./shared.ts";
import {
  Channel,
  RequestTimeoutError,
  type MainEvent,
  type MainProtocol,
  type ThreadEvent,
  type ThreadProtocol,
} from "./threadChannel.ts";

/** What the main thread hands the metrics thread at its start (structured-cloneable). */
export interface ThreadSettings {
  host: string;
  port: number;
  ownerUrl: string;
  heartbeatMs: number;
  /** How long a scrape or health check waits for the main thread before answering 503. */
  mainThreadTimeoutMs: number;
  /** A worker runs in this process: /healthz checks its heartbeat. */
  worker: boolean;
  /** The database collector's settings; null: off. */
  database: {
    intervalMs?: number;
    dataDir?: string | null;
    /** The main thread knows the last backup (asked at each collection). */
    lastBackup: boolean;
  } | null;
}

/** What the thread is started with. */
export interface ThreadData {
  settings: ThreadSettings;
  /** The main thread's shared metrics so far (then each new one by message). */
  shared: Announcement[];
}

/** A logger whose lines the main thread writes (errors as their message, as src/log.ts does). */
function forwardingLogger(emit: (event: ThreadEvent) => void, bound: LogFields): Logger {
  const line =
    (level: "debug" | "info" | "warn" | "error") =>
    (message: string, fields: LogFields = {}): void => {
      const plain: Record<string, unknown> = { ...bound };
      for (const [key, value] of Object.entries(fields)) {
        plain[key] = value instanceof Error ? value.message : value;
      }
      emit({ kind: "log", level, message, fields: plain });
    };
  return {
    debug: line("debug"),
    info: line("info"),
    warn: line("warn"),
    error: line("error"),
    child: (fields) => forwardingLogger(emit, { ...bound, ...fields }),
  };
}

async function run(port: NonNullable<typeof parentPort>, data: ThreadData): Promise<void> {
  const { settings } = data;
  const metrics = new ThreadMetrics();
  const shared = new SharedView(metrics.registry, data.shared);
  let closing: Promise<null> | null = null;
  const main: Channel<MainProtocol, ThreadProtocol, MainEvent, ThreadEvent> = new Channel(
    port,
    {
      collect: async () => {
        await database?.collect();
        return null;
      },
      close: () => (closing ??= close()),
    },
    (event) => shared.apply(event.announcement),
  );
  const emit = (event: ThreadEvent): void => main.emit(event);
  const log = forwardingLogger(emit, { component: "metrics" });
  routeConsoleTo(forwardingLogger(emit, { component: "console" }));

  const pool = new pg.Pool({
    connectionString: settings.ownerUrl,
    max: 2,
    application_name: "mking-friend-metrics",
    connectionTimeoutMillis: 5000,
    // the queue is read at each scrape (Prometheus: every 15 s): keep the connection between them
    idleTimeoutMillis: metricsIdleTimeoutMs(15_000),
  });
  pool.on("error", (error) => log.warn("idle metrics connection failed", { error }));
  registerQueueMetrics(metrics, pool, log);
  const database =
    settings.database === null
      ? null
      : startDatabaseCollector(metrics, {
          ownerUrl: settings.ownerUrl,
          log,
          intervalMs: settings.database.intervalMs,
          dataDir: settings.database.dataDir,
          lastBackupAt: settings.database.lastBackup
            ? async () => {
                const ms = await main.request("lastBackupAt", {}, settings.mainThreadTimeoutMs);
                return ms === null ? null : new Date(ms);
              }
            : undefined,
        });

  const server: Server = createServer((req, res) => {
    const reply = (status: number, type: string, body: string): void => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    const json = (status: number, body: unknown): void =>
      reply(status, "application/json", JSON.stringify(body));
    if (req.method !== "GET") return reply(405, "text/plain", "method not allowed\n");
    const url = new URL(req.url ?? "/", "http://localhost");
    if (url.pathname === "/metrics") {
      (async () => {
        const pools = metrics.poolCounts();
        // the announcements sent before the answer have been applied when it arrives
        await main.request("refresh", { pools }, settings.mainThreadTimeoutMs);
        return metrics.render();
      })().then(
        (text) => reply(200, metrics.contentType, text),
        (error: unknown) => {
          log.warn("metrics: cannot render", { error });
          reply(503, "text/plain", "metrics unavailable\n");
        },
      );
      return;
    }
    if (url.pathname === "/healthz") {
      // the main thread answers too: a process whose event loop is stuck is not healthy
      Promise.all([
        pool.query("select 1").then(
          () => true,
          () => false,
        ),
        main.request("heartbeat", {}, settings.mainThreadTimeoutMs),
      ]).then(
        ([databaseUp, beat]) => {
          const stale =
            settings.worker &&
            (beat === null || Date.now() - beat > settings.heartbeatMs * MISSED_BEATS);
          if (!databaseUp) json(503, { status: "database unavailable" });
          else if (stale) json(503, { status: "worker heartbeat is late" });
          else json(200, { status: "ok" });
        },
        (error: unknown) => {
          if (error instanceof RequestTimeoutError) {
            log.warn("health check: the main thread did not answer", {
              ms: settings.mainThreadTimeoutMs,
            });
          }
          json(503, { status: "main thread not responding" });
        },
      );
      return;
    }
    if (url.pathname === "/debug/statements") {
      const limit = Math.min(Math.max(Number(url.searchParams.get("limit")) || 20, 1), 200);
      void (async () => {
        const client = await pool.connect();
        try {
          if (!(await statementsAvailable(client)))
            return json(404, { error: "pg_stat_statements is not installed in this database" });
          json(200, { statements: await topStatements(client, limit) });
        } finally {
          client.release();
        }
      })().catch((error: unknown) => {
        log.warn("metrics: cannot read pg_stat_statements", { error });
        json(503, { error: "database unavailable" });
      });
      return;
    }
    reply(404, "text/plain", "not found\n");
  });

  async function close(): Promise<null> {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await database?.close();
    await pool.end();
    return null;
  }

  // slow-query statistics where the owner may create them (docker-compose); else see README
  await pool
    .connect()
    .then(async (client) => {
      try {
        if (!(await createStatementsExtensionIfAllowed(client)))
          log.info("pg_stat_statements is not installed: /debug/statements and db:top are off");
      } finally {
        client.release();
      }
    })
    .catch((error: unknown) => log.warn("cannot check pg_stat_statements", { error }));

  server.listen(settings.port, settings.host);
  try {
    await once(server, "listening");
  } catch (error) {
    const code = (error as { code?: unknown }).code;
    main.emit({
      kind: "failed",
      message: error instanceof Error ? error.message : String(error),
      code: typeof code === "string" ? code : null,
    });
    await database?.close();
    await pool.end();
    return;
  }
  main.emit({ kind: "listening", port: (server.address() as AddressInfo).port });
}

if (!parentPort) throw new Error("src/metrics/thread.ts runs as a worker thread");
await run(parentPort, workerData as ThreadData);
