/**
 * The scheduled clean-ups of src/crontab, each run as a job on seeded data: what goes, and
 * what must stay.
 */
import { readFile } from "node:fs/promises";

import { parseCrontab } from "graphile-worker";

import { TASK_IDENTIFIERS } from "../../src/tasks/index.ts";
import { CRONTAB_PATH } from "../../src/worker.ts";
import { PROJECT_ROOT } from "../../src/paths.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { startTestWorker, type TestWorker } from "../helpers/worker.ts";
import { asActor, buildWorld, type World } from "../helpers/world.ts";

let db: TestDatabase;
let worker: TestWorker;
let world: World;

beforeAll(async () => {
  db = await createTestDatabase();
  world = await buildWorld(db.ownerUrl);
  worker = await startTestWorker(db);
  await worker.idle();
});
afterAll(async () => {
  await worker.close();
  await db.drop();
});

const sql = <T = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> =>
  withClient(db.ownerUrl, async (c) => (await c.query(text, values)).rows as T[]);
const ids = async (text: string, values: unknown[] = []): Promise<string[]> =>
  (await sql<{ id: string }>(text, values)).map((r) => r.id);
const one = async (text: string, values: unknown[] = []): Promise<string> =>
  (await ids(`${text} returning id`, values))[0]!;

/** Runs a task as the crontab would (a job with an empty payload) and returns its log line. */
async function runTask(task: string): Promise<string> {
  const done = worker.nextCompletion(task);
  await sql(`select graphile_worker.add_job($1, '{}'::json)`, [task]);
  const { error } = await done;
  expect(error).toBeUndefined();
  return worker.log.lines.filter((l) => l.includes(`${task} done`)).at(-1) ?? "";
}

describe("the crontab", () => {
  it("schedules only tasks that exist, and the README documents every task", async () => {
    const items = parseCrontab(await readFile(CRONTAB_PATH, "utf8"));
    const scheduled = items.map((i) => i.task);
    expect(scheduled.length).toBeGreaterThanOrEqual(7);
    for (const task of scheduled) expect(TASK_IDENTIFIERS).toContain(task);
    const readme = await readFile(`${PROJECT_ROOT}/README.md`, "utf8");
    for (const task of TASK_IDENTIFIERS) expect(readme).toContain(`\`${task}\``);
    // the worker registered the schedule
    const known = await sql<{ identifier: string }>(
      `select identifier from graphile_worker._private_known_crontabs`,
    );
    expect(known.map((k) => k.identifier).sort()).toEqual([...new Set(scheduled)].sort());
  });
});

describe("maintenance__cleanup_orphans", () => {
  it("deletes likes whose post or comment is gone, and only those", async () => {
    const { olga, fred } = world.user;
    const orphans = [
      await one(
        `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', gen_random_uuid())`,
        [fred],
      ),
      await one(
        `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'comment', gen_random_uuid())`,
        [olga],
      ),
    ];
    const before = await ids(`select id from app_public.likes`);
    const line = await runTask("maintenance__cleanup_orphans");
    expect(line).toMatch(/likes_deleted=2/);
    expect((await ids(`select id from app_public.likes`)).sort()).toEqual(
      before.filter((id) => !orphans.includes(id)).sort(),
    );
    expect(
      await ids(`select id from app_public.likes where id = $1`, [
        world.row["like.fred_public_post"],
      ]),
    ).toHaveLength(1);
  });
});

describe("maintenance__purge_secrets", () => {
  it("purges tokens expired, used or revoked over a day ago and old failed sign-ins; keeps the rest", async () => {
    const { olga } = world.user;
    const refresh = async (extra: string): Promise<string> =>
      one(
        `insert into app_private.refresh_tokens (user_id, family_id, token_hash, expires_at, revoked_at)
         values ($1, gen_random_uuid(), gen_random_uuid()::text, ${extra}) `,
        [olga],
      );
    const gone = [
      await refresh(`now() - interval '2 days', null`),
      await refresh(`now() + interval '5 days', now() - interval '2 days'`),
    ];
    const kept = [
      await refresh(`now() - interval '1 hour', null`), // just expired: kept a day (reuse detection)
      await refresh(`now() + interval '5 days', null`),
    ];
    const userToken = async (expires: string, used: string): Promise<string> =>
      one(
        `insert into app_private.user_tokens (user_id, kind, token_hash, expires_at, used_at)
         values ($1, 'password_reset', gen_random_uuid()::text, ${expires}, ${used})`,
        [olga],
      );
    const tokenGone = [
      await userToken(`now() - interval '3 days'`, "null"),
      await userToken(`now() + interval '1 hour'`, `now() - interval '2 days'`),
    ];
    const tokenKept = await userToken(`now() + interval '1 hour'`, "null");
    await sql(
      `insert into app_private.login_attempts (key, attempted_at) values ('email:old@x', now() - interval '2 days'), ('email:new@x', now())`,
    );

    const line = await runTask("maintenance__purge_secrets");
    expect(line).toMatch(/refresh_tokens=2 user_tokens=2 login_attempts=1/);
    expect(
      await ids(`select id from app_private.refresh_tokens where id = any($1) order by id`, [
        [...gone, ...kept],
      ]),
    ).toEqual([...kept].sort());
    expect(
      await ids(`select id from app_private.user_tokens where id = any($1)`, [
        [...tokenGone, tokenKept],
      ]),
    ).toEqual([tokenKept]);
    expect(await sql(`select key from app_private.login_attempts`)).toEqual([
      { key: "email:new@x" },
    ]);
  });
});

describe("maintenance__purge_deleted_content", () => {
  it("purges posts and messages soft-deleted before the retention (30 days here), with their comments", async () => {
    const { olga, fred } = world.user;
    const old = await one(
      `insert into app_public.posts (author_id, content, deleted_at) values ($1, 'old', now() - interval '40 days')`,
      [olga],
    );
    const oldComment = await one(
      `insert into app_public.comments (post_id, author_id, content) values ($1, $2, 'on old')`,
      [old, fred],
    );
    const recent = await one(
      `insert into app_public.posts (author_id, content, deleted_at) values ($1, 'recent', now() - interval '10 days')`,
      [olga],
    );
    const conversation = world.row["conversation.direct_olga_fred"];
    const oldMessage = await one(
      `insert into app_public.messages (conversation_id, sender_id, content, is_deleted, deleted_at) values ($1, $2, 'x', true, now() - interval '40 days')`,
      [conversation, olga],
    );
    const recentMessage = await one(
      `insert into app_public.messages (conversation_id, sender_id, content, is_deleted, deleted_at) values ($1, $2, 'y', true, now() - interval '1 day')`,
      [conversation, olga],
    );
    const livePosts = await ids(`select id from app_public.posts where deleted_at is null`);
    await worker.idle();

    const line = await runTask("maintenance__purge_deleted_content");
    expect(line).toMatch(/posts=1 messages=1/);
    expect(
      await ids(`select id from app_public.posts where id = any($1)`, [[old, recent]]),
    ).toEqual([recent]);
    expect(await ids(`select id from app_public.comments where id = $1`, [oldComment])).toEqual([]);
    expect(
      await ids(`select id from app_public.messages where id = any($1)`, [
        [oldMessage, recentMessage],
      ]),
    ).toEqual([recentMessage]);
    expect((await ids(`select id from app_public.posts where deleted_at is null`)).sort()).toEqual(
      livePosts.sort(),
    );
  });
});

describe("maintenance__purge_notifications", () => {
  it("deletes notifications read before the retention (90 days here), never unread ones, and old handled-event records", async () => {
    const { olga, fred } = world.user;
    const note = async (read: string, created: string): Promise<string> =>
      one(
        `insert into app_public.notifications (recipient_id, sender_id, notification_type, title, is_read, read_at, created_at)
         values ($1, $2, 'new_follower', 't', ${read}, ${created})`,
        [olga, fred],
      );
    const oldRead = await note(`true, now() - interval '100 days'`, `now() - interval '120 days'`);
    const recentRead = await note(
      `true, now() - interval '10 days'`,
      `now() - interval '120 days'`,
    );
    const oldUnread = await note(`false, null`, `now() - interval '200 days'`);
    await sql(
      `insert into app_private.handled_notification_events (recipient_id, event_key, handled_at)
       values ($1, 'like:old', now() - interval '100 days'), ($1, 'like:recent', now() - interval '1 day')`,
      [olga],
    );

    const line = await runTask("maintenance__purge_notifications");
    expect(line).toMatch(/notifications_deleted=1/);
    expect(line).toMatch(/handled_events_deleted=1/);
    expect(
      await sql(
        `select event_key from app_private.handled_notification_events
          where recipient_id = $1 and event_key in ('like:old', 'like:recent')`,
        [olga],
      ),
    ).toEqual([{ event_key: "like:recent" }]);
    expect(
      (
        await ids(`select id from app_public.notifications where id = any($1)`, [
          [oldRead, recentRead, oldUnread],
        ])
      ).sort(),
    ).toEqual([recentRead, oldUnread].sort());
  });
});

describe("maintenance__refresh_views", () => {
  it("refreshes trending posts; each reader still sees only the posts they may see", async () => {
    const { fred, stan } = world.user;
    const friendsPost = world.row["post.friends"]!;
    const publicPost = world.row["post.public"]!;
    await sql(
      `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
      [fred, friendsPost],
    );
    await sql(
      `insert into app_public.likes (user_id, target_type, target_id) values ($1, 'post', $2)`,
      [stan, publicPost],
    );
    const before = await ids(`select post_id as id from app_private.trending_post_scores`);
    expect(before).not.toContain(friendsPost);

    await runTask("maintenance__refresh_views");
    const trending = await ids(
      `select post_id as id from app_private.trending_post_scores order by score desc`,
    );
    expect(trending).toEqual(expect.arrayContaining([friendsPost, publicPost]));

    await withClient(db.superuserUrl, async (c) => {
      const asPerson = (who: "fred" | "stan"): Promise<string[]> =>
        asActor(c, world, who, async () =>
          (await c.query<{ id: string }>(`select id from app_public.trending_posts()`)).rows.map(
            (r) => r.id,
          ),
        );
      expect(await asPerson("fred")).toEqual(expect.arrayContaining([friendsPost, publicPost]));
      const forStan = await asPerson("stan");
      expect(forStan).toContain(publicPost);
      expect(forStan).not.toContain(friendsPost);
    });
  });
});
