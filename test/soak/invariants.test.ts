/**
 * The soak's job invariant (soak/invariants.ts) against a real database: a job left locked is a
 * failure that names the pool holding it and whether that pool's heartbeat is on record (the
 * clue that traced CI's stuck notifications__create job to a pool killed before its first beat).
 */
import { jobs } from "../../soak/invariants.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db.drop();
});

const q = <R extends Record<string, unknown>>(text: string, values: unknown[] = []) =>
  withClient(db.ownerUrl, async (c) => (await c.query<R>(text, values)).rows);

test("a queue with nothing due holds; a job locked by an unknown pool is named", async () => {
  expect((await jobs(q)).ok).toBe(true);

  const [job] = await q<{ id: string }>(
    `select id::text from graphile_worker.add_job('worker__cleanup', '{}'::json)`,
  );
  await q(
    `update graphile_worker._private_jobs set locked_by = 'ghost-pool', locked_at = now() - interval '90 seconds' where id = $1`,
    [job!.id],
  );
  await q(`select app_private.worker_heartbeat('live-pool', 'h', 1, interval '1 second')`);
  const result = await jobs(q);
  expect(result.ok).toBe(false);
  expect(result.violations).toEqual([
    "1 worker__cleanup jobs due but not done (1 locked)",
    expect.stringMatching(
      /^pool ghost-pool holds 1 of them, locked 9\d s ago; no heartbeat on record$/,
    ),
  ]);

  await q(`update graphile_worker._private_jobs set locked_by = 'live-pool' where id = $1`, [
    job!.id,
  ]);
  expect((await jobs(q)).violations[1]).toMatch(
    /^pool live-pool holds 1 of them, .*last heartbeat \d+ s ago$/,
  );
});
