/**
 * The growth run (`npm run bench -- --scales …`), in miniature: one database per scale, each
 * seeded once and reused while the schema is the same, the read cases measured and explained at
 * each scale, and the growth table (SQL at the largest scale over the smallest, flagged above
 * 1.5×) written as JSON and Markdown. Speeds are not asserted; that the harness works, is.
 */
import { mkdtemp, readdir, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import pg from "pg";

import { READ_CASE_IDS, runGrowth } from "../../bench/growth.ts";
import {
  GROWTH_LIMIT,
  growthMarkdown,
  growthRows,
  writeGrowthReport,
  type GrowthResult,
} from "../../bench/growthReport.ts";
import { benchDatabaseName, ensureSeeded } from "../../bench/harness/benchDatabase.ts";
import type { BenchResult, CaseResult } from "../../bench/run.ts";
import { withUrlParts } from "../../src/db/urls.ts";
import { createLogger } from "../../src/log.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { testCluster } from "../helpers/env.ts";

const log = createLogger({ level: "error", json: false });
const quiet = (): void => undefined;

/** A result with one read case measured at c=8 and explained with the given SQL time. */
function resultWith(cases: { id: string; sqlMs: number | null }[]): BenchResult {
  const plan = (ms: number): string => `Seq Scan\nExecution Time: ${ms} ms`;
  const measured = (id: string, skipped: boolean): CaseResult => ({
    id,
    title: id,
    kind: "read",
    skipped: skipped ? "no fixture" : null,
    failures: {},
    measurements: skipped
      ? []
      : [
          {
            target: "graphql",
            connections: 8,
            rps: 100,
            p50: 4,
            p95: 9,
            p99: 12,
            errors: 0,
            runs: [],
          },
        ],
    ratioToRaw: {},
    ratioToPg4: {},
  });
  return {
    date: "2026-11-30T00:00:00.000Z",
    machine: {
      cpus: 2,
      cpuModel: "cpu",
      memoryGiB: 1,
      node: "v24",
      postgres: "PG",
      postgraphile4: null,
    },
    options: {} as BenchResult["options"],
    rows: { users: 10, posts: 20 },
    cases: cases.map((c) => measured(c.id, c.sqlMs === null)),
    worker: null,
    realtime: null,
    sessionCheck: null,
    metricsOverhead: null,
    explain: cases
      .filter((c) => c.sqlMs !== null)
      .map((c) => ({
        scenario: c.id,
        statements: 1,
        statementsSmallPages: 1,
        graphqlSql: [{ sql: "select 1", plan: plan(c.sqlMs!) }],
        rawPlans: [plan(c.sqlMs! / 2)],
      })),
  };
}

describe("the growth table", () => {
  const small = resultWith([
    { id: "flat", sqlMs: 2 },
    { id: "grows", sqlMs: 2 },
    { id: "only_large", sqlMs: null },
  ]);
  const large = resultWith([
    { id: "flat", sqlMs: 2.9 },
    { id: "grows", sqlMs: 3.2 },
    { id: "only_large", sqlMs: 5 },
  ]);

  it("divides SQL at the largest scale by the smallest and flags growth above 1.5×", () => {
    // scales given out of order: the ratio is still largest over smallest
    const rows = growthRows(
      [
        { scale: 3, result: large },
        { scale: 0.1, result: small },
      ],
      8,
    );
    expect(GROWTH_LIMIT).toBe(1.5);
    expect(rows.map((r) => [r.id, r.sqlRatio, r.flagged])).toEqual([
      ["flat", 1.45, false],
      ["grows", 1.6, true],
      ["only_large", null, false],
    ]);
    expect(rows[0]!.cells["0.1"]).toEqual({
      rps: 100,
      p50: 4,
      p95: 9,
      sqlMs: 2,
      rawSqlMs: 1,
      statements: 1,
    });
    expect(rows[2]!.cells["0.1"]).toBeNull();
  });

  it("renders a block with the data sets, every case at every scale and the flagged ones", () => {
    const perScale = [
      {
        scale: 0.1,
        result: small,
        database: "x_bench_s0_1",
        seeded: true,
        seedSeconds: 12,
        databaseBytes: 2 ** 20,
      },
      {
        scale: 3,
        result: large,
        database: "x_bench_s3",
        seeded: false,
        seedSeconds: 700,
        databaseBytes: 2 ** 30,
      },
    ];
    const g: GrowthResult = {
      date: "2026-11-30T10:00:00.000Z",
      scales: [0.1, 3],
      connections: 8,
      seconds: 3,
      runs: 1,
      explainSamples: 5,
      limit: GROWTH_LIMIT,
      totalSeconds: 600,
      machine: small.machine,
      perScale,
      rows: growthRows(perScale, 8),
    };
    const md = growthMarkdown(g);
    expect(md).toContain("| 0.1 | 10 | 20 |");
    expect(md).toContain("| 1 MB | 12 s |");
    expect(md).toContain("| 1,024 MB | 700 s (reused) |");
    expect(md).toContain("| flat | 4 / 9 (2) | 4 / 9 (2.9) | 1.45× |");
    expect(md).toContain("| grows | 4 / 9 (2) | 4 / 9 (3.2) | **1.6× ⚠** |");
    expect(md).toContain("| only_large | – | 4 / 9 (5) | – |");
    expect(md).toContain("Growing more than 1.5× from scale 0.1 to 3: grows");
  });

  it("names one database per scale, and keeps the single-scale name", () => {
    const url = "postgres://o:p@127.0.0.1:5432/app";
    expect(benchDatabaseName(url, 1, false)).toBe("app_bench");
    expect(benchDatabaseName(url, 0.1, true)).toBe("app_bench_s0_1");
    expect(benchDatabaseName(url, 3, true)).toBe("app_bench_s3");
  });
});

describe("seeding once per scale", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  });
  afterAll(() => db.drop());

  it("seeds a database that holds nothing, reuses it at the same scale, re-seeds at another", async () => {
    const o = {
      ownerUrl: db.ownerUrl,
      rootUrl: db.superuserUrl,
      authenticator: db.authenticator,
      log,
      say: quiet,
      progress: false,
    };
    const first = await ensureSeeded({ ...o, scale: 0.002 });
    expect(first.seeded).toBe(true);
    expect(first.seedSeconds).toBeGreaterThan(0);
    const again = await ensureSeeded({ ...o, scale: 0.002 });
    // reused, and the time it took is remembered
    expect(again).toEqual({ seeded: false, seedSeconds: Math.round(first.seedSeconds! * 10) / 10 });
    const other = await ensureSeeded({ ...o, scale: 0.003 });
    expect(other.seeded).toBe(true);
    await withClient(db.ownerUrl, async (client) => {
      const { rows } = await client.query<{ n: string }>(
        "select count(*) as n from app_public.posts",
      );
      expect(Number(rows[0]?.n)).toBe(3000);
    });
  }, 180_000);
});

describe("a growth run over two scales", () => {
  const cluster = testCluster();
  const base = `mking_growth_${process.pid}`;
  const ownerUrl = (database: string): string => {
    const u = new URL(cluster.superuserUrl);
    u.username = cluster.owner.role;
    u.password = cluster.owner.password;
    u.pathname = `/${database}`;
    return u.toString();
  };
  const db = {
    ownerUrl: ownerUrl(base),
    rootUrl: cluster.superuserUrl,
    authenticator: cluster.authenticator,
  };
  const created = [0.004, 0.008].map((s) => benchDatabaseName(db.ownerUrl, s, true));
  let dir: string;
  let growth: GrowthResult;
  let reused: GrowthResult;
  let said: string[];

  beforeAll(async () => {
    dir = await mkdtemp(path.join(os.tmpdir(), "growth-"));
    const run = async (scenarios?: string[]): Promise<GrowthResult> => {
      said = [];
      return runGrowth({
        ...(scenarios ? { scenarios } : {}),
        db,
        scales: [0.008, 0.004],
        connections: 2,
        seconds: 0.3,
        runs: 1,
        explainSamples: 3,
        viewers: 30,
        deepFeedUsers: 1,
        log,
        say: (line) => said.push(line),
      });
    };
    growth = await run();
    // the second run (one case, to be quick) reuses both data sets
    reused = await run(["profile"]);
  }, 600_000);

  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    const client = new pg.Client({ connectionString: cluster.superuserUrl });
    await client.connect();
    try {
      for (const name of created) {
        await client.query(`drop database if exists ${pg.escapeIdentifier(name)} with (force)`);
      }
    } finally {
      await client.end();
    }
  });

  it("keeps one database per scale and reuses each on the next run", async () => {
    expect(growth.perScale.map((s) => [s.scale, s.database, s.seeded])).toEqual([
      [0.004, created[0], true],
      [0.008, created[1], true],
    ]);
    expect(reused.perScale.map((s) => [s.scale, s.database, s.seeded])).toEqual([
      [0.004, created[0], false],
      [0.008, created[1], false],
    ]);
    expect(reused.rows.map((r) => r.id)).toEqual(["profile"]);
    expect(said.filter((l) => l.startsWith("reusing"))).toHaveLength(2);
    expect(said.some((l) => l.startsWith("seeding"))).toBe(false);
    for (const s of reused.perScale) {
      expect(s.seedSeconds).toBeGreaterThan(0);
      expect(s.databaseBytes).toBeGreaterThan(0);
      // counted exactly: result.rows comes from the statistics (n_live_tup), which may lag
      const posts = await withClient(withUrlParts(db.ownerUrl, { database: s.database }), (c) =>
        c.query<{ n: string }>("select count(*) as n from app_public.posts"),
      );
      expect(Number(posts.rows[0]!.n)).toBe(s.scale === 0.004 ? 4000 : 8000);
    }
  });

  it("measures and explains every read case it has fixtures for at each scale, and no writes", () => {
    for (const s of growth.perScale) {
      const ids = s.result.cases.map((c) => c.id);
      expect(ids).toEqual(READ_CASE_IDS);
      for (const c of s.result.cases.filter((x) => !x.skipped)) {
        const m = c.measurements.find((x) => x.target === "graphql" && x.connections === 2);
        expect([c.id, m !== undefined && m.runs[0]!.requests > 0, m?.errors]).toEqual([
          c.id,
          true,
          0,
        ]);
        const e = s.result.explain.find((x) => x.scenario === c.id);
        expect([c.id, e?.samples?.length]).toEqual([c.id, 3]);
      }
    }
    const row = growth.rows.find((r) => r.id === "feed_page1")!;
    expect(row.cells["0.004"]?.sqlMs).toBeGreaterThan(0);
    expect(row.cells["0.008"]?.sqlMs).toBeGreaterThan(0);
    expect(row.sqlRatio).toBeGreaterThan(0);
  });

  it("writes the table as JSON and as a Markdown block, and the plans per scale", async () => {
    const written = await writeGrowthReport(growth, dir);
    expect(path.basename(written.json)).toMatch(/^growth-.*\.json$/);
    const json = JSON.parse(await readFile(written.json, "utf8")) as GrowthResult;
    expect(json.rows.map((r) => r.id)).toEqual(growth.rows.map((r) => r.id));
    const md = await readFile(written.markdown, "utf8");
    expect(md).toContain("| scenario | scale 0.004 | scale 0.008 | SQL 0.008 / 0.004 |");
    expect(md).toContain("| feed_page1 |");
    expect(await readdir(written.plans)).toEqual(["s0_004", "s0_008"]);
    expect(await readdir(path.join(written.plans, "s0_004"))).toContain("feed_page1.md");
  });
});
