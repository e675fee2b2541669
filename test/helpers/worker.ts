/** The real worker against a test database, with its outbox in a temporary folder. */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import type { Job, TaskList } from "graphile-worker";

import { outboxTransport, type MailTransport } from "../../src/mail/transport.ts";
import type { MailMessage } from "../../src/mail/templates.ts";
import type { TaskDependencies } from "../../src/tasks/index.ts";
import { startWorker, type Worker } from "../../src/worker.ts";
import type { TestDatabase } from "./database.ts";
import { testLogger, type TestLogger } from "./log.ts";

export interface TestWorker extends Worker {
  readonly log: TestLogger;
  readonly outboxDir: string;
  /** The .eml messages in the outbox, oldest first. */
  messages(): Promise<string[]>;
  /**
   * Resolves with the `index`-th message (0-based) sent to `to`, waiting for it to be sent if
   * needed. Messages are counted per address, in the order the transport sent them.
   */
  message(to: string, index: number): Promise<MailMessage>;
  /**
   * Call before queueing: returns a function that resolves when the job with that id has
   * finished (successfully or not) and its outcome is in the database (so fast jobs are not
   * missed, and the job's row can be read right away).
   */
  listen(): (jobId: string) => Promise<{ job: Job; error?: unknown }>;
  /**
   * Resolves once no job (of `tasks`, or any) is waiting or running: every queued job still
   * able to run has succeeded in this worker. Checked at each job completion, not by polling.
   */
  idle(tasks?: readonly string[]): Promise<void>;
  /** Resolves when a job of that task finishes, whichever it is. */
  nextCompletion(task: string): Promise<{ job: Job; error?: unknown }>;
  /** Stops the worker and removes the outbox. */
  close(): Promise<void>;
}

export async function startTestWorker(
  db: TestDatabase,
  options: {
    extraTasks?: TaskList;
    concurrency?: number;
    heartbeatMs?: number;
    batchSize?: number;
    transport?: MailTransport;
    /** Overrides the retention (days) the tasks use. */
    retention?: Partial<TaskDependencies["retention"]>;
    reindex?: TaskDependencies["reindex"];
    /** DATA_DIR of data export archives (src/tasks/data_export.ts) and their links' hours. */
    dataExport?: TaskDependencies["dataExport"];
    /** Media processing settings (src/media/process/settings.ts). */
    media?: TaskDependencies["media"];
    /** Run src/crontab's schedule (WORKER_CRON); default true. */
    cron?: boolean;
  } = {},
): Promise<TestWorker> {
  const log = testLogger();
  const outboxDir = await mkdtemp(path.join(tmpdir(), "mking-outbox-"));
  // The real outbox transport, observed: tests wait for a message instead of polling files.
  const outbox = options.transport ?? outboxTransport(outboxDir);
  const sent = new Map<string, MailMessage[]>();
  const waiting: { to: string; index: number; resolve: (m: MailMessage) => void }[] = [];
  const transport: MailTransport = {
    async send(from, message) {
      const where = await outbox.send(from, message);
      const list = sent.get(message.to) ?? [];
      list.push(message);
      sent.set(message.to, list);
      for (const w of [...waiting]) {
        if (w.to === message.to && list[w.index]) {
          waiting.splice(waiting.indexOf(w), 1);
          w.resolve(list[w.index]!);
        }
      }
      return where;
    },
  };
  const worker = await startWorker({
    ownerUrl: db.ownerUrl,
    concurrency: options.concurrency ?? 2,
    pollIntervalMs: 1000,
    heartbeatMs: options.heartbeatMs ?? 10_000,
    log,
    mail: {
      transport,
      from: "test@mking.local",
      appUrl: "https://app.test",
      outboxDir: options.transport ? null : outboxDir,
    },
    retention: { deletedContentDays: 30, readNotificationDays: 90, ...options.retention },
    ...(options.reindex ? { reindex: options.reindex } : {}),
    ...(options.dataExport ? { dataExport: options.dataExport } : {}),
    ...(options.media ? { media: options.media } : {}),
    ...(options.batchSize ? { batchSize: options.batchSize } : {}),
    ...(options.cron === undefined ? {} : { cron: options.cron }),
    ...(options.extraTasks ? { extraTasks: options.extraTasks } : {}),
  });
  const succeeded = new Set<string>();
  worker.runner.events.on("job:success", ({ job }) => succeeded.add(job.id));
  const pendingJobIds = (tasks?: readonly string[]): Promise<string[]> =>
    worker.workerUtils.withPgClient(async (client) => {
      const { rows } = await client.query<{ id: string }>(
        `select id::text from graphile_worker.jobs
          where attempts < max_attempts and ($1::text[] is null or task_identifier = any($1))`,
        [tasks ?? null],
      );
      return rows.map((r) => r.id);
    });
  /**
   * graphile-worker announces the end of a job ("job:complete") before its (batched) write of
   * the outcome reaches the database, and no event follows that write: this looks until the
   * job's row is gone (done) or unlocked (failed, waiting for a retry or given up), every 10 ms
   * for at most 5 s.
   */
  const settled = async (jobId: string): Promise<void> => {
    const deadline = Date.now() + 5000;
    for (;;) {
      const { rows } = await worker.workerUtils.withPgClient((client) =>
        client.query(`select 1 from graphile_worker.jobs where id = $1 and locked_by is not null`, [
          jobId,
        ]),
      );
      if (rows.length === 0) return;
      if (Date.now() > deadline) throw new Error(`job ${jobId}: outcome not written within 5 s`);
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  };
  return Object.assign(worker, {
    log,
    outboxDir,
    async messages() {
      const files = (await readdir(outboxDir)).filter((f) => f.endsWith(".eml")).sort();
      return Promise.all(files.map((f) => readFile(path.join(outboxDir, f), "utf8")));
    },
    message(to: string, index: number) {
      const existing = sent.get(to)?.[index];
      if (existing) return Promise.resolve(existing);
      return new Promise<MailMessage>((resolve) => waiting.push({ to, index, resolve }));
    },
    listen() {
      const seen = new Map<string, { job: Job; error?: unknown }>();
      const waiting = new Map<string, (r: { job: Job; error?: unknown }) => void>();
      worker.runner.events.on("job:complete", ({ job, error }) => {
        const result = error == null ? { job } : { job, error };
        seen.set(job.id, result);
        waiting.get(job.id)?.(result);
      });
      return async (jobId: string) => {
        const result = await new Promise<{ job: Job; error?: unknown }>((resolve) => {
          const done = seen.get(jobId);
          if (done) resolve(done);
          else waiting.set(jobId, resolve);
        });
        await settled(jobId);
        return result;
      };
    },
    async idle(tasks?: readonly string[]) {
      for (;;) {
        // listen before looking, so a completion in between is not missed
        let onComplete!: () => void;
        const completed = new Promise<void>((resolve) => (onComplete = resolve));
        worker.runner.events.once("job:complete", onComplete);
        const pending = (await pendingJobIds(tasks)).filter((id) => !succeeded.has(id));
        if (pending.length === 0) {
          worker.runner.events.off("job:complete", onComplete);
          return;
        }
        await completed;
      }
    },
    nextCompletion(task: string) {
      return new Promise<{ job: Job; error?: unknown }>((resolve) => {
        const onComplete = ({ job, error }: { job: Job; error?: unknown }): void => {
          if (job.task_identifier !== task) return;
          worker.runner.events.off("job:complete", onComplete);
          resolve(error == null ? { job } : { job, error });
        };
        worker.runner.events.on("job:complete", onComplete);
      });
    },
    async close() {
      await worker.stop();
      await rm(outboxDir, { recursive: true, force: true });
    },
  });
}
