/**
 * Counter recounts racing with likes, unlikes and each other (the drift the chaos soak found:
 * a post stored 3 likes while 2 existed after the queue drained). Each case forces one
 * interleaving with row locks held in a connection of its own, waits until the other session is
 * blocked on that lock (pg_stat_activity), then lets the queue drain in the real worker: the
 * stored counters must equal the rows and no job may be left failed.
 *
 * The worker's side is played by hand where the timing matters: taking a job is graphile-worker's
 * get_job (lock, attempts + 1), finishing it deletes the row, a killed worker's jobs are handed
 * back with force_unlock_workers (what src/worker.ts does for a silent pool).
 */
import pg from "pg";

import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { startTestWorker } from "../helpers/worker.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

const FAKE_POOL = "countersRace-test-pool";

async function connect(): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: db.ownerUrl });
  await client.connect();
  return client;
}

async function rows<R extends pg.QueryResultRow>(
  sql: string,
  values: unknown[] = [],
): Promise<R[]> {
  return withClient(db.ownerUrl, async (c) => (await c.query<R>(sql, values)).rows);
}

async function backendPid(client: pg.Client): Promise<number> {
  return (await client.query<{ pid: number }>(`select pg_backend_pid() as pid`)).rows[0]!.pid;
}

/** Resolves once the session `pid` waits for a lock (polls pg_stat_activity; the wait is the event). */
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

/**
 * A user, a post of theirs and `fans` other users, the first `likers` of whom liked it
 * (committed; counters not yet recounted).
 */
async function postWithLikes(
  likers: number,
  fans = likers + 1,
): Promise<{ post: string; fans: string[] }> {
  const users = await rows<{ id: string }>(
    `insert into app_public.users (email)
     select 'race_' || i || '_' || gen_random_uuid() || '@example.com' from generate_series(1, $1) i
     returning id`,
    [fans + 1],
  );
  const [author, ...others] = users.map((u) => u.id) as [string, ...string[]];
  const [post] = await rows<{ id: string }>(
    `insert into app_public.posts (author_id, content) values ($1, 'race') returning id`,
    [author],
  );
  for (const fan of others.slice(0, likers)) {
    await rows(
      `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
      [fan, post!.id],
    );
  }
  return { post: post!.id, fans: others };
}

const LIKE = `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`;
const UNLIKE = `delete from app_public.likes where user_id = $1 and target_type = 'post' and target_id = $2`;
const keyOf = (post: string): string => `recount:posts:${post}`;

/** graphile-worker's get_job for the post's queued recount: lock it, count the attempt. */
const TAKE_JOB = `update graphile_worker._private_jobs
                     set locked_at = now(), locked_by = $2, attempts = attempts + 1
                   where key = $1 and locked_at is null returning id::text`;

/** Runs every queued job in the real worker, then: stored and counted likes, jobs given up. */
async function drained(
  post: string,
): Promise<{ stored: number; counted: number; failed: string[] }> {
  const worker = await startTestWorker(db, { concurrency: 2 });
  try {
    await worker.idle();
  } finally {
    await worker.close();
  }
  const [row] = await rows<{ stored: number; counted: number }>(
    `select p.likes_count as stored,
            (select count(*)::int from app_public.likes l where l.target_type = 'post' and l.target_id = p.id) as counted
       from app_public.posts p where p.id = $1`,
    [post],
  );
  const failed = await rows<{ job: string }>(
    `select format('%s (%s/%s attempts): %s', task_identifier, attempts, max_attempts, coalesce(last_error, 'no error')) as job
       from graphile_worker.jobs where attempts >= max_attempts`,
  );
  return { ...row!, failed: failed.map((f) => f.job) };
}

describe("counters__recount under races", () => {
  afterEach(async () => {
    // a case that failed may leave its jobs behind: each starts from an empty queue
    await rows(`delete from graphile_worker._private_jobs`);
  });

  it("an unlike committed while a worker was taking the post's recount queues another one", async () => {
    const { post, fans } = await postWithLikes(1);
    const worker = await connect();
    const liker = await connect();
    try {
      // the worker is taking the queued recount (its transaction not yet committed) ...
      await worker.query("begin");
      const taken = await worker.query<{ id: string }>(TAKE_JOB, [keyOf(post), FAKE_POOL]);
      expect(taken.rowCount).toBe(1);
      // ... while the unlike queues a recount of the same post: it waits for the job's row
      const likerPid = await backendPid(liker);
      await liker.query("begin");
      const unliked = liker.query(UNLIKE, [fans[0], post]);
      await waitingForLock(likerPid);
      await worker.query("commit");
      await unliked;
      // the taken job counts before the unlike commits (it cannot see it), then finishes
      await rows(`select app_private.recount('posts', $1)`, [post]);
      await liker.query("commit");
      await rows(`delete from graphile_worker._private_jobs where id = $1`, [taken.rows[0]!.id]);
    } finally {
      await worker.end();
      await liker.end();
    }
    expect(await drained(post)).toEqual({ stored: 0, counted: 0, failed: [] });
  });

  it("a running recount whose worker is killed after a like queued a newer one is retried, not given up", async () => {
    const { post, fans } = await postWithLikes(1);
    // a worker takes the recount (committed) and starts on it ...
    const [taken] = await rows<{ id: string }>(TAKE_JOB, [keyOf(post), FAKE_POOL]);
    expect(taken).toBeDefined();
    // ... a second like queues a new recount meanwhile ...
    await rows(LIKE, [fans[1], post]);
    // ... and the worker is killed: another hands its jobs back (src/worker.ts, silent pools)
    await rows(`select graphile_worker.force_unlock_workers($1::text[])`, [[FAKE_POOL]]);
    expect(await drained(post)).toEqual({ stored: 2, counted: 2, failed: [] });
  });

  it("a recount that counted before an unlike cannot overwrite a newer recount's count", async () => {
    const { post, fans } = await postWithLikes(2);
    await rows(`select app_private.recount('posts', $1)`, [post]);
    await rows(LIKE, [fans[2], post]);
    await rows(`delete from graphile_worker._private_jobs`);
    const newer = await connect();
    const older = await connect();
    try {
      // a newer recount holds the post's row ...
      await newer.query("begin");
      await newer.query(`select 1 from app_public.posts where id = $1 for no key update`, [post]);
      // ... when an older one (it counts 3 likes) starts and waits for the row
      const olderPid = await backendPid(older);
      const olderDone = older.query(`select app_private.recount('posts', $1)`, [post]);
      await waitingForLock(olderPid);
      // the third like is taken back; the newer recount counts 2 and commits first
      await rows(UNLIKE, [fans[2], post]);
      await newer.query(`select app_private.recount('posts', $1)`, [post]);
      await newer.query("commit");
      await olderDone;
      const [row] = await rows<{ stored: number }>(
        `select likes_count as stored from app_public.posts where id = $1`,
        [post],
      );
      expect(row!.stored).toBe(2);
    } finally {
      await newer.end();
      await older.end();
    }
    expect(await drained(post)).toEqual({ stored: 2, counted: 2, failed: [] });
  });
});
