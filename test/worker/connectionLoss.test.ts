/**
 * Found by the chaos soak (soak/, `npm run soak`): when PostgreSQL restarts while a job runs, the
 * job's completion fails on the broken connection, graphile-worker stops the runner for good
 * ("worker pool exited with error: Connection terminated unexpectedly"), and the worker process
 * took no more jobs — then exited with code 0, as if asked to. The worker must start a new runner
 * and take jobs again once the database answers.
 */
import { once } from "node:events";

import { databaseNameOf, withUrlParts } from "../../src/db/urls.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { startTestWorker, type TestWorker } from "../helpers/worker.ts";

let db: TestDatabase;
/** As the superuser, from another database (a database cannot bar connections to itself). */
const asRoot = <T>(fn: Parameters<typeof withClient<T>>[1]): Promise<T> =>
  withClient(withUrlParts(db.superuserUrl, { database: "postgres" }), fn);
let worker: TestWorker;
let release!: () => void;
const gate = new Promise<void>((resolve) => (release = resolve));

beforeAll(async () => {
  db = await createTestDatabase();
  worker = await startTestWorker(db, {
    concurrency: 1,
    heartbeatMs: 500,
    extraTasks: { hold: () => gate },
  });
});
afterAll(async () => {
  release();
  await asRoot((c) =>
    c.query(`alter database ${databaseNameOf(db.ownerUrl)} allow_connections true`),
  );
  await worker.close();
  await db.drop();
});

async function queue(task: string): Promise<string> {
  const { rows } = await withClient(db.ownerUrl, (c) =>
    c.query<{ id: string }>(`select id from graphile_worker.add_job($1, '{}'::json)`, [task]),
  );
  return rows[0]!.id;
}

test("a runner stopped by a database outage is replaced, and jobs run again", async () => {
  const firstPool = worker.poolId;
  const started = once(worker.runner.events, "job:start");
  await queue("hold");
  await started;

  // the database goes away while the job runs: sessions cut, no new ones for a while
  const stoppedByItself = worker.log.next(/runner stopped by itself/);
  await asRoot(async (c) => {
    await c.query(`alter database ${databaseNameOf(db.ownerUrl)} allow_connections false`);
    await c.query(
      `select pg_terminate_backend(pid) from pg_stat_activity
        where datname = $1 and application_name = 'mking-friend-worker'`,
      [databaseNameOf(db.ownerUrl)],
    );
  });
  release();
  await stoppedByItself;

  // it comes back
  const restarted = worker.log.next(/worker runner started again/);
  await asRoot((c) =>
    c.query(`alter database ${databaseNameOf(db.ownerUrl)} allow_connections true`),
  );
  await restarted;
  expect(worker.poolId).not.toBe(firstPool);

  const completed = worker.listen();
  const { error } = await completed(await queue("worker__cleanup"));
  expect(error).toBeUndefined();
}, 60_000);
