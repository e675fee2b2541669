/**
 * Found by the chaos soak (test/ops/soak.test.ts): while PostgreSQL restarted, an API process
 * exited on an unhandled rejection, "Underlying pubsub channel interrupted, terminating
 * connection due to risk of missing messages".
 *
 * PostGraphile's pg subscriber throws that error into every iterator listening when its LISTEN
 * connection breaks; from then on the iterator's `return()` rejects with it too. The hub closed
 * a topic's iterator with `return()` without handling the outcome — when the last subscriber of
 * the topic left while the hub was still ending the topic's subscriptions (an event being
 * decided as the database went away), the rejection went unhandled and Node ended the process.
 *
 * Here, for real: a PgSubscriber on the test database, an event whose audience is still being
 * decided, the LISTEN connection terminated, and the subscriber leaving meanwhile.
 */
import pg from "pg";
import { makePgAdaptorWithPgClient, PgSubscriber } from "postgraphile/adaptors/pg";
import type { GrafastSubscriber } from "postgraphile/grafast";

import { TopicHub, type Audience } from "../../src/realtime/hub.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { testLogger } from "../helpers/log.ts";

let db: TestDatabase;
let pool: pg.Pool;
let subscriber: PgSubscriber;

beforeAll(async () => {
  db = await createTestDatabase();
  pool = new pg.Pool({ connectionString: db.ownerUrl, max: 4 });
  pool.on("error", () => undefined); // the terminated LISTEN connection
  subscriber = new PgSubscriber(pool);
});
afterAll(async () => {
  subscriber.release();
  await pool.end();
  await db.drop();
});

interface Event {
  n: number;
}

/** Rejections no one handled while `fn` ran (and a turn of the event loop after it). */
async function unhandledDuring(fn: () => Promise<void>): Promise<unknown[]> {
  const seen: unknown[] = [];
  const record = (reason: unknown): void => void seen.push(reason);
  process.on("unhandledRejection", record);
  try {
    await fn();
    await new Promise((resolve) => setImmediate(resolve));
    await new Promise((resolve) => setTimeout(resolve, 50));
  } finally {
    process.off("unhandledRejection", record);
  }
  return seen;
}

test("the LISTEN connection breaking while the last subscriber leaves ends the topic quietly", async () => {
  const log = testLogger();
  const hub = new TopicHub({
    subscriber: subscriber as unknown as GrafastSubscriber<Record<string, string>>,
    withPgClient: makePgAdaptorWithPgClient(pool),
    pgSettings: {},
    maxQueued: 10,
    log,
  });
  // the audience of the first event is decided only when the test says so
  let decide!: () => void;
  const decided = new Promise<void>((resolve) => (decide = resolve));
  let deciding!: () => void;
  const asked = new Promise<void>((resolve) => (deciding = resolve));
  const audience: Audience<Event> = async (event, userIds) => {
    deciding();
    await decided;
    return new Map(userIds.map((id) => [id, event]));
  };

  const live = await hub.join<Event>("topic", "hub_listen_lost", audience, "ana");
  const unhandled = await unhandledDuring(async () => {
    await withClient(db.ownerUrl, (c) => c.query(`select pg_notify('hub_listen_lost', '{"n":1}')`));
    await asked;
    const lost = log.next(/lost the LISTEN connection/);
    await withClient(db.superuserUrl, (c) =>
      c.query(
        `select pg_terminate_backend(pid) from pg_stat_activity
          where datname = current_database() and query ilike 'listen%'`,
      ),
    );
    await lost;
    // the subscriber leaves while its topic is still being ended (the first event undecided)
    await live.return?.();
    decide();
  });
  expect(unhandled).toEqual([]);
  expect(hub.topics).toBe(0);

  // the next subscriber listens afresh and hears events
  let confirm!: () => void;
  const next = await hub.join<Event>(
    "topic",
    "hub_listen_lost",
    async (event, userIds) => {
      confirm();
      return new Map(userIds.map((id) => [id, event]));
    },
    "ben",
  );
  const heard = new Promise<void>((resolve) => (confirm = resolve));
  await withClient(db.ownerUrl, (c) => c.query(`select pg_notify('hub_listen_lost', '{"n":2}')`));
  await heard;
  expect(await next.next()).toEqual({ done: false, value: { n: 2 } });
  await next.return?.();
});
