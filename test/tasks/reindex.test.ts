/**
 * maintenance__reindex_bloated, run as a real job: an index bloated by mass deletes is rebuilt
 * (a new file, smaller), a healthy one is left alone, a failed rebuild's leftover is dropped, and
 * nothing happens while another rebuild holds the lock.
 */
import { REINDEX_LOCK_KEY } from "../../src/tasks/reindex.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { startTestWorker, type TestWorker } from "../helpers/worker.ts";

let db: TestDatabase;
let worker: TestWorker;

beforeAll(async () => {
  db = await createTestDatabase();
  // indexes of 256 kB and more count here (INDEX_BLOAT_MIN_MB is in megabytes)
  worker = await startTestWorker(db, { reindex: { bloatPercent: 50, minBytes: 256 * 1024 } });
  await sql(`
    create table public.reindex_bloated (id bigint primary key, k bigint not null);
    create index reindex_bloated_k on public.reindex_bloated (k);
    insert into public.reindex_bloated select i, i from generate_series(1, 50000) i;
    create table public.reindex_healthy (id bigint primary key);
    insert into public.reindex_healthy select i from generate_series(1, 50000) i;
    -- nine rows in ten go; the indexes keep their pages
    delete from public.reindex_bloated where id % 10 <> 0;`);
  await sql(`vacuum (analyze) public.reindex_bloated, public.reindex_healthy`);
});
afterAll(async () => {
  await worker.close();
  await db.drop();
});

const sql = <T = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> =>
  withClient(db.ownerUrl, async (c) => (await c.query(text, values)).rows as T[]);

interface IndexFile {
  name: string;
  file: string;
  bytes: number;
}
const indexFiles = async (): Promise<Record<string, IndexFile>> => {
  const rows = await sql<IndexFile>(
    `select c.relname as name, c.relfilenode::text as file, pg_relation_size(c.oid)::int as bytes
       from pg_class c
      where c.relname in ('reindex_bloated_pkey', 'reindex_bloated_k', 'reindex_healthy_pkey')`,
  );
  return Object.fromEntries(rows.map((r) => [r.name, r]));
};

async function runTask(): Promise<string[]> {
  const from = worker.log.lines.length;
  const done = worker.nextCompletion("maintenance__reindex_bloated");
  await sql(`select graphile_worker.add_job('maintenance__reindex_bloated', '{}'::json)`);
  const { error } = await done;
  expect(error).toBeUndefined();
  return worker.log.lines.slice(from);
}

describe("app_private.bloated_indexes", () => {
  it("estimates the emptied indexes as bloated and the full one as not", async () => {
    const rows = await sql<{ index_name: string; bloat_percent: string }>(
      `select index_name, bloat_percent from app_private.bloated_indexes(0, 256 * 1024)
        where table_name like 'reindex_%'`,
    );
    const bloat = Object.fromEntries(rows.map((r) => [r.index_name, Number(r.bloat_percent)]));
    expect(bloat["reindex_bloated_pkey"]).toBeGreaterThan(80);
    expect(bloat["reindex_bloated_k"]).toBeGreaterThan(80);
    expect(bloat["reindex_healthy_pkey"] ?? 0).toBeLessThan(20);
  });
});

describe("maintenance__reindex_bloated", () => {
  it("does nothing while another rebuild holds the lock", async () => {
    const before = await indexFiles();
    const lines = await withClient(db.ownerUrl, async (holder) => {
      await holder.query(`select pg_advisory_lock($1)`, [REINDEX_LOCK_KEY]);
      return runTask();
    });
    expect(lines.join("\n")).toMatch(
      /maintenance__reindex_bloated done .*skipped="another run holds the lock"/,
    );
    expect(await indexFiles()).toEqual(before);
  });

  it("drops what a failed rebuild left, rebuilds the bloated indexes smaller, leaves the healthy one", async () => {
    // a failed concurrent build leaves an invalid index behind, as a failed REINDEX CONCURRENTLY does
    await sql(`insert into public.reindex_bloated values (-1, 10), (-2, 10)`);
    await expect(
      sql(`create unique index concurrently reindex_bloated_k_ccnew on public.reindex_bloated (k)`),
    ).rejects.toThrow(/could not create unique index/);
    expect(
      await sql(
        `select indisvalid from pg_index where indexrelid = 'reindex_bloated_k_ccnew'::regclass`,
      ),
    ).toEqual([{ indisvalid: false }]);

    const before = await indexFiles();
    const lines = await runTask();
    const after = await indexFiles();

    for (const name of ["reindex_bloated_pkey", "reindex_bloated_k"]) {
      expect(after[name]!.file).not.toBe(before[name]!.file);
      expect(after[name]!.bytes).toBeLessThan(before[name]!.bytes / 4);
      expect(
        lines.some(
          (l) => l.startsWith("info  index rebuilt") && l.includes(` index=public.${name} `),
        ),
      ).toBe(true);
    }
    expect(after["reindex_healthy_pkey"]).toEqual(before["reindex_healthy_pkey"]);
    expect(await sql(`select to_regclass('public.reindex_bloated_k_ccnew') as r`)).toEqual([
      { r: null },
    ]);
    expect(lines.join("\n")).toMatch(
      /maintenance__reindex_bloated done .*failed=0 leftoversDropped=1/,
    );
  });
});
