/**
 * Denormalised counters: triggers queue one `counters__recount` per target row, the worker
 * recounts from the source rows, and `counters__verify_all` repairs any drift, nightly.
 */
import type { TestAccount } from "../helpers/accounts.ts";
import { ok, startApi, type Api } from "../helpers/api.ts";
import { withClient } from "../helpers/database.ts";
import { startTestWorker, type TestWorker } from "../helpers/worker.ts";

let api: Api;
let worker: TestWorker;
let ana: TestAccount;

beforeAll(async () => {
  api = await startApi();
  worker = await startTestWorker(api.db, { concurrency: 4, batchSize: 3 });
  ana = await api.register();
});
afterAll(async () => {
  await worker.close();
  await api.close();
});

const one = async (text: string, values: unknown[] = []): Promise<string> =>
  (await api.sql<{ id: string }>(`${text} returning id`, values))[0]!.id;

async function newUsers(n: number): Promise<string[]> {
  const rows = await api.sql<{ id: string }>(
    `insert into app_public.users (email)
     select 'counter_' || i || '_' || gen_random_uuid() || '@example.com' from generate_series(1, $1) i
     returning id`,
    [n],
  );
  return rows.map((r) => r.id);
}

async function postCounters(id: string): Promise<Record<string, number>> {
  const [row] = await api.sql<Record<string, number>>(
    `select likes_count, comments_count, shares_count from app_public.posts where id = $1`,
    [id],
  );
  return row!;
}

describe("counters__recount", () => {
  it("keeps likes_count exact through 200 concurrent likes and unlikes from 50 users, with a handful of recounts", async () => {
    const post = ok<{ publishPost: { post: { id: string } } }>(
      await api.as(ana)(
        `mutation { publishPost(input: { content: "count me", privacyLevel: "public" }) { post { id } } }`,
      ),
    ).publishPost.post.id;
    await worker.idle();
    const fans = await Promise.all(Array.from({ length: 50 }, () => api.register()));
    const recountsBefore = worker.counters.snapshot().get("counters__recount")?.completed ?? 0;

    // 4 operations per user, all at once: like, unlike, like, and a last like or unlike
    const LIKE = `mutation ($p: UUID!) { likePost(input: { postId: $p }) { post { id } } }`;
    const UNLIKE = `mutation ($p: UUID!) { unlikePost(input: { postId: $p }) { post { id } } }`;
    const burstStarted = performance.now();
    const results = await Promise.all(
      fans.map(async (fan, i) => {
        const call = api.as(fan);
        const ops = [LIKE, UNLIKE, LIKE, i % 3 === 0 ? UNLIKE : LIKE];
        for (const op of ops) ok(await call(op, { p: post }));
        return ops.length;
      }),
    );
    expect(results.reduce((a, b) => a + b, 0)).toBe(200);
    const burstMs = performance.now() - burstStarted;

    await worker.idle(["counters__recount"]);
    const [{ likes }] = (await api.sql<{ likes: number }>(
      `select count(*)::int as likes from app_public.likes where target_type = 'post' and target_id = $1`,
      [post],
    )) as [{ likes: number }];
    expect(likes).toBe(50 - Math.ceil(50 / 3)); // every third user ended with an unlike
    expect((await postCounters(post)).likes_count).toBe(likes);

    const recounts =
      (worker.counters.snapshot().get("counters__recount")?.completed ?? 0) - recountsBefore;
    expect(recounts).toBeGreaterThan(0);
    // One job per post, run half a second after it was queued, and a new one queued only once
    // that one has started: at most one recount per 0.5 s of burst, plus the last. However slow
    // the machine (a longer burst allows more), far from one per like (a job per like, or no
    // delay, gives dozens).
    expect(recounts).toBeLessThanOrEqual(Math.floor(burstMs / 500) + 2);
  });

  it("queues one recount per row, half a second later, and keeps that time through a burst", async () => {
    const [u1, u2, u3] = (await newUsers(3)) as [string, string, string];
    const post = await one(`insert into app_public.posts (author_id, content) values ($1, 'q')`, [
      u1,
    ]);
    await worker.idle(["counters__recount"]);
    // inside one transaction, so the worker cannot take the job while we look at it
    const jobs = await withClient(api.db.ownerUrl, async (c) => {
      await c.query("begin");
      try {
        const key = `recount:posts:${post}`;
        const queued = async () =>
          (
            await c.query<{ n: number; delay_ms: number; mode_kept: boolean }>(
              `select count(*)::int as n,
                      max(extract(epoch from run_at - now()) * 1000)::float8 as delay_ms,
                      bool_and(run_at > now() + interval '1 minute') as mode_kept
                 from graphile_worker.jobs where key = $1`,
              [key],
            )
          ).rows[0]!;
        await c.query(
          `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
          [u2, post],
        );
        const first = await queued();
        // an already queued recount that runs later keeps its time (preserve_run_at): a steady
        // stream of likes cannot postpone the recount forever, as 'replace' would
        await c.query(
          `update graphile_worker._private_jobs set run_at = now() + interval '1 hour' where key = $1`,
          [key],
        );
        await c.query(
          `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
          [u3, post],
        );
        return { first, second: await queued() };
      } finally {
        await c.query("rollback");
      }
    });
    expect(jobs.first).toEqual({ n: 1, delay_ms: 500, mode_kept: false });
    expect(jobs.second).toMatchObject({ n: 1, mode_kept: true });
  });

  it("recounts every counter of the design from the source rows", async () => {
    const [u1, u2, u3, u4] = (await newUsers(4)) as [string, string, string, string];
    const group = await one(
      `insert into app_public.groups (name, group_type, created_by) values ('Counted', 'public', $1)`,
      [u1],
    );
    // the creator is the group's admin (trigger); two more active members, one pending, one banned
    await api.sql(
      `insert into app_public.group_members (group_id, user_id, status)
       values ($1, $2, 'active'), ($1, $3, 'active'), ($1, $4, 'pending')`,
      [group, u2, u3, u4],
    );
    const post = await one(
      `insert into app_public.posts (author_id, content, group_id) values ($1, 'in the group', $2)`,
      [u1, group],
    );
    await one(
      `insert into app_public.posts (author_id, content, group_id, deleted_at) values ($1, 'deleted', $2, now())`,
      [u2, group],
    );
    const groupPost = await one(
      `insert into app_public.posts (author_id, content, group_id) values ($1, 'also in the group', $2)`,
      [u3, group],
    );
    const comment = await one(
      `insert into app_public.comments (post_id, author_id, content) values ($1, $2, 'first')`,
      [post, u2],
    );
    await one(
      `insert into app_public.comments (post_id, author_id, content, parent_comment_id) values ($1, $2, 'reply', $3)`,
      [post, u3, comment],
    );
    await one(
      `insert into app_public.comments (post_id, author_id, content, parent_comment_id) values ($1, $2, 'reply 2', $3)`,
      [post, u1, comment],
    );
    for (const u of [u2, u3, u4]) {
      await one(
        `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
        [u, post],
      );
    }
    for (const u of [u1, u3]) {
      await one(
        `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'comment', $2)`,
        [u, comment],
      );
    }
    await one(
      `insert into app_public.posts (author_id, content, shared_post_id) values ($1, '', $2)`,
      [u2, post],
    );
    await one(
      `insert into app_public.posts (author_id, content, shared_post_id, deleted_at) values ($1, '', $2, now())`,
      [u3, post],
    );
    const event = await one(
      `insert into app_public.events (title, start_date, created_by) values ('Counted', now() + interval '1 day', $1)`,
      [u1],
    );
    await api.sql(
      `insert into app_public.event_attendees (event_id, user_id, status)
       values ($1, $2, 'going'), ($1, $3, 'going'), ($1, $4, 'maybe')`,
      [event, u2, u3, u4],
    );
    await api.sql(
      `update app_public.event_attendees set status = 'not_going' where event_id = $1 and user_id = $2`,
      [event, u3],
    );

    await worker.idle(["counters__recount"]);
    expect(await postCounters(post)).toEqual({
      likes_count: 3,
      comments_count: 3,
      shares_count: 1, // the deleted share does not count
    });
    const [c] = await api.sql(
      `select likes_count, replies_count from app_public.comments where id = $1`,
      [comment],
    );
    expect(c).toEqual({ likes_count: 2, replies_count: 2 });
    const [g] = await api.sql(
      `select member_count, post_count from app_public.groups where id = $1`,
      [group],
    );
    expect(g).toEqual({ member_count: 3, post_count: 2 }); // active members; live posts
    const [e] = await api.sql(`select current_attendees from app_public.events where id = $1`, [
      event,
    ]);
    expect(e).toEqual({ current_attendees: 1 }); // going only

    // and back down: an unlike, a deleted reply, a member leaving, a soft-deleted share and
    // group post, an RSVP withdrawn
    await api.sql(`delete from app_public.likes where user_id = $1 and target_id = $2`, [u2, post]);
    await api.sql(
      `delete from app_public.comments where parent_comment_id = $1 and author_id = $2`,
      [comment, u1],
    );
    await api.sql(`delete from app_public.group_members where group_id = $1 and user_id = $2`, [
      group,
      u3,
    ]);
    await api.sql(`update app_public.posts set deleted_at = now() where shared_post_id = $1`, [
      post,
    ]);
    await api.sql(`update app_public.posts set deleted_at = now() where id = $1`, [groupPost]);
    await api.sql(`delete from app_public.event_attendees where event_id = $1 and user_id = $2`, [
      event,
      u2,
    ]);
    await worker.idle(["counters__recount"]);
    expect(await postCounters(post)).toEqual({
      likes_count: 2,
      comments_count: 2,
      shares_count: 0,
    });
    const [c2] = await api.sql(`select replies_count from app_public.comments where id = $1`, [
      comment,
    ]);
    expect(c2).toEqual({ replies_count: 1 });
    const [g2] = await api.sql(
      `select member_count, post_count from app_public.groups where id = $1`,
      [group],
    );
    expect(g2).toEqual({ member_count: 2, post_count: 1 });
    const [e2] = await api.sql(`select current_attendees from app_public.events where id = $1`, [
      event,
    ]);
    expect(e2).toEqual({ current_attendees: 0 });
  });

  it("is idempotent and is not an edit: running it twice changes nothing, updated_at stays", async () => {
    const [u] = (await newUsers(1)) as [string];
    const post = await one(`insert into app_public.posts (author_id, content) values ($1, 'x')`, [
      u,
    ]);
    await one(
      `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
      [u, post],
    );
    await worker.idle(["counters__recount"]);
    const [before] = await api.sql<{ likes_count: number; updated_at: Date }>(
      `select likes_count, updated_at from app_public.posts where id = $1`,
      [post],
    );
    const again = await api.sql<{ changed: boolean }>(
      `select app_private.recount('posts', $1) as changed`,
      [post],
    );
    expect(again).toEqual([{ changed: false }]);
    const [after] = await api.sql(
      `select likes_count, updated_at from app_public.posts where id = $1`,
      [post],
    );
    expect(after).toEqual(before);
    expect(before!.likes_count).toBe(1);
  });
});

describe("counters__verify_all", () => {
  it("repairs drifted counters of every table in batches and logs how many it fixed", async () => {
    const [u] = (await newUsers(1)) as [string];
    const posts: string[] = [];
    for (let i = 0; i < 7; i += 1) {
      posts.push(
        await one(`insert into app_public.posts (author_id, content) values ($1, 'p')`, [u]),
      );
    }
    await one(
      `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
      [u, posts[0]],
    );
    const group = await one(
      `insert into app_public.groups (name, group_type, created_by) values ('Drift', 'public', $1)`,
      [u],
    );
    const comment = await one(
      `insert into app_public.comments (post_id, author_id, content) values ($1, $2, 'c')`,
      [posts[1], u],
    );
    await one(
      `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'comment', $2)`,
      [u, comment],
    );
    const event = await one(
      `insert into app_public.events (title, start_date, created_by) values ('Drift', now() + interval '1 day', $1)`,
      [u],
    );
    await api.sql(
      `insert into app_public.event_attendees (event_id, user_id, status) values ($1, $2, 'going')`,
      [event, u],
    );
    await worker.idle(["counters__recount"]);

    // drift, as a bug or a manual edit would leave it (no trigger queues a recount for these)
    await api.sql(`update app_public.posts set likes_count = 40 where id = any($1)`, [
      posts.slice(0, 5),
    ]);
    await api.sql(`update app_public.groups set member_count = 9 where id = $1`, [group]);
    await api.sql(
      `update app_public.comments set likes_count = 7, replies_count = 3 where id = $1`,
      [comment],
    );
    await api.sql(`update app_public.events set current_attendees = 0 where id = $1`, [event]);

    const done = worker.nextCompletion("counters__verify_all");
    await api.sql(`select graphile_worker.add_job('counters__verify_all', '{}'::json)`);
    expect((await done).error).toBeUndefined();

    expect(
      await api.sql(
        `select likes_count from app_public.posts where id = any($1) order by likes_count`,
        [posts.slice(0, 5)],
      ),
    ).toEqual([0, 0, 0, 0, 1].map((likes_count) => ({ likes_count })));
    expect(
      await api.sql(`select member_count from app_public.groups where id = $1`, [group]),
    ).toEqual([{ member_count: 1 }]);
    expect(
      await api.sql(`select likes_count, replies_count from app_public.comments where id = $1`, [
        comment,
      ]),
    ).toEqual([{ likes_count: 1, replies_count: 0 }]);
    expect(
      await api.sql(`select current_attendees from app_public.events where id = $1`, [event]),
    ).toEqual([{ current_attendees: 1 }]);
    const line = worker.log.lines.find((l) =>
      l.includes("counters__verify_all: 8 rows had drifted"),
    );
    expect(line).toBeDefined();
    expect(line).toMatch(/^warn/);
  });

  it("finds nothing to repair when counters are right", async () => {
    await worker.idle();
    const done = worker.nextCompletion("counters__verify_all");
    await api.sql(`select graphile_worker.add_job('counters__verify_all', '{}'::json)`);
    expect((await done).error).toBeUndefined();
    expect(
      worker.log.lines.some((l) => /^info .*counters__verify_all: 0 rows had drifted/.test(l)),
    ).toBe(true);
  });
});
