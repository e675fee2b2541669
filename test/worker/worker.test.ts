/**
 * The real worker (src/worker.ts with src/tasks and src/crontab) runs jobs queued in the same
 * database, end to end, and stops cleanly.
 */
import { once } from "node:events";

import { TASK_IDENTIFIERS } from "../../src/tasks/index.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { startTestWorker, type TestWorker } from "../helpers/worker.ts";

let db: TestDatabase;
let worker: TestWorker;

beforeAll(async () => {
  db = await createTestDatabase();
  worker = await startTestWorker(db);
});
afterAll(async () => {
  await worker.close();
  await db.drop();
});

describe("the worker", () => {
  it("runs a job queued with graphile_worker.add_job in SQL", async () => {
    const completed = worker.listen();
    const { rows } = await withClient(db.ownerUrl, (c) =>
      c.query<{ id: string }>(
        `select id from graphile_worker.add_job('worker__cleanup', '{}'::json)`,
      ),
    );
    const jobId = rows[0]!.id;
    const { job, error } = await completed(jobId);
    expect(error).toBeUndefined();
    expect(job.task_identifier).toBe("worker__cleanup");
    expect(worker.log.lines.some((l) => l.includes("worker cleanup done"))).toBe(true);
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

  it("without the schedule (WORKER_CRON=false) schedules nothing, and still runs jobs", async () => {
    const other = await createTestDatabase();
    const unscheduled = await startTestWorker(other, { cron: false });
    try {
      const { rows } = await withClient(other.ownerUrl, (c) =>
        c.query<{ identifier: string }>(
          `select identifier from graphile_worker._private_known_crontabs`,
        ),
      );
      expect(rows).toEqual([]);
      const completed = unscheduled.listen();
      const job = await withClient(other.ownerUrl, (c) =>
        c.query<{ id: string }>(
          `select id from graphile_worker.add_job('worker__cleanup', '{}'::json)`,
        ),
      );
      expect((await completed(job.rows[0]!.id)).error).toBeUndefined();
    } finally {
      await unscheduled.close();
      await other.drop();
    }
  });

  it("stops gracefully: a job running at shutdown finishes before stop() resolves", async () => {
    const other = await createTestDatabase();
    let release!: () => void;
    const gate = new Promise<void>((resolve) => (release = resolve));
    let finished = false;
    const second = await startTestWorker(other, {
      concurrency: 1,
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
      // stop() resolves only once the running job has finished: the job is let go only when
      // the pool has begun shutting down, and must be done by the time stop() resolves
      const shuttingDown = once(second.runner.events, "pool:gracefulShutdown");
      const stopping = second.stop().then(() => finished);
      await shuttingDown;
      expect(finished).toBe(false);
      release();
      expect(await stopping).toBe(true);
      const { rows } = await withClient(other.ownerUrl, (c) =>
        c.query(`select task_identifier, attempts, last_error from graphile_worker.jobs`),
      );
      expect(rows).toEqual([]);
      expect(second.log.lines.some((l) => l.includes("worker stopped"))).toBe(true);
    } finally {
      release();
      await second.close();
      await other.drop();
    }
  });
});
