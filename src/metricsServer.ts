/**
 * The metrics endpoint (METRICS_PORT): `GET /metrics` in the Prometheus text format and
 * `GET /healthz` (200 when the database answers and, if a worker runs in this process, its
 * heartbeat is recent). Meant for a scraper on the private network, not for the internet.
 */
import { once } from "node:events";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import pg from "pg";

import type { Logger } from "./log.ts";
import { MISSED_BEATS, readQueue, renderMetrics, type JobCounters } from "./metrics.ts";

export interface MetricsServerOptions {
  host: string;
  port: number;
  ownerUrl: string;
  heartbeatMs: number;
  log: Logger;
  /** The worker running in this process, if any. */
  worker: { counters: JobCounters; lastHeartbeatAt(): number | null } | null;
}

export interface MetricsServer {
  readonly url: string;
  close(): Promise<void>;
}

export async function startMetricsServer(options: MetricsServerOptions): Promise<MetricsServer> {
  const log = options.log.child({ component: "metrics" });
  const pool = new pg.Pool({
    connectionString: options.ownerUrl,
    max: 2,
    application_name: "mking-friend-metrics",
    connectionTimeoutMillis: 5000,
  });
  pool.on("error", (error) => log.warn("idle metrics connection failed", { error }));

  const server: Server = createServer((req, res) => {
    const reply = (status: number, type: string, body: string): void => {
      res.writeHead(status, { "content-type": type, "cache-control": "no-store" });
      res.end(body);
    };
    if (req.method !== "GET") return reply(405, "text/plain", "method not allowed\n");
    const path = (req.url ?? "/").split("?")[0];
    if (path === "/metrics") {
      readQueue(pool).then(
        (queue) =>
          reply(
            200,
            "text/plain; version=0.0.4; charset=utf-8",
            renderMetrics(queue, options.worker?.counters ?? null),
          ),
        (error: unknown) => {
          log.warn("metrics: cannot read the job queue", { error });
          reply(503, "text/plain", "database unavailable\n");
        },
      );
      return;
    }
    if (path === "/healthz") {
      pool.query("select 1").then(
        () => {
          const beat = options.worker?.lastHeartbeatAt() ?? null;
          const stale =
            options.worker !== null &&
            (beat === null || Date.now() - beat > options.heartbeatMs * MISSED_BEATS);
          if (stale)
            reply(503, "application/json", JSON.stringify({ status: "worker heartbeat is late" }));
          else reply(200, "application/json", JSON.stringify({ status: "ok" }));
        },
        () => reply(503, "application/json", JSON.stringify({ status: "database unavailable" })),
      );
      return;
    }
    reply(404, "text/plain", "not found\n");
  });
  server.listen(options.port, options.host);
  try {
    await once(server, "listening");
  } catch (error) {
    await pool.end();
    throw error;
  }
  const { port } = server.address() as AddressInfo;
  const url = `http://${options.host.includes(":") ? `[${options.host}]` : options.host}:${port}`;
  log.info(`metrics at ${url}/metrics`);
  return {
    url,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await pool.end();
    },
  };
}
