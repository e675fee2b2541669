/**
 * Keyed jobs queued while a worker holds the key's job (app_private.add_keyed_job, section
 * "keyed jobs" of the migration; found by the chaos soak, #20), through a caller that is not a
 * recount: a password-reset e-mail asked for again while the first one's job is being taken or
 * runs. graphile-worker's own add_job lost the new job in the first case, and gave the running
 * job up (attempts = max_attempts) in the second.
 *
 * The worker's side is played by hand: taking a job is graphile-worker's get_job (lock, attempts
 * + 1); a killed worker's jobs are handed back with force_unlock_workers (src/worker.ts does it
 * for a pool that stopped beating).
 */
import pg from "pg";

import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});
afterEach(async () => {
  await rows(`delete from graphile_worker._private_jobs`);
});

const FAKE_POOL = "keyedJobs-test-pool";
const TAKE_JOB = `update graphile_worker._private_jobs
                     set locked_at = now(), locked_by = $2, attempts = attempts + 1
                   where key = $1 and locked_at is null returning id::text`;
const REQUEST = `select app_hidden.request_password_reset($1)`;

async function rows<R extends pg.QueryResultRow>(
  sql: string,
  values: unknown[] = [],
): Promise<R[]> {
  return withClient(db.ownerUrl, async (c) => (await c.query<R>(sql, values)).rows);
}

async function connect(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: db.ownerUrl });
  await client.connect();
  return client;
}

/** Resolves once the session `pid` waits for a lock (polls pg_stat_activity). */
async function waitingForLock(pid: number): Promise<void> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    const [row] = await rows<{ waiting: boolean }>(
      `select coalesce(wait_event_type = 'Lock', false) as waiting from pg_stat_activity where pid = $1`,
      [pid],
    );
    if (row?.waiting) return;
    if (Date.now() > deadline) throw new Error(`session ${pid} never waited for a lock`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** An active account: its e-mail address and the key of its reset e-mail's job. */
async function account(): Promise<{ email: string; key: string }> {
  const email = `keyed_${Date.now()}_${Math.random().toString(36).slice(2)}@example.com`;
  const [user] = await rows<{ id: string }>(
    `insert into app_public.users (email) values ($1) returning id`,
    [email],
  );
  return { email, key: `send_email:password_reset:${user!.id}` };
}

/** The reset e-mail jobs: attempts and whether they can still run. */
async function jobs(): Promise<{ attempts: number; given_up: boolean }[]> {
  return rows(
    `select attempts, attempts >= max_attempts as given_up from graphile_worker.jobs
      where task_identifier = 'send_email' order by id`,
  );
}

test("asked again while a worker takes the queued e-mail: a new job is queued, none is lost", async () => {
  const { email, key } = await account();
  await rows(REQUEST, [email]);
  const worker = await connect();
  const asker = await connect();
  try {
    // the worker is taking the queued job (not committed yet) ...
    await worker.query("begin");
    expect((await worker.query(TAKE_JOB, [key, FAKE_POOL])).rowCount).toBe(1);
    // ... while the user asks again: that waits for the job's row
    const pid = (await asker.query<{ pid: number }>(`select pg_backend_pid() as pid`)).rows[0]!.pid;
    const asked = asker.query(REQUEST, [email]);
    await waitingForLock(pid);
    await worker.query("commit");
    await asked;
  } finally {
    await worker.end();
    await asker.end();
  }
  // the running one, and the new one queued for after it
  expect(await jobs()).toEqual([
    { attempts: 1, given_up: false },
    { attempts: 0, given_up: false },
  ]);
});

test("asked again while the e-mail's job runs, then its worker dies: the running job is retried, not given up", async () => {
  const { email, key } = await account();
  await rows(REQUEST, [email]);
  expect(await rows(TAKE_JOB, [key, FAKE_POOL])).toHaveLength(1);
  await rows(REQUEST, [email]);
  await rows(`select graphile_worker.force_unlock_workers($1::text[])`, [[FAKE_POOL]]);
  expect(await jobs()).toEqual([
    { attempts: 1, given_up: false },
    { attempts: 0, given_up: false },
  ]);
});
