/**
 * Database metrics (src/metrics/database.ts) after known actions, the slow statements
 * (/debug/statements, `npm run db:top`) and a collection that fails without crashing.
 */
import { tmpdir } from "node:os";

import pg from "pg";

import { metricsIdleTimeoutMs } from "../../src/metrics/database.ts";
import { startMetricsServer, type MetricsServer } from "../../src/metricsServer.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { testLogger, type TestLogger } from "../helpers/log.ts";
import { freePort, startProcess } from "../helpers/process.ts";
import { parseSamples, scrape, type Samples } from "./scrape.ts";

let db: TestDatabase;
let log: TestLogger;
let metrics: MetricsServer;
const BACKUP_AT = new Date("2025-01-02T03:04:05Z");

beforeAll(async () => {
  db = await createTestDatabase();
  log = testLogger();
  metrics = await startMetricsServer({
    host: "127.0.0.1",
    port: 0,
    ownerUrl: db.ownerUrl,
    heartbeatMs: 1000,
    log,
    worker: null,
    database: { intervalMs: 60_000, dataDir: tmpdir(), lastBackupAt: async () => BACKUP_AT },
  });
});
afterAll(async () => {
  await metrics.close();
  await db.drop();
});

const sql = (text: string, values: unknown[] = []) =>
  withClient(db.ownerUrl, async (c) => (await c.query(text, values)).rows);

/** Collects and scrapes until `ready` holds (statistics reach the views asynchronously). */
async function collectUntil(ready: (s: Samples) => boolean, what: string): Promise<Samples> {
  const deadline = Date.now() + 10_000;
  for (;;) {
    await metrics.database!.collect();
    const samples = await scrape(metrics.url);
    if (ready(samples)) return samples;
    if (Date.now() > deadline) throw new Error(`metrics never showed ${what}:\n${samples.text}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe("database metrics", () => {
  it("keep their connections open between two collections or scrapes (no reconnect each time)", async () => {
    // pg closes an idle connection after 10 s by default: before every 15-s collection
    for (const interval of [1_000, 15_000, 60_000, 300_000]) {
      expect([interval, metricsIdleTimeoutMs(interval) > interval + 1_000]).toEqual([
        interval,
        true,
      ]);
    }
    const backends = async () =>
      (
        await sql(
          `select pid, backend_start from pg_stat_activity
            where application_name = 'mking-friend-metrics' and datname = current_database()
            order by pid`,
        )
      ).map((r) => `${r.pid}@${(r.backend_start as Date).toISOString()}`);
    await metrics.database!.collect();
    await scrape(metrics.url);
    const before = await backends();
    expect(before.length).toBeGreaterThan(0);
    await metrics.database!.collect();
    await scrape(metrics.url);
    expect(await backends()).toEqual(before);
  });

  it("report connections by state and role, the longest transaction and sizes", async () => {
    const idle = new pg.Client({ connectionString: db.ownerUrl });
    await idle.connect();
    try {
      await idle.query("begin");
      await idle.query("select 1");
      await metrics.database!.collect();
      const s = await scrape(metrics.url);
      const owner = new URL(db.ownerUrl).username;
      expect(s.value("mking_db_up")).toBe(1);
      expect(
        s.value("mking_db_connections", { state: "idle in transaction", role: owner }),
      ).toBeGreaterThanOrEqual(1);
      expect(s.value("mking_db_longest_transaction_seconds")).toBeGreaterThan(0);
      expect(s.has("mking_db_longest_query_seconds")).toBe(true);
      const database = new URL(db.ownerUrl).pathname.slice(1);
      expect(s.value("mking_db_size_bytes", { database })).toBeGreaterThan(1_000_000);
      expect(s.value("mking_db_table_size_bytes", { table: "app_public.likes" })).toBeGreaterThan(
        0,
      );
      const ratio = s.value("mking_db_cache_hit_ratio");
      expect(ratio).toBeGreaterThan(0);
      expect(ratio).toBeLessThanOrEqual(1);
      expect(s.value("mking_db_xid_age")).toBeGreaterThan(0);
      expect(s.value("mking_db_archive_failed_total")).toBe(0);
      expect(s.has("mking_db_archive_failed_total")).toBe(true);
      expect(s.value("mking_db_standbys")).toBe(0);
      const free = s.value("mking_db_disk_free_ratio");
      expect(free).toBeGreaterThan(0);
      expect(free).toBeLessThanOrEqual(1);
      expect(s.value("mking_backup_last_success_timestamp_seconds")).toBe(
        BACKUP_AT.getTime() / 1000,
      );
      expect(s.value("mking_pg_pool_connections", { pool: "metrics", state: "total" })).toBe(1);
    } finally {
      await idle.end();
    }
  });

  it("size every database that takes connections, through app_private.database_sizes()", async () => {
    // one function, which skips a database dropped while it runs (pg_database_size in a single
    // statement failed the whole collection then: other tests drop their databases as they go)
    const rows = (await sql(
      `select s.database, s.bytes = pg_database_size(s.database) as exact
         from app_private.database_sizes() s`,
    )) as { database: string; exact: boolean }[];
    const names = rows.map((r) => r.database);
    expect(names).toContain(new URL(db.ownerUrl).pathname.slice(1));
    expect(names).not.toContain("template0"); // it takes no connections
    expect(rows.every((r) => r.exact)).toBe(true);
    // what it skips: pg_database_size of a database that is gone raises undefined_object (42704,
    // from its privilege check), a condition the function catches (else this statement fails)
    await sql(
      `do $$ begin
         perform pg_database_size(4000000000::oid);
         raise exception 'pg_database_size of a missing database did not fail';
       exception when undefined_object then null;
       end $$`,
    );
  });

  it("count locks waited on", async () => {
    const holder = new pg.Client({ connectionString: db.ownerUrl });
    const waiter = new pg.Client({ connectionString: db.ownerUrl });
    const observer = new pg.Client({ connectionString: db.ownerUrl });
    await holder.connect();
    await waiter.connect();
    await observer.connect();
    try {
      await holder.query("begin");
      await holder.query("lock table app_public.likes in access exclusive mode");
      const { rows } = await waiter.query<{ pid: number }>("select pg_backend_pid() as pid");
      const blocked = waiter.query("select count(*) from app_public.likes");
      // the cluster is shared with other test files: wait for this waiter itself to wait
      for (;;) {
        // (its own transaction each time: a transaction keeps one pg_stat_activity snapshot)
        const w = await observer.query(
          "select wait_event_type from pg_stat_activity where pid = $1",
          [rows[0]!.pid],
        );
        if (w.rows[0]?.wait_event_type === "Lock") break;
      }
      const s = await collectUntil(
        (x) =>
          x.value("mking_db_locks_waiting") >= 1 && x.value("mking_db_longest_query_seconds") > 0,
        "a lock wait",
      );
      expect(s.value("mking_db_locks_waiting")).toBeGreaterThanOrEqual(1);
      await holder.query("rollback");
      await blocked;
    } finally {
      await holder.end();
      await waiter.end();
      await observer.end();
    }
  });

  it("report dead tuples of the hot tables after deletes", async () => {
    const table = { table: "graphile_worker._private_jobs" };
    await metrics.database!.collect();
    const before = await scrape(metrics.url);
    await sql(
      `select graphile_worker.add_job('test__dead', '{}'::json) from generate_series(1, 25)`,
    );
    await sql(`delete from graphile_worker._private_jobs where task_id in
                 (select id from graphile_worker._private_tasks where identifier = 'test__dead')`);
    const after = await collectUntil(
      (s) =>
        s.value("mking_db_table_dead_tuples", table) >=
        before.value("mking_db_table_dead_tuples", table) + 25,
      "25 more dead tuples",
    );
    expect(after.has("mking_db_table_dead_tuples", { table: "app_public.messages" })).toBe(true);
  });

  it("report clients waiting for a pool's connection", async () => {
    const pool = new pg.Pool({ connectionString: db.ownerUrl, max: 1 });
    const unwatch = metrics.metrics.watchPool("test", pool);
    const held = await pool.connect();
    try {
      const waiting = [pool.query("select 1"), pool.query("select 2")];
      const s = await scrape(metrics.url);
      expect(s.value("mking_pg_pool_connections", { pool: "test", state: "total" })).toBe(1);
      expect(s.value("mking_pg_pool_connections", { pool: "test", state: "idle" })).toBe(0);
      expect(s.value("mking_pg_pool_connections", { pool: "test", state: "waiting" })).toBe(2);
      held.release();
      await Promise.all(waiting);
      const after = await scrape(metrics.url);
      expect(after.value("mking_pg_pool_connections", { pool: "test", state: "waiting" })).toBe(0);
      expect(after.value("mking_pg_pool_connections", { pool: "test", state: "idle" })).toBe(1);
      unwatch();
      expect(
        (await scrape(metrics.url)).has("mking_pg_pool_connections", {
          pool: "test",
          state: "total",
        }),
      ).toBe(false);
    } finally {
      unwatch();
      await pool.end();
    }
  });

  it("leave out what is not known here: free disk without a local data folder, backups, archiving", async () => {
    const remote = await startMetricsServer({
      host: "127.0.0.1",
      port: 0,
      ownerUrl: db.ownerUrl,
      heartbeatMs: 1000,
      log,
      worker: null,
      database: { intervalMs: 60_000, dataDir: null },
    });
    try {
      await remote.database!.collect();
      const s = await scrape(remote.url);
      expect(s.value("mking_db_up")).toBe(1);
      // 0 would read as a full disk, a backup in 1970 and a segment archived just now
      expect(s.has("mking_db_disk_free_ratio")).toBe(false);
      expect(s.has("mking_backup_last_success_timestamp_seconds")).toBe(false);
      expect(s.has("mking_db_archive_last_archived_age_seconds")).toBe(false);
      expect(s.text).toContain("# TYPE mking_db_disk_free_ratio gauge");
    } finally {
      await remote.close();
    }
  });

  it("reports a failed collection as mking_db_up 0 and a warning, without failing the scrape", async () => {
    const port = await freePort();
    // the first collection runs as the endpoint starts
    const warned = log.next(/cannot collect database metrics/);
    const down = await startMetricsServer({
      host: "127.0.0.1",
      port: 0,
      ownerUrl: `postgres://nobody:nothing@127.0.0.1:${port}/none`,
      heartbeatMs: 1000,
      log,
      worker: null,
      database: { intervalMs: 60_000 },
    });
    try {
      const response = await fetch(`${down.url}/metrics`);
      expect(response.status).toBe(200);
      expect(parseSamples(await response.text()).value("mking_db_up")).toBe(0);
      await warned;
    } finally {
      await down.close();
    }
  });
});

describe("slow statements", () => {
  it("/debug/statements lists the statements that took the most time", async () => {
    await sql(`select count(*) from app_public.likes where created_at > now() - interval '1 day'`);
    const response = await fetch(`${metrics.url}/debug/statements?limit=200`);
    expect(response.status).toBe(200);
    const { statements } = (await response.json()) as {
      statements: { query: string; calls: number; meanMs: number; share: number }[];
    };
    expect(statements.length).toBeGreaterThan(0);
    const likes = statements.find((s) =>
      s.query.includes("from app_public.likes where created_at"),
    );
    expect(likes?.calls).toBeGreaterThanOrEqual(1);
    const total = statements.reduce((sum, s) => sum + s.share, 0);
    expect(total).toBeGreaterThan(0);
    expect(total).toBeLessThanOrEqual(1.0001);
  });

  it("`npm run db:top` prints them as a table", async () => {
    const proc = startProcess(["src/db/top.ts", "--limit", "5"], { DATABASE_URL: db.ownerUrl });
    expect(await proc.exited).toBe(0);
    const lines = proc.output().split("\n");
    expect(lines[0]).toMatch(/^calls\s+mean ms\s+p95 ms\*\s+max ms\s+rows\s+share\s+query$/);
    expect(lines[1]).toMatch(/^-+( +-+){6}$/);
    const rows = lines.slice(2).filter((l) => /^\s*\d+\s+\d+\.\d\d\s/.test(l));
    expect(rows.length).toBeGreaterThan(0);
    expect(rows.length).toBeLessThanOrEqual(5);
    expect(rows[0]).toMatch(/\d+\.\d%/);
    expect(proc.output()).toContain("p95 is estimated as mean + 1.645");
  });
});
