/**
 * Retention of what would grow without bound (audit records, e-mail delivery records, jobs that
 * failed for good, the development outbox), each run as a real job: what is past the configured
 * days goes, in batches, and the rest stays. And the hot tables' autovacuum settings.
 */
import { readdir, utimes, writeFile } from "node:fs/promises";
import path from "node:path";

import { loadConfig } from "../../src/config.ts";
import { migrateDatabase } from "../../src/db/migrate.ts";
import { WORKER_QUEUE_AUTOVACUUM, WORKER_QUEUE_TABLE } from "../../src/db/autovacuum.ts";
import { mailFor } from "../../src/worker.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { testLogger } from "../helpers/log.ts";
import { startTestWorker, type TestWorker } from "../helpers/worker.ts";

let db: TestDatabase;
let worker: TestWorker;

// deliberately unlike the defaults, to show the tasks use what is configured
const RETENTION = { auditLogDays: 200, emailDeliveryDays: 20, failedJobDays: 5, outboxDays: 3 };

beforeAll(async () => {
  db = await createTestDatabase();
  // batches of 2 rows: a purge of 5 rows takes 3 batches
  worker = await startTestWorker(db, { batchSize: 2, retention: RETENTION });
});
afterAll(async () => {
  await worker.close();
  await db.drop();
});

const sql = <T = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> =>
  withClient(db.ownerUrl, async (c) => (await c.query(text, values)).rows as T[]);
const ids = async (text: string, values: unknown[] = []): Promise<string[]> =>
  (await sql<{ id: string }>(text, values)).map((r) => String(r.id)).sort();

/** Runs a task as the crontab would (a job with an empty payload) and returns its log line. */
async function runTask(task: string): Promise<string> {
  const done = worker.nextCompletion(task);
  await sql(`select graphile_worker.add_job($1, '{}'::json)`, [task]);
  const { error } = await done;
  expect(error).toBeUndefined();
  return worker.log.lines.filter((l) => l.includes(`${task} done`)).at(-1) ?? "";
}

describe("configuration", () => {
  it("keeps audit records a year, e-mail records 90 days, failed jobs 30, outbox files 7 by default", () => {
    expect(loadConfig({}, "/srv/app").retention).toMatchObject({
      auditLogDays: 365,
      emailDeliveryDays: 90,
      failedJobDays: 30,
      outboxDays: 7,
    });
    expect(
      loadConfig({ AUDIT_RETENTION_DAYS: "30", OUTBOX_RETENTION_DAYS: "1" }, "/srv/app").retention,
    ).toMatchObject({ auditLogDays: 30, outboxDays: 1 });
  });

  it("prunes the outbox only where e-mail goes to it", () => {
    const log = testLogger();
    expect(mailFor(loadConfig({}, "/srv/app"), log).outboxDir).toBe("/srv/app/.data/outbox");
    expect(
      mailFor(loadConfig({ SMTP_URL: "smtp://mail.example:25" }, "/srv/app"), log).outboxDir,
    ).toBeNull();
  });
});

describe("maintenance__purge_audit_log", () => {
  it("deletes audit records older than AUDIT_RETENTION_DAYS, in batches, and keeps the rest", async () => {
    const insert = (age: string): Promise<string[]> =>
      ids(
        `insert into app_private.audit_log (action, occurred_at)
         values ('login_success', now() - $1::interval) returning id`,
        [age],
      );
    const old = [
      ...(await insert("201 days")),
      ...(await insert("250 days")),
      ...(await insert("3 years")),
      ...(await insert("400 days")),
      ...(await insert("500 days")),
    ];
    const kept = [...(await insert("199 days")), ...(await insert("1 minute"))];
    const line = await runTask("maintenance__purge_audit_log");
    expect(line).toMatch(/deleted=5 batches=3/);
    expect(await ids(`select id from app_private.audit_log where id = any($1)`, [old])).toEqual([]);
    expect(await ids(`select id from app_private.audit_log where id = any($1)`, [kept])).toEqual(
      kept.sort(),
    );
  });
});

describe("maintenance__purge_email_deliveries", () => {
  it("deletes delivery records older than EMAIL_DELIVERY_RETENTION_DAYS, sent or failed", async () => {
    const insert = (status: string, age: string): Promise<string[]> =>
      ids(
        `insert into app_private.email_deliveries (template, recipient, status, attempts, created_at)
         values ('verify_email', 'x@example.com', $1, 1, now() - $2::interval) returning id`,
        [status, age],
      );
    const old = [...(await insert("sent", "21 days")), ...(await insert("failed", "90 days"))];
    const kept = [...(await insert("sent", "19 days")), ...(await insert("failed", "1 hour"))];
    const line = await runTask("maintenance__purge_email_deliveries");
    expect(line).toMatch(/deleted=2 batches=2/);
    expect(
      await ids(`select id from app_private.email_deliveries where id = any($1)`, [
        [...old, ...kept],
      ]),
    ).toEqual(kept.sort());
  });
});

describe("maintenance__purge_failed_jobs", () => {
  it("deletes jobs that failed for good more than FAILED_JOB_RETENTION_DAYS ago; keeps recent failures and jobs still retrying", async () => {
    // a task this worker does not know: it never runs them, so their state stays as set here
    const job = async (attempts: number, maxAttempts: number, age: string): Promise<string> => {
      const [row] = await sql<{ id: string }>(
        `select id from graphile_worker.add_job('test__never_runs', '{}'::json, max_attempts := $1)`,
        [maxAttempts],
      );
      await sql(
        `update graphile_worker._private_jobs
            set attempts = $2, last_error = 'boom', updated_at = now() - $3::interval
          where id = $1`,
        [row!.id, attempts, age],
      );
      return String(row!.id);
    };
    const old = [await job(3, 3, "6 days"), await job(1, 1, "40 days")];
    const kept = [
      await job(2, 2, "4 days"), // failed, within the retention
      await job(1, 5, "60 days"), // still has attempts left
    ];
    const line = await runTask("maintenance__purge_failed_jobs");
    expect(line).toMatch(/deleted=2 batches=2/);
    expect(
      await ids(`select id from graphile_worker.jobs where id = any($1::bigint[])`, [
        [...old, ...kept],
      ]),
    ).toEqual(kept.sort());
  });
});

describe("maintenance__prune_outbox", () => {
  it("deletes outbox messages last written more than OUTBOX_RETENTION_DAYS ago, nothing else", async () => {
    const day = 86_400_000;
    const file = async (name: string, ageDays: number): Promise<void> => {
      const at = new Date(Date.now() - ageDays * day);
      await writeFile(path.join(worker.outboxDir, name), "From: x\r\n\r\nhello\r\n");
      await utimes(path.join(worker.outboxDir, name), at, at);
    };
    await file("old.eml", 4);
    await file("older.eml", 30);
    await file("recent.eml", 2);
    await file("notes.txt", 30); // not a message: not ours to delete
    const line = await runTask("maintenance__prune_outbox");
    expect(line).toMatch(/deleted=2/);
    expect((await readdir(worker.outboxDir)).sort()).toEqual(["notes.txt", "recent.eml"]);
  });
});

describe("autovacuum settings", () => {
  const reloptions = async (table: string): Promise<string[]> =>
    (
      await sql<{ reloptions: string[] | null }>(
        `select reloptions from pg_class where oid = $1::regclass`,
        [table],
      )
    )[0]?.reloptions ?? [];

  it("vacuums and analyzes the hot tables after a small share of changed rows", async () => {
    expect(await reloptions("app_public.likes")).toEqual(
      expect.arrayContaining([
        "autovacuum_vacuum_scale_factor=0.01",
        "autovacuum_analyze_scale_factor=0.02",
        "autovacuum_vacuum_insert_scale_factor=0.02",
      ]),
    );
    for (const table of ["app_public.notifications", "app_public.messages"]) {
      const options = await reloptions(table);
      for (const key of [
        "autovacuum_vacuum_scale_factor",
        "autovacuum_analyze_scale_factor",
        "autovacuum_vacuum_insert_scale_factor",
      ]) {
        const value = Number(options.find((o) => o.startsWith(`${key}=`))?.split("=")[1]);
        expect({ table, key, below: value > 0 && value < 0.1 }).toEqual({
          table,
          key,
          below: true,
        });
      }
    }
  });

  it("gives the job queue fixed thresholds, restored by the migrate step if they are lost", async () => {
    const want = Object.entries(WORKER_QUEUE_AUTOVACUUM).map(([k, v]) => `${k}=${v}`);
    expect((await reloptions(WORKER_QUEUE_TABLE)).sort()).toEqual([...want].sort());
    // as if graphile-worker had recreated its table in an upgrade
    await sql(
      `alter table ${WORKER_QUEUE_TABLE} reset (${Object.keys(WORKER_QUEUE_AUTOVACUUM).join(", ")})`,
    );
    expect(await reloptions(WORKER_QUEUE_TABLE)).toEqual([]);
    await migrateDatabase({
      ownerUrl: db.ownerUrl,
      authenticator: db.authenticator,
      log: testLogger(),
    });
    expect((await reloptions(WORKER_QUEUE_TABLE)).sort()).toEqual([...want].sort());
  });
});
