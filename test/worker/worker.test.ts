/**
 * The real worker (src/worker.ts with src/tasks and src/crontab) runs jobs queued in the same
 * database, end to end, and stops cleanly.
 */
import { once } from "node:events";

import type { Job } from "graphile-worker";

import { TASK_IDENTIFIERS } from "../../src/tasks/index.ts";
import { startWorker, type Worker } from "../../src/worker.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { testLogger, type TestLogger } from "../helpers/log.ts";

let db: TestDatabase;
let worker: Worker;
let log: TestLogger;

beforeAll(async () => {
  db = await createTestDatabase();
  log = testLogger();
  worker = await startWorker({ ownerUrl: db.ownerUrl, concurrency: 2, pollIntervalMs: 1000, log });
});
afterAll(async () => {
  await worker.stop();
  await db.drop();
});

/**
 * Starts listening now (before the job is queued, so a fast job is not missed) and returns a
 * function that resolves once the worker reports that job finished successfully.
 */
function listenForSuccess(): (jobId: string) => Promise<Job> {
  const seen = new Map<string, Job>();
  const waiting = new Map<string, (job: Job) => void>();
  worker.runner.events.on("job:success", ({ job }) => {
    seen.set(job.id, job);
    waiting.get(job.id)?.(job);
  });
  return (jobId) =>
    new Promise((resolve) => {
      const done = seen.get(jobId);
      if (done) resolve(done);
      else waiting.set(jobId, resolve);
    });
}

describe("the worker", () => {
  it("runs a job queued with graphile_worker.add_job in SQL", async () => {
    const succeeded = listenForSuccess();
    const { rows } = await withClient(db.ownerUrl, (c) =>
      c.query<{ id: string }>(
        `select id from graphile_worker.add_job('worker__cleanup', '{}'::json)`,
      ),
    );
    const jobId = rows[0]!.id;
    const done = await succeeded(jobId);
    expect(done.task_identifier).toBe("worker__cleanup");
    expect(log.lines.some((l) => l.includes("worker cleanup done"))).toBe(true);
  });

  it("registers every task of src/tasks and schedules the crontab", async () => {
    expect(TASK_IDENTIFIERS).toContain("worker__cleanup");
    const { rows } = await withClient(db.ownerUrl, (c) =>
      c.query<{ identifier: string }>(
        `select identifier from graphile_worker._private_known_crontabs`,
      ),
    );
    expect(rows.map((r) => r.identifier)).toContain("worker__cleanup");
  });

  it("stops gracefully: a job running at shutdown finishes before stop() resolves", async () => {
    const other = await createTestDatabase();
    const otherLog = testLogger();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let finished = false;
    const second = await startWorker({
      ownerUrl: other.ownerUrl,
      concurrency: 1,
      pollIntervalMs: 1000,
      log: otherLog,
      extraTasks: {
        slow_job: async () => {
          await gate;
          finished = true;
        },
      },
    });
    try {
      const started = once(second.runner.events, "job:start");
      await withClient(other.ownerUrl, (c) =>
        c.query(`select graphile_worker.add_job('slow_job', '{}'::json)`),
      );
      await started;
      let stopped = false;
      const stopping = second.stop().then(() => (stopped = true));
      // stop() waits for the running job: it has not resolved while the job is still running
      await new Promise((resolve) => setImmediate(resolve));
      expect(stopped).toBe(false);
      release();
      await stopping;
      expect(finished).toBe(true);
      const { rows } = await withClient(other.ownerUrl, (c) =>
        c.query(`select task_identifier, attempts, last_error from graphile_worker.jobs`),
      );
      expect(rows).toEqual([]);
      expect(otherLog.lines.some((l) => l.includes("worker stopped"))).toBe(true);
    } finally {
      release();
      await second.stop();
      await other.drop();
    }
  });
});
