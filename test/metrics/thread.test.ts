/**
 * The metrics endpoint runs on a thread of its own (src/metrics/thread.ts): one exposition from
 * two registries (the main thread's read from shared memory, its series added while the thread
 * runs included), a thread that stops started again on its port, a main thread that does not
 * answer seen by /healthz and /metrics, its connections closed with it. (Its log lines reach
 * the process's logger: test/metrics/database.test.ts waits for the thread's warnings there.)
 */
import { EventEmitter } from "node:events";

import type { WorkerEvents } from "graphile-worker";

import { JobCounters } from "../../src/metrics.ts";
import { ProcessMetrics } from "../../src/metrics/registry.ts";
import {
  startMetricsServer,
  type MetricsServer,
  type MetricsServerOptions,
} from "../../src/metricsServer.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { testLogger } from "../helpers/log.ts";
import { scrape } from "./scrape.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

/** Keeps the calling (main) thread busy for `ms`, as a stuck event loop would. */
function busy(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until) {
    // spin
  }
}

/** Backends of this test's database opened by the metrics thread's pools. */
async function metricsConnections(): Promise<number> {
  return withClient(db.ownerUrl, async (c) => {
    const { rows } = await c.query<{ n: number }>(
      `select count(*)::int as n from pg_stat_activity
        where datname = current_database() and application_name = 'mking-friend-metrics'`,
    );
    return rows[0]!.n;
  });
}

/** An endpoint on this test's database, with the defaults below unless `options` says. */
function start(
  log: MetricsServerOptions["log"],
  options: Partial<MetricsServerOptions> = {},
): Promise<MetricsServer> {
  return startMetricsServer({
    host: "127.0.0.1",
    port: 0,
    ownerUrl: db.ownerUrl,
    heartbeatMs: 1000,
    mainThreadTimeoutMs: 300,
    log,
    worker: null,
    database: null,
    ...options,
  });
}

describe("the metrics thread", () => {
  let server: MetricsServer;
  const log = testLogger();
  const metrics = new ProcessMetrics();
  let lastBeat: () => number | null = () => Date.now();
  afterAll(async () => {
    await server?.close();
  });

  it("serves the main thread's registry and its own in one exposition, each family once", async () => {
    metrics
      .gauge({
        name: "test_main_thread_value",
        help: "A value only the main thread's registry has.",
      })
      .series([])
      .set(42);
    server = await start(log, { metrics, database: { intervalMs: 60_000 } });
    await server.database!.collect();
    // a family and series the main thread adds after the thread started
    const later = metrics.counter({
      name: "test_later_total",
      help: "Defined while the thread runs.",
      labelNames: ["kind"],
    });
    later.series(["a"]).inc(2);
    const s = await scrape(server.url); // throws on a family or sample given twice
    expect(s.value("test_main_thread_value")).toBe(42);
    expect(s.value("test_later_total", { kind: "a" })).toBe(2);
    later.series(["b"]).inc();
    later.series(["a"]).inc();
    const again = await scrape(server.url);
    expect(again.value("test_later_total", { kind: "a" })).toBe(3);
    expect(again.value("test_later_total", { kind: "b" })).toBe(1);
    // the thread's: the database and the job queue, read on its own connections
    expect(s.value("mking_db_up")).toBe(1);
    expect(s.text).toContain("# TYPE mking_jobs gauge");
    // its pool, reported once, by the main thread's pool gauge
    expect(s.value("mking_pg_pool_connections", { pool: "metrics", state: "total" })).toBe(1);
    expect(s.text.match(/^# TYPE mking_pg_pool_connections /gm)).toHaveLength(1);
    expect(server.thread.threadId).toBeGreaterThan(0);
  });

  it("starts a thread that stopped again, on the same port", async () => {
    const stopped = log.next(/the metrics thread stopped; starting it again/);
    const back = log.next(/the metrics thread is back/);
    const first = server.thread;
    await first.terminate();
    await stopped;
    await back;
    expect(server.thread).not.toBe(first);
    const s = await scrape(server.url);
    expect(s.value("test_main_thread_value")).toBe(42);
    expect(s.value("test_later_total", { kind: "a" })).toBe(3); // from the snapshot it starts with
    expect(s.value("mking_db_up")).toBe(1);
    expect((await fetch(`${server.url}/healthz`)).status).toBe(200);
  });

  it("logs an exception the thread does not catch, and starts the thread again", async () => {
    const failed = log.next(/the metrics thread failed/);
    const back = log.next(/the metrics thread is back/);
    const first = server.thread;
    first.postMessage(null); // not an envelope the thread's channel can read: it throws
    expect(await failed).toMatch(/^error the metrics thread failed component=metrics error=/);
    await back;
    expect(server.thread).not.toBe(first);
    expect((await scrape(server.url)).value("test_main_thread_value")).toBe(42);
  });

  it("refuses to start on a port in use, with the reason", async () => {
    await expect(start(log, { port: Number(new URL(server.url).port) })).rejects.toMatchObject({
      message: expect.stringMatching(/^metrics endpoint: listen EADDRINUSE/),
      code: "EADDRINUSE",
    });
  });

  it("answers /healthz with 503 while the main thread does not answer, 200 once it does", async () => {
    lastBeat = () => {
      busy(1_000); // longer than mainThreadTimeoutMs (300 ms)
      return Date.now();
    };
    const stuck = await start(log, {
      worker: {
        counters: new JobCounters(new EventEmitter() as WorkerEvents),
        lastHeartbeatAt: () => lastBeat(),
      },
    });
    try {
      const warned = log.next(/the main thread did not answer/);
      const response = await fetch(`${stuck.url}/healthz`);
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({ status: "main thread not responding" });
      await warned;
      lastBeat = () => Date.now();
      expect((await fetch(`${stuck.url}/healthz`)).status).toBe(200);
    } finally {
      await stuck.close();
    }
  });

  it("answers a scrape with 503 while the main thread does not answer", async () => {
    const slow = new ProcessMetrics();
    slow.gauge({
      name: "test_slow_value",
      help: "Takes the main thread a second to collect.",
      collect(family) {
        busy(1_000);
        family.series([]).set(1);
      },
    });
    const stuck = await start(log, { metrics: slow });
    try {
      const response = await fetch(`${stuck.url}/metrics`);
      expect(response.status).toBe(503);
      expect(await response.text()).toBe("metrics unavailable\n");
    } finally {
      await stuck.close();
    }
  });

  it("closes at once while a stopped thread is not back yet", async () => {
    const other = await start(log);
    const stopped = log.next(/the metrics thread stopped; starting it again/);
    await other.thread.terminate();
    await stopped;
    const linesBefore = log.lines.length;
    await other.close(); // before the restart's delay is over: nothing to ask the dead thread
    const after = log.lines.slice(linesBefore).join("\n");
    expect(after).not.toContain("did not close cleanly");
    expect(after).not.toContain("is back");
    await expect(fetch(`${other.url}/healthz`)).rejects.toThrow();
  });

  it("closes its connections when the endpoint closes, and a second close is harmless", async () => {
    const other = await start(log, { database: { intervalMs: 60_000 } });
    await other.database!.collect();
    expect(await metricsConnections()).toBeGreaterThan(0);
    await server.close();
    await other.close();
    await other.close();
    expect(await metricsConnections()).toBe(0);
    await expect(fetch(`${other.url}/metrics`)).rejects.toThrow();
  });
});
