/**
 * The metrics endpoint (METRICS_PORT): `GET /metrics` in the Prometheus text format (this
 * process's registry: src/metrics/registry.ts lists every name), `GET /healthz` (200 when the
 * database answers and, if a worker runs in this process, its heartbeat is recent) and
 * `GET /debug/statements` (the SQL statements that took the most time, JSON; needs
 * pg_stat_statements: src/db/statements.ts). Meant for a scraper on the private network, not for
 * the internet.
 */
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import pg from "pg";

import {
  createStatementsExtensionIfAllowed,
  statementsAvailable,
  topStatements,
} from "./db/statements.ts";
import type { Logger } from "./log.ts";
import {
  MISSED_BEATS,
  registerQueueMetrics,
  registerWorkerCounters,
  type JobCounters,
} from "./metrics.ts";
import {
  metricsIdleTimeoutMs,
  startDatabaseCollector,
  type DatabaseCollector,
} from "./metrics/database.ts";
import { ProcessMetrics } from "./metrics/registry.ts";

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
  /** Database metrics (src/metrics/database.ts); default: on, collected every 15 s. */
  database?: {
    intervalMs?: number;
    /** The embedded server's data folder (free disk); null for a remote server. */
    dataDir?: string | null;
    lastBackupAt?: () => Promise<Date | null>;
  } | null;
}

export interface MetricsServer {
  readonly url: string;
  readonly metrics: ProcessMetrics;
  /** The database collector, when on (tests collect on demand). */
  readonly database: DatabaseCollector | null;
  close(): Promise<void>;
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const log = options.log.child({ component: "metrics" });
  const metrics = options.metrics ?? new ProcessMetrics();
  const pool = new pg.Pool({
    connectionString: options.ownerUrl,
    max: 2,
    application_name: "mking-friend-metrics",
    connectionTimeoutMillis: 5000,
    // the queue is read at each scrape (Prometheus: every 15 s): keep the connection between them
    idleTimeoutMillis: metricsIdleTimeoutMs(15_000),
  });
  pool.on("error", (error) => log.warn("idle metrics connection failed", { error }));
  registerQueueMetrics(metrics, pool, log);
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
  if (options.worker) registerWorkerCounters(metrics, options.worker.counters);
  const database =
    options.database === null
      ? null
      : startDatabaseCollector(metrics, {
          ownerUrl: options.ownerUrl,
          log,
          ...options.database,
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
      metrics.render().then(
        (text) => reply(200, metrics.contentType, text),
        (error: unknown) => {
          log.warn("metrics: cannot render", { error });
          reply(500, "text/plain", "metrics unavailable\n");
        },
      );
      return;
    }
    if (url.pathname === "/healthz") {
      pool.query("select 1").then(
        () => {
          const beat = options.worker?.lastHeartbeatAt() ?? null;
          const stale =
            options.worker !== null &&
            (beat === null || Date.now() - beat > options.heartbeatMs * MISSED_BEATS);
          if (stale) json(503, { status: "worker heartbeat is late" });
          else json(200, { status: "ok" });
        },
        () => json(503, { status: "database unavailable" }),
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
  server.listen(options.port, options.host);
  try {
    await once(server, "listening");
  } catch (error) {
    await database?.close();
    await pool.end();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  const url = `http://${options.host.includes(":") ? `[${options.host}]` : options.host}:${port}`;
  log.info(`metrics at ${url}/metrics`);
  return {
    url,
    metrics,
    database,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await database?.close();
      await pool.end();
    },
  };
}
