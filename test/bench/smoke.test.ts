/**
 * The benchmark harness, in miniature (scale 0.01, fractions of a second per figure): the data
 * set generator writes a consistent social graph, and a run measures every scenario on every
 * target, computes the ratios, times the worker and realtime, and captures the SQL. Speeds are
 * not asserted (benchmarks are not tests); that the harness works, is.
 */
import { markdown } from "../../bench/report.ts";
import { runBenchmark, type BenchResult } from "../../bench/run.ts";
import { silentProgress } from "../../bench/seed/progress.ts";
import { seedDatabase, type SeedSummary } from "../../bench/seed/seed.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";

let db: TestDatabase;
let seeded: SeedSummary;
beforeAll(async () => {
  db = await createTestDatabase();
  seeded = await seedDatabase({
    ownerUrl: db.ownerUrl,
    rootUrl: db.superuserUrl,
    scale: 0.01,
    progress: silentProgress,
  });
}, 120_000);
afterAll(() => db.drop());

describe("the data set generator", () => {
  it("writes every table at the asked scale", () => {
    expect(seeded.rows.users).toBe(1000);
    expect(seeded.rows.posts).toBe(10_000);
    expect(seeded.rows.comments).toBe(10_000);
    expect(seeded.rows.messages).toBe(10_000);
    // likes, follows and friendships lose the few random duplicates a unique key refuses
    expect(seeded.rows.likes).toBeGreaterThan(28_000);
    expect(seeded.rows.followers).toBeGreaterThan(9_000);
    for (const [table, n] of Object.entries(seeded.rows)) {
      expect([table, n > 0]).toEqual([table, true]);
    }
  });

  it("leaves every counter equal to a recount from the rows, and triggers on", async () => {
    await withClient(db.ownerUrl, async (client) => {
      for (const table of ["posts", "comments", "groups", "events"]) {
        const { rows } = await client.query<{ fixed: number }>(
          `select fixed from app_private.recount_batch($1, null, 100000)`,
          [table],
        );
        expect([table, rows[0]?.fixed]).toEqual([table, 0]);
      }
      const { rows: disabled } = await client.query<{ n: string }>(
        `select count(*) as n from pg_trigger t join pg_class c on c.oid = t.tgrelid
          join pg_namespace s on s.oid = c.relnamespace
         where s.nspname = 'app_public' and not t.tgisinternal and t.tgenabled <> 'O'`,
      );
      expect(Number(disabled[0]?.n)).toBe(0);
      // seeding queued no jobs and sent no notifications
      const { rows: jobs } = await client.query<{ n: string }>(
        `select count(*) as n from graphile_worker.jobs`,
      );
      expect(Number(jobs[0]?.n)).toBe(0);
    });
  });

  it("refuses a database that already has users, unless asked to reset", async () => {
    await expect(
      seedDatabase({ ownerUrl: db.ownerUrl, scale: 0.01, progress: silentProgress }),
    ).rejects.toThrow(/already has 1000 users; pass --reset/);
  });
});

describe("a benchmark run", () => {
  let result: BenchResult;
  const said: string[] = [];
  beforeAll(async () => {
    result = await runBenchmark({
      ownerUrl: db.ownerUrl,
      authUrl: db.authUrl,
      authenticatorPassword: db.authenticator.password,
      scale: 0.01,
      seconds: 0.3,
      runs: 1,
      overheadRounds: 2,
      concurrency: [2],
      peer: true,
      realtime: { subscribers: 20, membersPerChat: 5, messages: 10 },
      likeSamples: 5,
      viewers: 50,
      deepFeedUsers: 2,
      progress: (line) => said.push(line),
    });
  }, 240_000);

  it("measures every scenario it has fixtures for on our API and the raw baseline, without errors", () => {
    const measured = result.cases.filter((c) => !c.skipped);
    expect(measured.map((c) => c.id)).toEqual(
      expect.arrayContaining([
        "feed_page1",
        "post_detail",
        "profile",
        "like_unlike",
        "send_message",
      ]),
    );
    for (const c of measured) {
      for (const target of ["graphql", "raw"]) {
        const m = c.measurements.find((x) => x.target === target);
        expect([c.id, target, m !== undefined && m.runs[0]!.requests > 0, m?.errors]).toEqual([
          c.id,
          target,
          true,
          0,
        ]);
      }
      expect(c.ratioToRaw["2"]).toBeGreaterThan(0);
    }
  });

  it("measures the read scenarios on PostGraphile 4 too, and computes that ratio", () => {
    for (const c of result.cases.filter((x) => !x.skipped && x.kind === "read")) {
      const m = c.measurements.find((x) => x.target === "pg4");
      expect([c.id, m?.errors, c.ratioToPg4["2"]! > 0]).toEqual([c.id, 0, true]);
    }
    expect(result.machine.postgraphile4).toMatch(/^4\./);
  });

  it("times the worker and realtime delivery", () => {
    expect(result.worker?.likeToNotificationMs.count).toBe(5);
    expect(result.worker?.likeToNotificationMs.missed).toBe(0);
    expect(Object.keys(result.worker?.throughput.jobsCompleted ?? {})).toEqual(
      expect.arrayContaining(["counters__recount", "notifications__create"]),
    );
    expect(result.realtime).toMatchObject({ subscribers: 20, deliveries: 50, missed: 0 });
  });

  it("measures what the session check adds per request, against the cheapest scenario", () => {
    const s = result.sessionCheck;
    expect(s).not.toBeNull();
    expect(result.cases.map((c) => c.id)).toContain(s!.cheapestCase);
    expect(s!.verifyUs).toBeGreaterThan(0);
    expect(s!.verifyAndCheckUs).toBeGreaterThan(0);
    expect(s!.cheapestP50Ms).toBeGreaterThan(0);
    expect(markdown(result)).toContain("**Session check**");
  });

  it("measures the throughput with metrics on against off (the access log on in both), and an A/A control", () => {
    const m = result.metricsOverhead;
    // the harness's reason, when it could not measure
    expect(said.filter((line) => /^metrics in throughput: not measured/.test(line))).toEqual([]);
    expect(m).toBeTruthy();
    expect(result.cases.map((c) => c.id)).toContain(m!.caseId);
    expect(m!.rounds).toBe(2);
    expect(m!.rpsWithMetrics).toBeGreaterThan(0);
    expect(m!.rpsWithout).toBeGreaterThan(0);
    expect(m!.rpsControl).toBeGreaterThan(0);
    expect(m!.budgetPercent).toBe(2);
    expect(markdown(result)).toContain("**Metrics, throughput**");
    expect(markdown(result)).toContain(`A/A control ${m!.controlPercent} %`);
  });

  it("captures the SQL and plans of each read scenario, the same number of statements whatever the page size", () => {
    expect(result.explain.length).toBeGreaterThan(5);
    for (const e of result.explain) {
      expect(e.statements).toBeGreaterThan(0);
      expect(e.graphqlSql.every((s) => /Execution Time/.test(s.plan))).toBe(true);
      expect(e.rawPlans.every((p) => /Execution Time/.test(p))).toBe(true);
      expect([e.scenario, e.statementsSmallPages]).toEqual([e.scenario, e.statements]);
    }
  });

  it("renders the tables with the machine line", () => {
    const md = markdown(result);
    expect(md).toContain(`Machine: ${result.machine.cpus} ×`);
    for (const c of result.cases) expect(md).toContain(`| ${c.id} |`);
  });
});
