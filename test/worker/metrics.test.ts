/**
 * What the worker tells operators: the queue's depth by task and state and this process's job
 * counts at /metrics (Prometheus text), /healthz, and structured log lines for every job.
 */
import { startMetricsServer, type MetricsServer } from "../../src/metricsServer.ts";
import { workerLogFields } from "../../src/workerLogger.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { testLogger } from "../helpers/log.ts";
import { startTestWorker, type TestWorker } from "../helpers/worker.ts";

let db: TestDatabase;
let worker: TestWorker;
let metrics: MetricsServer;

beforeAll(async () => {
  db = await createTestDatabase();
  worker = await startTestWorker(db, {
    concurrency: 1,
    heartbeatMs: 200,
    extraTasks: {
      test__ok: async () => undefined,
      test__broken: async () => {
        throw new Error("this task always fails");
      },
    },
  });
  metrics = await startMetricsServer({
    host: "127.0.0.1",
    port: 0,
    ownerUrl: db.ownerUrl,
    heartbeatMs: 200,
    log: testLogger(),
    worker,
  });
});
afterAll(async () => {
  await metrics.close();
  await worker.close();
  await db.drop();
});

const sql = <T = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> =>
  withClient(db.ownerUrl, async (c) => (await c.query(text, values)).rows as T[]);

/** Queues a job and waits for its (first) run to finish. */
async function run(task: string, maxAttempts: number): Promise<string> {
  const completed = worker.listen();
  const [row] = await sql<{ id: string }>(
    `select id::text from graphile_worker.add_job($1, '{}'::json, max_attempts := $2)`,
    [task, maxAttempts],
  );
  await completed(row!.id);
  return row!.id;
}

/** The samples of a metric, by their label set. */
function samples(text: string, name: string): Record<string, number> {
  const result: Record<string, number> = {};
  for (const line of text.split("\n")) {
    const m = new RegExp(`^${name}(\\{[^}]*\\})? (\\S+)$`).exec(line);
    if (m) result[m[1] ?? ""] = Number(m[2]);
  }
  return result;
}

describe("/metrics", () => {
  it("reports queue depth by task and state, and this worker's completed, errored and given-up jobs", async () => {
    await run("test__ok", 5);
    await run("test__ok", 5);
    await run("test__broken", 1); // given up: stays in the queue as failed
    const retrying = await run("test__broken", 3); // failed once, waits for its retry
    await sql(
      `select graphile_worker.add_job('test__ok', '{}'::json, run_at := now() + interval '1 hour')`,
    );
    expect(
      await sql(`select attempts from graphile_worker.jobs where id = $1`, [retrying]),
    ).toEqual([{ attempts: 1 }]);

    const response = await fetch(`${metrics.url}/metrics`);
    expect(response.status).toBe(200);
    expect(response.headers.get("content-type")).toMatch(/^text\/plain; version=0\.0\.4/);
    const text = await response.text();
    expect(text).toContain("# TYPE mking_jobs gauge");
    expect(samples(text, "mking_jobs")).toEqual({
      '{task="test__broken",state="failed"}': 1,
      '{task="test__broken",state="retrying"}': 1,
      '{task="test__ok",state="scheduled"}': 1,
    });
    expect(samples(text, "mking_worker_jobs_completed_total")).toEqual({
      '{task="test__broken"}': 0,
      '{task="test__ok"}': 2,
    });
    expect(samples(text, "mking_worker_job_errors_total")).toEqual({
      '{task="test__broken"}': 2,
      '{task="test__ok"}': 0,
    });
    expect(samples(text, "mking_worker_jobs_given_up_total")).toEqual({
      '{task="test__broken"}': 1,
      '{task="test__ok"}': 0,
    });
    expect(samples(text, "mking_worker_pools_alive")).toEqual({ "": 1 });
    expect(samples(text, "mking_jobs_oldest_ready_seconds")).toEqual({ "": 0 });
    expect(
      samples(text, "mking_worker_job_seconds_total")['{task="test__ok"}'],
    ).toBeGreaterThanOrEqual(0);
  });

  it("reports how long the oldest due job has waited", async () => {
    await sql(
      `select graphile_worker.add_job('test__nobody_runs_this', '{}'::json, run_at := now() - interval '90 seconds')`,
    );
    const text = await (await fetch(`${metrics.url}/metrics`)).text();
    expect(samples(text, "mking_jobs")['{task="test__nobody_runs_this",state="ready"}']).toBe(1);
    expect(samples(text, "mking_jobs_oldest_ready_seconds")[""]).toBeGreaterThanOrEqual(90);
  });
});

describe("/healthz and the rest", () => {
  it("is healthy while the database answers and the heartbeat is recent", async () => {
    const response = await fetch(`${metrics.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });

  it("reports a late heartbeat as unhealthy", async () => {
    const silent = await startMetricsServer({
      host: "127.0.0.1",
      port: 0,
      ownerUrl: db.ownerUrl,
      heartbeatMs: 200,
      log: testLogger(),
      worker: { counters: worker.counters, lastHeartbeatAt: () => Date.now() - 10_000 },
    });
    try {
      const response = await fetch(`${silent.url}/healthz`);
      expect(response.status).toBe(503);
      expect(await response.json()).toEqual({ status: "worker heartbeat is late" });
    } finally {
      await silent.close();
    }
  });

  it("answers other paths with 404 and other methods with 405", async () => {
    expect((await fetch(`${metrics.url}/graphql`)).status).toBe(404);
    expect((await fetch(`${metrics.url}/metrics`, { method: "POST" })).status).toBe(405);
  });
});

describe("worker log lines", () => {
  it("carry task, job id, attempt, max attempts and duration as fields, not the job row", async () => {
    const jobId = await run("test__broken", 1);
    const line = worker.log.lines.find(
      (l) => l.includes(`jobId=${jobId}`) && l.startsWith("error"),
    );
    expect(line).toMatch(/^error Failed task \d+ \(test__broken/);
    expect(line).toContain("task=test__broken");
    expect(line).toContain("attempt=1 maxAttempts=1");
    expect(line).toMatch(/durationMs=\d+(\.\d+)?/);
    expect(line).toContain('error="this task always fails"');
    expect(line).not.toContain("payload");

    const fields = workerLogFields(
      {},
      {
        job: {
          id: "7",
          task_identifier: "send_email",
          attempts: 2,
          max_attempts: 10,
          queue_name: null,
          payload: { secret: 1 },
        },
        duration: 12.3456,
      },
    );
    expect(fields).toEqual({
      component: "worker",
      task: "send_email",
      jobId: "7",
      attempt: 2,
      maxAttempts: 10,
      durationMs: 12.35,
    });
  });
});
