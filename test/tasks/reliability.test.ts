/**
 * At-least-once delivery without double counting or double notifying: a task that fails once
 * after doing part (or all) of its work is retried to the exact end state, a job that fails
 * while a new event for the same target arrives loses nothing, and a worker process killed
 * with SIGKILL in the middle of a batch has its job handed to another worker, which finishes it
 * exactly.
 */
import { randomUUID } from "node:crypto";
import { hostname } from "node:os";

import type { Task } from "graphile-worker";
import pg from "pg";

import { countersRecount, countersVerifyAll } from "../../src/tasks/counters.ts";
import { notificationsCreate } from "../../src/tasks/notifications.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { startProcess, type RunningProcess } from "../helpers/process.ts";
import { startTestWorker, type TestWorker } from "../helpers/worker.ts";

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

const sql = <T = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> =>
  withClient(db.ownerUrl, async (c) => (await c.query(text, values)).rows as T[]);

async function users(n: number): Promise<string[]> {
  const rows = await sql<{ id: string }>(
    `with u as (
       insert into app_public.users (email)
       select 'r' || i || '_' || gen_random_uuid() || '@example.com' from generate_series(1, $1) i
       returning id)
     insert into app_public.user_profiles (user_id, username, display_name)
     select id, 'r_' || replace(id::text, '-', ''), 'R' from u
     returning user_id as id`,
    [n],
  );
  return rows.map((r) => r.id);
}

/** Posts whose likes_count has drifted (set behind the recount's back). */
async function driftedPosts(n: number): Promise<string[]> {
  const [author, fan] = (await users(2)) as [string, string];
  const rows = await sql<{ id: string }>(
    `insert into app_public.posts (author_id, content) select $1, 'p' || i from generate_series(1, $2) i returning id`,
    [author, n],
  );
  const posts = rows.map((r) => r.id);
  await sql(
    `insert into app_public.likes (user_id, target_type, target_id) select $1, 'post', unnest($2::uuid[])`,
    [fan, posts],
  );
  return posts;
}

const wrongCounts = (posts: string[]) =>
  sql<{ id: string }>(
    `select p.id from app_public.posts p
      where p.id = any($1)
        and p.likes_count <> (select count(*) from app_public.likes l where l.target_type = 'post' and l.target_id = p.id)`,
    [posts],
  );

describe("a task that throws once", () => {
  let worker: TestWorker;
  let attempts = 0;
  /** Rows whose recount jobs crash once, after recounting. */
  const crashRecountOf = new Set<string>();
  const crashedRecounts = new Set<string>();

  beforeAll(async () => {
    const notify = notificationsCreate();
    const verify = countersVerifyAll({ batchSize: 2 });
    const recount = countersRecount();
    const crashAfterRecount: Task = async (payload, helpers) => {
      await recount(payload, helpers);
      const { id } = payload as { id: string };
      if (crashRecountOf.has(id) && !crashedRecounts.has(helpers.job.id)) {
        crashedRecounts.add(helpers.job.id);
        throw new Error("recount crashed after committing");
      }
    };
    // the real tasks, failing on their first attempt after having done their work (or part of it)
    const crashAfterWork: Task = async (payload, helpers) => {
      await notify(payload, helpers);
      attempts += 1;
      if (helpers.job.attempts === 1) throw new Error("crashed after committing");
    };
    const crashMidBatch: Task = async (payload, helpers) => {
      let batches = 0;
      await verify(payload, {
        ...helpers,
        query: async (text, values) => {
          batches += 1;
          if (helpers.job.attempts === 1 && batches === 3) throw new Error("crashed mid-batch");
          return helpers.query(text, values);
        },
      });
    };
    worker = await startTestWorker(db, {
      extraTasks: {
        notifications__create: crashAfterWork,
        counters__verify_all: crashMidBatch,
        counters__recount: crashAfterRecount,
      },
    });
  });
  afterAll(() => worker.close());

  /** Runs a failed job's retry now instead of after its backoff. */
  const retryNow = (jobId: string) =>
    sql(`select graphile_worker.reschedule_jobs(array[$1::bigint], run_at := now())`, [jobId]);

  it("notifications: the retry creates nothing twice", async () => {
    const [ana, ben] = (await users(2)) as [string, string];
    const failed = worker.nextCompletion("notifications__create");
    await sql(
      `insert into app_public.friendships (requester_id, addressee_id, status) values ($1, $2, 'pending')`,
      [ana, ben],
    );
    const first = await failed;
    expect(String(first.error)).toMatch(/crashed after committing/);
    expect(
      await sql(`select count(*)::int as n from app_public.notifications where recipient_id = $1`, [
        ben,
      ]),
    ).toEqual([{ n: 1 }]);

    const retried = worker.nextCompletion("notifications__create");
    await retryNow(first.job.id);
    const second = await retried;
    expect(second.error).toBeUndefined();
    expect(second.job.id).toBe(first.job.id);
    expect(
      await sql(`select count(*)::int as n from app_public.notifications where recipient_id = $1`, [
        ben,
      ]),
    ).toEqual([{ n: 1 }]);
    expect(attempts).toBeGreaterThanOrEqual(2);
  });

  it("notifications: a retried like job after the recipient read the notification notifies nobody twice", async () => {
    const [ana, ben] = (await users(2)) as [string, string];
    const [{ id: post }] = (await sql(
      `insert into app_public.posts (author_id, content) values ($1, 'p') returning id`,
      [ben],
    )) as [{ id: string }];
    const failed = worker.nextCompletion("notifications__create");
    await sql(
      `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
      [ana, post],
    );
    const first = await failed;
    expect(String(first.error)).toMatch(/crashed after committing/);
    // the work was committed; ben reads the notification before the retry comes
    expect(
      await sql(
        `update app_public.notifications set is_read = true, read_at = now() where recipient_id = $1 returning notification_type`,
        [ben],
      ),
    ).toEqual([{ notification_type: "post_like" }]);

    const retried = worker.nextCompletion("notifications__create");
    await retryNow(first.job.id);
    expect((await retried).error).toBeUndefined();
    expect(
      await sql(
        `select notification_type, is_read from app_public.notifications where recipient_id = $1`,
        [ben],
      ),
    ).toEqual([{ notification_type: "post_like", is_read: true }]);
  });

  it("counter recount: a retry after a crash that followed the recount leaves the exact count", async () => {
    await worker.idle();
    const [author, ...fans] = await users(6);
    const [{ id: post }] = (await sql(
      `insert into app_public.posts (author_id, content) values ($1, 'p') returning id`,
      [author],
    )) as [{ id: string }];
    crashRecountOf.add(post);
    const failed = worker.nextCompletion("counters__recount");
    await sql(
      `insert into app_public.likes (user_id, target_type, target_id) select unnest($1::uuid[]), 'post', $2`,
      [fans, post],
    );
    const first = await failed;
    expect(String(first.error)).toMatch(/recount crashed after committing/);
    expect((first.job.payload as { id: string }).id).toBe(post);
    const likes = async () =>
      (
        await sql<{ n: number }>(`select likes_count as n from app_public.posts where id = $1`, [
          post,
        ])
      )[0]!.n;
    expect(await likes()).toBe(5); // done before the crash

    const retried = worker.nextCompletion("counters__recount");
    await retryNow(first.job.id);
    const second = await retried;
    expect(second.error).toBeUndefined();
    expect(second.job.id).toBe(first.job.id);
    expect(await likes()).toBe(5); // recounted, not added to

    // and the counter still follows the likes afterwards
    await sql(`delete from app_public.likes where user_id = $1 and target_id = $2`, [
      fans[0],
      post,
    ]);
    await worker.idle(["counters__recount"]);
    expect(await likes()).toBe(4);
  });

  it("counter verification: the retry finishes what the failed attempt started, exactly", async () => {
    await worker.idle();
    const posts = await driftedPosts(9);
    await worker.idle(["counters__recount"]);
    await sql(`update app_public.posts set likes_count = 100 where id = any($1)`, [posts]);
    expect(await wrongCounts(posts)).toHaveLength(9);

    const failed = worker.nextCompletion("counters__verify_all");
    await sql(`select graphile_worker.add_job('counters__verify_all', '{}'::json)`);
    const first = await failed;
    expect(String(first.error)).toMatch(/crashed mid-batch/);
    const left = (await wrongCounts(posts)).length;
    expect(left).toBeGreaterThan(0); // part done: committed batches stay committed
    expect(left).toBeLessThan(9);

    const retried = worker.nextCompletion("counters__verify_all");
    await retryNow(first.job.id);
    expect((await retried).error).toBeUndefined();
    expect(await wrongCounts(posts)).toEqual([]);
    expect(await sql(`select likes_count from app_public.posts where id = $1`, [posts[0]])).toEqual(
      [{ likes_count: 1 }],
    );
  });
});

describe("a like arriving while its target's notification job runs", () => {
  let worker: TestWorker;
  /** The like whose job waits for `release`, then fails (once). */
  let held: { likeId: string; started: (jobId: string) => void; release: Promise<void> } | null =
    null;

  beforeAll(async () => {
    const notify = notificationsCreate();
    const gated: Task = async (payload, helpers) => {
      const events = payload as { like_id?: string }[];
      const hold = held;
      if (hold && helpers.job.attempts === 1 && events.some((e) => e.like_id === hold.likeId)) {
        hold.started(helpers.job.id);
        await hold.release;
        throw new Error("failed after another like came in");
      }
      await notify(payload, helpers);
    };
    worker = await startTestWorker(db, { extraTasks: { notifications__create: gated } });
  });
  afterAll(() => worker.close());

  it("loses no event: the failed job is retried and both likes are notified", async () => {
    const [ana, ben, cid] = (await users(3)) as [string, string, string];
    const [{ id: post }] = (await sql(
      `insert into app_public.posts (author_id, content) values ($1, 'p') returning id`,
      [ana],
    )) as [{ id: string }];
    let release!: () => void;
    let started!: (jobId: string) => void;
    const running = new Promise<string>((resolve) => (started = resolve));
    held = { likeId: randomUUID(), started, release: new Promise((r) => (release = r)) };
    try {
      const completed = worker.listen();
      await sql(
        `insert into app_public.likes (id, user_id, target_type, target_id) values ($1, $2, 'post', $3)`,
        [held.likeId, ben, post],
      );
      const jobId = await running;
      // a second like of the same post while the first like's job is running
      await sql(
        `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
        [cid, post],
      );
      release();
      expect(String((await completed(jobId)).error)).toMatch(/failed after another like came in/);
      const [job] = await sql<{ attempts: number; max_attempts: number }>(
        `select attempts, max_attempts from graphile_worker.jobs where id = $1`,
        [jobId],
      );
      expect(job!.attempts).toBeLessThan(job!.max_attempts); // still to be retried, not given up
      const retried = worker.listen();
      await sql(`select graphile_worker.reschedule_jobs(array[$1::bigint], run_at := now())`, [
        jobId,
      ]);
      expect((await retried(jobId)).error).toBeUndefined();
    } finally {
      held = null;
      release();
    }
    await worker.idle(["notifications__create"]);
    const rows = await sql<{ data: { count: number; actors: string[] } }>(
      `select data from app_public.notifications where recipient_id = $1 and notification_type = 'post_like'`,
      [ana],
    );
    expect(rows).toHaveLength(1);
    expect(rows[0]!.data.count).toBe(2);
    expect(new Set(rows[0]!.data.actors)).toEqual(new Set([ben, cid]));
  });
});

describe("a worker process killed with SIGKILL mid-batch", () => {
  it("loses its job to a live worker, which finishes it exactly", async () => {
    const posts = await driftedPosts(8);
    const helper = await startTestWorker(db);
    await helper.idle();
    await helper.close(); // counters settled; now nobody but the doomed process runs jobs
    await sql(`update app_public.posts set likes_count = 100 where id = any($1)`, [posts]);

    const doomed = startProcess(["test/fixtures/killable-worker.ts", db.ownerUrl], {});
    try {
      await killMidBatch(doomed, posts);
    } finally {
      doomed.child.kill("SIGKILL");
    }
  });
});

async function killMidBatch(doomed: RunningProcess, posts: string[]): Promise<void> {
  await doomed.waitFor(/WORKER_READY/);
  const [job] = await sql<{ id: string }>(
    `select id::text from graphile_worker.add_job('counters__verify_all', '{}'::json)`,
  );
  await doomed.waitFor(/MID_BATCH/);
  const [locked] = await sql<{ locked_by: string | null; attempts: number }>(
    `select locked_by, attempts from graphile_worker.jobs where id = $1`,
    [job!.id],
  );
  expect(locked!.locked_by).not.toBeNull();
  const [doomedPool] = await sql<{ id: string }>(
    `select id from app_private.worker_instances where id = $1`,
    [locked!.locked_by],
  );
  expect(doomedPool).toBeDefined();
  expect((await wrongCounts(posts)).length).toBeGreaterThan(0);

  doomed.child.kill("SIGKILL");
  expect(await doomed.exited).toBeNull();

  // a live worker (checking every 100 ms) notices that three of its 200 ms beats are missing
  // and takes the job over
  const rescuer = await startTestWorker(db, { heartbeatMs: 100 });
  try {
    await rescuer.idle(["counters__verify_all"]);
    expect(await wrongCounts(posts)).toEqual([]);
    expect(await sql(`select 1 from graphile_worker.jobs where id = $1`, [job!.id])).toEqual([]);
    expect(
      await sql(`select 1 from app_private.worker_instances where id = $1`, [doomedPool!.id]),
    ).toEqual([]);
    const line = rescuer.log.lines.find((l) => l.includes("a worker pool stopped beating"));
    expect(line).toContain(`silentPool=${doomedPool!.id}`);
    expect(line).toContain("jobsReclaimed=1");
    expect(rescuer.counters.snapshot().get("counters__verify_all")?.completed).toBe(1);
  } finally {
    await rescuer.close();
  }
}

describe("a worker process killed before its first heartbeat reached the database", () => {
  // Found by the chaos soak on CI: graphile-worker takes jobs as soon as a pool exists, so a
  // process killed before its first beat was on record left its job locked by an id that no
  // heartbeat had named (graphile-worker's own expiry: four hours).
  it("loses its job to a live worker all the same", async () => {
    const posts = await driftedPosts(8);
    const helper = await startTestWorker(db);
    await helper.idle();
    await helper.close();
    await sql(`update app_public.posts set likes_count = 100 where id = any($1)`, [posts]);
    const [job] = await sql<{ id: string }>(
      `select id::text from graphile_worker.add_job('counters__verify_all', '{}'::json)`,
    );

    // the doomed process's first beat waits behind this lock; its pool takes the job meanwhile
    const blocker = new pg.Client({ connectionString: db.ownerUrl });
    await blocker.connect();
    let doomed: RunningProcess | null = null;
    try {
      await blocker.query(`begin`);
      await blocker.query(`lock table app_private.worker_instances in share mode`);
      doomed = startProcess(["test/fixtures/killable-worker.ts", db.ownerUrl], {});
      await doomed.waitFor(/MID_BATCH/);
      const [locked] = await sql<{ locked_by: string | null }>(
        `select locked_by from graphile_worker.jobs where id = $1`,
        [job!.id],
      );
      expect(locked!.locked_by).not.toBeNull();
      doomed.child.kill("SIGKILL");
      expect(await doomed.exited).toBeNull();
      // its beat dies with it (a killed process's queued statement never arrives)
      await sql(
        `select pg_terminate_backend(pid) from pg_stat_activity
          where datname = current_database() and application_name = 'mking-friend-worker'
            and wait_event_type = 'Lock'`,
      );
      await blocker.query(`rollback`);
      expect(
        await sql(`select 1 from app_private.worker_instances where id = $1`, [locked!.locked_by]),
      ).toEqual([]);

      const rescuer = await startTestWorker(db, { heartbeatMs: 100 });
      try {
        await rescuer.idle(["counters__verify_all"]);
        expect(await wrongCounts(posts)).toEqual([]);
        expect(await sql(`select 1 from graphile_worker.jobs where id = $1`, [job!.id])).toEqual(
          [],
        );
        const line = rescuer.log.lines.find((l) => l.includes("never beat holds jobs"));
        expect(line).toContain(`unannouncedPool=${locked!.locked_by}`);
        expect(line).toContain("jobsReclaimed=1");
      } finally {
        await rescuer.close();
      }
    } finally {
      doomed?.child.kill("SIGKILL");
      await blocker.end();
    }
  });

  it("is told apart from a pool just born and from a pool on record", async () => {
    // the state a pool leaves: its lock on a job (set here as graphile-worker sets it)
    const [job] = await sql<{ id: string }>(
      `select id::text from graphile_worker.add_job('worker__cleanup', '{}'::json, run_at := now() + interval '1 hour')`,
    );
    const lockedFor = (pool: string, age: string) =>
      sql(
        `update graphile_worker._private_jobs set locked_by = $2, locked_at = now() - $3::interval where id = $1`,
        [job!.id, pool, age],
      );
    const unannounced = async (): Promise<string[]> =>
      (
        await sql<{ id: string }>(
          `select id from app_private.unannounced_worker_pools(3, interval '1 second') id`,
        )
      ).map((r) => r.id);
    try {
      await lockedFor("newborn-pool", "2 seconds"); // younger than three beats of one second
      expect(await unannounced()).toEqual([]);
      await lockedFor("newborn-pool", "4 seconds");
      expect(await unannounced()).toEqual(["newborn-pool"]);
      // a slower pool on record makes everyone wait for three of its beats
      await sql(`select app_private.worker_heartbeat('slow-pool', 'h', 1, interval '10 seconds')`);
      expect(await unannounced()).toEqual([]);
      await lockedFor("slow-pool", "1 hour"); // on record: the silent-pool check's business
      expect(await unannounced()).toEqual([]);
    } finally {
      await sql(`delete from app_private.worker_instances where id = 'slow-pool'`);
      await sql(`select graphile_worker.force_unlock_workers(array['newborn-pool', 'slow-pool'])`);
      await sql(`select graphile_worker.permanently_fail_jobs(array[$1::bigint])`, [job!.id]);
    }
  });
});

describe("worker pools", () => {
  it("register with a heartbeat while running, and deregister when stopped", async () => {
    const worker = await startTestWorker(db, { concurrency: 3, heartbeatMs: 100 });
    const [row] = await sql<{ pid: number; hostname: string }>(
      `select pid, hostname from app_private.worker_instances where id = $1`,
      [worker.poolId],
    );
    expect(row).toEqual({ pid: process.pid, hostname: hostname() });
    expect(worker.lastHeartbeatAt()).not.toBeNull();
    await worker.close();
    expect(
      await sql(`select 1 from app_private.worker_instances where id = $1`, [worker.poolId]),
    ).toEqual([]);
  });
});
