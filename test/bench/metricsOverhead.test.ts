/**
 * The throughput measurement of metrics (bench/harness/metricsOverhead.ts): its plan (every
 * order of the roles, an A/A control, the access log on in every role as by default), its
 * arithmetic (medians of paired per-round ratios, not ratios of medians, with the sign test's
 * interval), its verdict (the interval against the budget, never trusted when the A/A control's
 * interval leaves out 0) and its report lines; and, in miniature against a real API, that each run is a fresh instance whose
 * output goes to a file, and that every instance logged every request.
 * Speeds are not asserted.
 */
import { existsSync, readFileSync, readlinkSync, readdirSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { sharesInWindows, type CpuProfile } from "../../bench/harness/cpuProfile.ts";
import {
  measureMetricsOverhead,
  metricsOverheadOf,
  profileFiguresOf,
  scrapesInSlice,
  splitOf,
} from "../../bench/harness/metricsOverhead.ts";
import {
  BALANCED_ROUNDS,
  ROLE_SETTINGS,
  ROLES,
  roundOrder,
  summariseRounds,
  verdictOf,
  type Round,
} from "../../bench/harness/overheadRounds.ts";
import { startApi } from "../../bench/harness/processes.ts";
import { medianInterval } from "../../bench/harness/stats.ts";
import { metricsOverheadLines } from "../../bench/overheadReport.ts";
import { markdown } from "../../bench/report.ts";
import type { BenchResult } from "../../bench/run.ts";
import { frame } from "../helpers/cpuProfile.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { TEST_JWT_SECRET } from "../helpers/server.ts";

const roundOf = (r: number, off: number, control: number, metrics: number): Round => ({
  order: roundOrder(r),
  rps: { off, control, metrics },
});

// per round, metrics on against off: 10 %, 1 %, 25 % (median 10 %); the medians of the rps
// (800 and 600) would say 25 %. The control: −1 %, 2 %, 0 %.
const ROUNDS: Round[] = [
  roundOf(0, 1000, 1010, 900),
  roundOf(1, 600, 588, 594),
  roundOf(2, 800, 800, 600),
];

describe("the plan", () => {
  test("the roles differ only in METRICS_PORT: the access log is on in all, as by default", () => {
    expect(ROLE_SETTINGS).toEqual({
      off: { metrics: false, accessLog: true },
      control: { metrics: false, accessLog: true },
      metrics: { metrics: true, accessLog: true },
    });
  });

  test("six rounds run every order of off, the A/A control and metrics on once", () => {
    const orders = Array.from({ length: BALANCED_ROUNDS }, (_, r) => roundOrder(r));
    for (const order of orders) expect([...order].sort()).toEqual([...ROLES].sort());
    expect(new Set(orders.map((o) => o.join())).size).toBe(6);
    // each role in each position twice, and before each other role as often as after it
    for (const role of ROLES) {
      for (let position = 0; position < ROLES.length; position++) {
        expect([role, position, orders.filter((o) => o[position] === role).length]).toEqual([
          role,
          position,
          2,
        ]);
      }
      for (const other of ROLES.filter((x) => x !== role)) {
        const before = orders.filter((o) => o.indexOf(role) < o.indexOf(other)).length;
        expect([role, other, before]).toEqual([role, other, 3]);
      }
    }
    // and round 7 starts over
    expect(roundOrder(6)).toEqual(roundOrder(0));
  });
});

describe("the scrapes of the metrics instance", () => {
  test("fall inside its own slices, one every 15 s of its loaded time, at the round's phase", () => {
    expect(scrapesInSlice(0, 2, 1000)).toEqual([1000]);
    expect(scrapesInSlice(0, 2, 5000)).toEqual([]);
    // its 8th slice covers loaded seconds 14 … 16: the scrape at 15.5 s is 1.5 s into it
    expect(scrapesInSlice(14, 2, 500)).toEqual([1500]);
    expect(scrapesInSlice(14, 2, 2000)).toEqual([]); // 17 s: the next slice's
    expect(scrapesInSlice(16, 2, 2000)).toEqual([1000]);
    expect(scrapesInSlice(0, 40, 0)).toEqual([0, 15_000, 30_000]);
  });
});

describe("the sign test's interval of a median", () => {
  const ranks = (n: number): number[] => Array.from({ length: n }, (_, i) => n - i); // n … 1
  test("is the k-th smallest and k-th largest value, k from Binomial(n, ½)", () => {
    // n = 6: P(X = 0) = 1/64, twice 3.1 % ≤ 5 %; P(X ≤ 1) = 7/64, twice 21.9 % > 5 %: k = 1
    expect(medianInterval(ranks(6))).toEqual({ low: 1, high: 6, confidence: 1 - 2 / 64 });
    // n = 10: P(X ≤ 1) = 11/1024 (2.1 % twice), P(X ≤ 2) = 56/1024 (10.9 % twice): k = 2
    expect(medianInterval(ranks(10))).toEqual({ low: 2, high: 9, confidence: 1 - 22 / 1024 });
    // n = 18: P(X ≤ 4) = 4048/262144 (3.1 % twice), P(X ≤ 5) = 16616/262144 (12.7 %): k = 5
    expect(medianInterval(ranks(18))).toEqual({
      low: 5,
      high: 14,
      confidence: 1 - (2 * 4048) / 262144,
    });
    // n = 20: P(X ≤ 5) = 21700/1048576 (4.1 % twice), P(X ≤ 6) = 60460/1048576 (11.5 %): k = 6
    expect(medianInterval(ranks(20))).toEqual({
      low: 6,
      high: 15,
      confidence: 1 - (2 * 21700) / 1048576,
    });
  });

  test("needs six values at 95 %, fewer at a lower confidence", () => {
    expect(medianInterval(ranks(5))).toBeNull();
    expect(medianInterval([])).toBeNull();
    expect(medianInterval(ranks(5), 0.9)).toEqual({ low: 1, high: 5, confidence: 1 - 2 / 32 });
  });

  test("sorts the values itself and keeps the input as it was", () => {
    const values = [3, -1, 7, 0, 2, 5];
    expect(medianInterval(values)).toMatchObject({ low: -1, high: 7 });
    expect(values).toEqual([3, -1, 7, 0, 2, 5]);
  });
});

describe("the arithmetic", () => {
  test("the figures are medians of the per-round ratios to off, with their ranges", () => {
    const s = summariseRounds(ROUNDS, 2);
    expect(s.overhead).toEqual({
      medianPercent: 10,
      minPercent: 1,
      maxPercent: 25,
      interval: null,
      perRound: [10, 1, 25],
    });
    expect(s.control).toEqual({
      medianPercent: 0,
      minPercent: -1,
      maxPercent: 2,
      interval: null,
      perRound: [-1, 2, 0],
    });
    expect(s.noisePercent).toBe(2);
    // three rounds are too few for an interval: whatever the median, no verdict
    expect(s.verdict).toBe("not resolved");
    expect(s.reason).toBe("too few rounds");
  });

  // six rounds of metrics on against off at `metrics` percent slower, the control at `control`
  const sixRounds = (metrics: number[], control: number[]): Round[] =>
    metrics.map((p, r) => roundOf(r, 1000, 1000 * (1 - control[r]! / 100), 1000 * (1 - p / 100)));

  test("under budget when the whole interval is below it, over when above", () => {
    const fairControl = [-3, 2, -1, 4, 0.5, -2];
    const under = summariseRounds(sixRounds([0.5, 1.5, -2, 1, 0, 1.9], fairControl), 2);
    expect(under.overhead.interval).toEqual({
      lowPercent: -2,
      highPercent: 1.9,
      confidencePercent: 96.9,
    });
    expect([under.fair, under.verdict, under.reason]).toEqual([true, "under budget", "interval"]);
    const over = summariseRounds(sixRounds([2.5, 3, 9, 4, 2.1, 5], fairControl), 2);
    expect([over.fair, over.verdict]).toEqual([true, "over budget"]);
  });

  test("not resolved when the interval holds the budget, though the median is below it", () => {
    const s = summariseRounds(sixRounds([0.5, 1.5, -2, 1, 0, 2.5], [-3, 2, -1, 4, 0.5, -2]), 2);
    expect(s.overhead.medianPercent).toBe(0.8);
    expect([s.verdict, s.reason]).toEqual(["not resolved", "interval"]);
  });

  test("not resolved when two identical instances came out apart: the harness was unfair", () => {
    // the control slower than off in all six rounds: its interval (1 … 4 %) leaves out 0
    const s = summariseRounds(sixRounds([0.5, 1.5, -2, 1, 0, 1.9], [1, 2, 3, 4, 1.5, 2.5]), 2);
    expect(s.control.interval).toMatchObject({ lowPercent: 1, highPercent: 4 });
    expect([s.fair, s.verdict, s.reason]).toEqual([false, "not resolved", "unfair control"]);
  });

  test("the verdict of an interval against the budget", () => {
    const i = (lowPercent: number, highPercent: number) => ({
      lowPercent,
      highPercent,
      confidencePercent: 96.9,
    });
    expect(verdictOf(i(-1, 1.9), 2)).toBe("under budget");
    expect(verdictOf(i(-5, -1), 2)).toBe("under budget");
    expect(verdictOf(i(2.1, 9), 2)).toBe("over budget");
    expect(verdictOf(i(0, 2), 2)).toBe("not resolved");
    expect(verdictOf(i(1, 3), 2)).toBe("not resolved");
    expect(verdictOf(null, 2)).toBe("not resolved");
  });

  test("the result keeps every round, the control's figure and the medians of the rps", () => {
    const m = metricsOverheadOf({
      caseId: "profile",
      connections: 32,
      seconds: 8,
      warmUpSeconds: 3,
      rounds: ROUNDS,
    });
    expect(m).toMatchObject({
      rounds: 3,
      rpsWithout: 800,
      rpsControl: 800,
      rpsWithMetrics: 600,
      overheadPercent: 10,
      overheadRangePercent: [1, 25],
      controlPercent: 0,
      controlRangePercent: [-1, 2],
      overheadIntervalPercent: null,
      controlIntervalPercent: null,
      confidencePercent: null,
      noisePercent: 2,
      verdict: "not resolved",
      reason: "too few rounds",
      budgetPercent: 2,
    });
    expect(m.perRound).toEqual(ROUNDS);
  });
});

describe("the API's CPU time per request", () => {
  const withCpu = (r: Round, off: number, control: number, metrics: number): Round => ({
    ...r,
    cpuUs: { off, control, metrics },
  });
  // metrics on against off: 1 %, 3 %, 2 % (median 2 %); the control: 0.5 %, -1 %, 0 %
  const rounds = [
    withCpu(ROUNDS[0]!, 1000, 1005, 1010),
    withCpu(ROUNDS[1]!, 900, 891, 927),
    withCpu(ROUNDS[2]!, 1000, 1000, 1020),
  ];

  test("is summarised from paired per-round ratios, with the A/A control's noise", () => {
    const s = summariseRounds(rounds, 2);
    expect(s.cpu).toMatchObject({
      overhead: { medianPercent: 2, minPercent: 1, maxPercent: 3 },
      control: { medianPercent: 0, minPercent: -1, maxPercent: 0.5 },
      noisePercent: 1,
      verdict: "not resolved",
      reason: "too few rounds",
    });
    const m = metricsOverheadOf({
      caseId: "profile",
      connections: 32,
      seconds: 8,
      warmUpSeconds: 3,
      rounds,
    });
    expect(m.cpu).toMatchObject({ usWithout: 1000, usControl: 1000, usWithMetrics: 1010 });
    const [, , figure, perRound] = metricsOverheadLines(m);
    expect(figure).toContain("metrics on 2 % (rounds 1 … 3 %) more than off");
    expect(figure).toContain("A/A control 0 % (rounds -1 … 0.5 %)");
    expect(perRound).toBe(
      "- rounds, µs per request in the order measured: " +
        "1. off 1000, control 1005, metrics 1010; 2. off 900, metrics 927, control 891; 3. control 1000, off 1000, metrics 1020",
    );
  });

  test("is left out when a round did not measure it", () => {
    expect(summariseRounds([rounds[0]!, ROUNDS[1]!], 2).cpu).toBeNull();
    expect(
      metricsOverheadLines(
        metricsOverheadOf({
          caseId: "profile",
          connections: 32,
          seconds: 8,
          warmUpSeconds: 3,
          rounds: ROUNDS,
        }),
      ),
    ).toHaveLength(2);
  });
});

describe("the CPU per request split by thread (procStat.ts)", () => {
  const split = (mainUserUs: number, helperUs: number, minorFaultsPer1000: number) => ({
    mainUserUs,
    mainSystemUs: 100,
    helperUs,
    metricsThreadUs: 0,
    minorFaultsPer1000,
    voluntarySwitchesPer1000: 5,
    involuntarySwitchesPer1000: 50,
  });
  // metrics on against off, main thread: +30, +10, +20 (median +20); other threads: 0, -5, +5
  const rounds: Round[] = [
    {
      ...ROUNDS[0]!,
      split: {
        off: split(1000, 300, 900),
        control: split(1010, 300, 900),
        metrics: split(1030, 300, 1000),
      },
    },
    {
      ...ROUNDS[1]!,
      split: {
        off: split(900, 310, 800),
        control: split(890, 300, 800),
        metrics: split(910, 305, 700),
      },
    },
    {
      ...ROUNDS[2]!,
      split: {
        off: split(1100, 290, 900),
        control: split(1100, 295, 950),
        metrics: split(1120, 295, 950),
      },
    },
  ];

  test("each role's medians, and the medians of the per-round differences to off", () => {
    const s = splitOf(rounds)!;
    expect(s.medians.off).toEqual(split(1000, 300, 900));
    expect(s.medians.metrics).toEqual(split(1030, 300, 950));
    expect(s.pairedToOff.metrics).toEqual({
      mainUserUs: 20,
      mainSystemUs: 0,
      helperUs: 0,
      metricsThreadUs: 0,
      minorFaultsPer1000: 50,
      voluntarySwitchesPer1000: 0,
      involuntarySwitchesPer1000: 0,
    });
    expect(s.pairedToOff.control.mainUserUs).toBe(0);
    expect(splitOf(ROUNDS)).toBeNull();
  });

  test("the report says where the CPU went, per role and paired to off", () => {
    const lines = metricsOverheadLines(
      metricsOverheadOf({
        caseId: "profile",
        connections: 32,
        seconds: 8,
        warmUpSeconds: 3,
        rounds,
      }),
    );
    const at = lines.findIndex((l) => l.startsWith("**Metrics, where the CPU per request went**"));
    expect(lines[at]).toContain(
      "Metrics on: main thread 1030 µs user + 100 µs system, helper threads 300 µs, the metrics thread 0 µs; per 1,000 requests 950 minor faults",
    );
    expect(lines[at + 1]).toContain(
      "metrics on main thread 20 µs user + 0 µs system, helper threads 0 µs, the metrics thread 0 µs",
    );
  });
});

describe("the report", () => {
  const m = metricsOverheadOf({
    caseId: "profile",
    connections: 32,
    seconds: 8,
    warmUpSeconds: 3,
    rounds: ROUNDS,
  });

  test("prints the figure with the A/A control and both ranges, the verdict and the rounds", () => {
    const [figure, rounds] = metricsOverheadLines(m);
    expect(figure).toContain("3 rounds");
    expect(figure).toContain(
      "metrics on 10 % (rounds 1 … 25 %) slower than off (median of the paired per-round ratios",
    );
    expect(figure).toContain("A/A control 0 % (rounds -1 … 2 %)");
    expect(figure).toContain(
      "Budget 2 %: not resolved: too few rounds for a confidence interval (6 at least)",
    );
    expect(figure).toContain("written to a file");
    expect(rounds).toBe(
      "- rounds, req/s in the order measured: " +
        "1. off 1000, control 1010, metrics 900; 2. off 600, metrics 594, control 588; 3. control 800, off 800, metrics 600",
    );
  });

  const sixRounds = (metrics: number[], control: number[]) =>
    metricsOverheadOf({
      caseId: "profile",
      connections: 32,
      seconds: 8,
      warmUpSeconds: 3,
      rounds: metrics.map((p, r) =>
        roundOf(r, 1000, 1000 * (1 - control[r]! / 100), 1000 * (1 - p / 100)),
      ),
    });

  test("prints the interval of the median and says which side of the budget it is", () => {
    const under = sixRounds([0.5, 1.5, -2, 1, 0, 1.9], [-3, 2, -1, 4, 0.5, -2]);
    const [figure] = metricsOverheadLines(under);
    expect(figure).toContain("metrics on 0.8 % (96.9 % interval -2 … 1.9 %; rounds -2 … 1.9 %)");
    expect(figure).toContain("A/A control -0.3 % (96.9 % interval -3 … 4 %; rounds -3 … 4 %)");
    expect(figure).toContain(
      "Budget 2 %: under budget: the whole interval of the median (-2 … 1.9 %) is below 2 %.",
    );
    const over = metricsOverheadLines(sixRounds([2.5, 3, 9, 4, 2.1, 5], [-3, 2, -1, 4, 0.5, -2]));
    expect(over[0]).toContain(
      "over budget: the whole interval of the median (2.1 … 9 %) is above 2 %",
    );
  });

  test("says when the noise is too large to tell, and when the harness was unfair", () => {
    const noisy = sixRounds([0.5, 1.5, -2, 1, 0, 2.5], [-3, 2, -1, 4, 0.5, -2]);
    expect(noisy.verdict).toBe("not resolved");
    expect(metricsOverheadLines(noisy)[0]).toContain(
      "not resolved: the interval of the median (-2 … 2.5 %) holds 2 %",
    );
    const unfair = sixRounds([0.5, 1.5, -2, 1, 0, 1.9], [1, 2, 3, 4, 1.5, 2.5]);
    expect(unfair.fair).toBe(false);
    expect(metricsOverheadLines(unfair)[0]).toContain(
      "not resolved: the A/A control's interval (1 … 4 %) leaves out 0",
    );
  });

  test("is part of the benchmark's Markdown", () => {
    const result: BenchResult = {
      date: "2026-12-01T00:00:00.000Z",
      machine: {
        cpus: 2,
        cpuModel: "cpu",
        memoryGiB: 1,
        node: "v24",
        postgres: "PG",
        postgraphile4: null,
      },
      options: {
        scale: 1,
        seconds: 5,
        runs: 1,
        concurrency: [32],
        peer: false,
        realtime: { subscribers: 1, membersPerChat: 1, messages: 1 },
        likeSamples: 1,
        viewers: 1,
        deepFeedUsers: 1,
      },
      rows: {},
      cases: [],
      worker: null,
      realtime: null,
      sessionCheck: null,
      metricsOverhead: m,
      explain: [],
    };
    const md = markdown(result);
    for (const line of metricsOverheadLines(m)) expect(md).toContain(line);
  });
});

describe("against a real API", () => {
  let db: TestDatabase;
  let dir: string;
  const service = (): Parameters<typeof startApi>[0] => ({
    ownerUrl: db.ownerUrl,
    authUrl: db.authUrl,
    authenticatorPassword: db.authenticator.password,
    jwtSecret: TEST_JWT_SECRET,
  });

  /** Two rounds of 0.6 s per role on `{ __typename }`, two connections: the harness in miniature. */
  const miniRun = (
    options: Partial<Parameters<typeof measureMetricsOverhead>[0]>,
  ): ReturnType<typeof measureMetricsOverhead> =>
    measureMetricsOverhead({
      service: service(),
      extra: {},
      caseId: "typename",
      next: () => ({
        path: "/graphql",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "{ __typename }" }),
      }),
      connections: 2,
      seconds: 0.6,
      rounds: 2,
      ...options,
    });

  beforeAll(async () => {
    db = await createTestDatabase();
    dir = await mkdtemp(path.join(os.tmpdir(), "mking-overhead-test-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
    await db.drop();
  });

  test("an instance given a file writes its output there itself, not to a pipe", async () => {
    const file = path.join(dir, "api.log");
    const api = await startApi(service(), { ACCESS_LOG: "true" }, { file });
    try {
      expect(readlinkSync(`/proc/${api.pid}/fd/1`)).toBe(file);
      expect(readlinkSync(`/proc/${api.pid}/fd/2`)).toBe(file);
      expect(readFileSync(file, "utf8")).toContain(`GraphQL API ready at ${api.url}/graphql`);
    } finally {
      await api.stop();
    }
  });

  test("paired rounds of three fresh instances loaded together, every one under load at once", async () => {
    const m = await miniRun({});
    expect(m.mode).toBe("together");
    expect(m.rounds).toBe(2);
    for (const r of m.perRound) {
      const spans = ROLES.map((role) => r.spanMs![role]);
      // each measured for about `seconds`, all three at the same time
      const latestStart = Math.max(...spans.map(([from]) => from));
      const earliestEnd = Math.min(...spans.map(([, to]) => to));
      expect(earliestEnd - latestStart).toBeGreaterThan(300);
      for (const role of ROLES) {
        expect([role, r.rps[role] > 0, typeof r.cpuUs?.[role]]).toEqual([role, true, "number"]);
      }
    }
  }, 240_000);

  test("paired rounds of three fresh instances loaded in turns, each role's output checked, the files removed", async () => {
    const before = new Set(readdirSync(os.tmpdir()));
    const progress: string[] = [];
    const slices: Array<{ round: number; role: string; alive: number[]; running: boolean[] }> = [];
    const isRunning = (pid: number): boolean => existsSync(`/proc/${pid}`);
    const m = await miniRun({
      mode: "turns",
      sliceSeconds: 0.2,
      progress: (line) => void progress.push(line),
      onSlice: (round, role, alive) =>
        void slices.push({ round, role, alive, running: alive.map(isRunning) }),
    });
    // each round: three slices each, the order turning by one every slice, all three alive
    const [a, b, c] = roundOrder(0);
    expect(slices.filter((s) => s.round === 0).map((s) => s.role)).toEqual([
      a,
      b,
      c,
      b,
      c,
      a,
      c,
      a,
      b,
    ]);
    expect(slices.filter((s) => s.round === 1)).toHaveLength(9);
    for (const s of slices) expect(s.running).toEqual([true, true, true]);
    // no process plays a role twice
    const pids = new Set(slices.flatMap((s) => s.alive));
    expect(pids.size).toBe(6);
    expect(m.rounds).toBe(2);
    expect(m.warmUpSeconds).toBe(0.6);
    expect(m.perRound.map((r) => r.order)).toEqual([roundOrder(0), roundOrder(1)]);
    for (const r of m.perRound) {
      for (const role of ROLES) expect([role, r.rps[role] > 0]).toEqual([role, true]);
    }
    expect(m.controlRangePercent[0]).toBeLessThanOrEqual(m.controlRangePercent[1]);
    expect(["under budget", "over budget", "not resolved"]).toContain(m.verdict);
    expect(progress).toHaveLength(2);
    expect(progress[0]).toMatch(
      /^round 1\/2: off [\d.]+, control [\d.]+, metrics [\d.]+ req\/s; API CPU per request off [\d.]+, control [\d.]+, metrics [\d.]+ µs$/,
    );
    // the API processes' CPU time was read from /proc for every run
    for (const r of m.perRound) {
      for (const role of ROLES) expect([role, typeof r.cpuUs?.[role]]).toEqual([role, "number"]);
    }
    expect(m.cpu).not.toBeNull();
    // and split by thread: the main thread's, the helpers' and the metrics thread's time add up
    // to the CPU per request; only the metrics instance has a metrics thread
    for (const r of m.perRound) {
      for (const role of ROLES) {
        const split = r.split![role];
        expect(split.mainUserUs).toBeGreaterThan(0);
        expect(
          split.mainUserUs + split.mainSystemUs + split.helperUs + split.metricsThreadUs,
        ).toBeCloseTo(r.cpuUs![role], 0);
        if (role !== "metrics") expect(split.metricsThreadUs).toBe(0);
      }
    }
    expect(m.split?.medians.metrics.mainUserUs).toBeGreaterThan(0);
    const left = readdirSync(os.tmpdir()).filter(
      (f) => f.startsWith(`mking-bench-overhead-${process.pid}-`) && !before.has(f),
    );
    expect(left.filter((f) => existsSync(path.join(os.tmpdir(), f)))).toEqual([]);
  }, 240_000);

  test("profiles every instance of a real run, and finds no metrics code where metrics are off", async () => {
    const m = await miniRun({ profile: true });
    for (const r of m.perRound) {
      for (const role of ROLES) expect([role, r.profile![role].busy > 0]).toEqual([role, true]);
      expect([r.profile!.off.metrics, r.profile!.control.metrics]).toEqual([0, 0]);
    }
    expect(m.profile?.busySamples).toBeGreaterThan(0);
  }, 240_000);
});

describe("where the CPU went (V8's sampling profiler)", () => {
  // root → handler (src/http) → observe (src/metrics/api.ts) → prom-client; plus idle and GC
  const profile: CpuProfile = {
    nodes: [
      frame(1, "(root)", "", [2, 5, 6]),
      frame(2, "handle", "file:///app/src/http/requestObserver.ts", [3]),
      frame(3, "operation", "file:///app/src/metrics/api.ts", [4]),
      frame(4, "observe", "file:///app/node_modules/prom-client/lib/histogram.js"),
      frame(5, "(idle)", ""),
      frame(6, "(garbage collector)", ""),
    ],
    startTime: 1000,
    // samples at 1010, 1020, … 1080
    samples: [2, 3, 4, 5, 6, 2, 3, 5],
    timeDeltas: [10, 10, 10, 10, 10, 10, 10, 10],
  };

  test("counts busy, metrics and garbage collector samples inside the windows only", () => {
    expect(sharesInWindows(profile, [[0, 10_000]])).toEqual({ busy: 6, metrics: 3, gc: 1 });
    // a metrics frame anywhere on the stack counts (prom-client under src/metrics/api.ts)
    expect(sharesInWindows(profile, [[1020, 1030]])).toEqual({ busy: 2, metrics: 2, gc: 0 });
    expect(
      sharesInWindows(profile, [
        [1000, 1010],
        [1045, 1060],
      ]),
    ).toEqual({ busy: 3, metrics: 0, gc: 1 }); // handle at 1010 and 1060, the collector at 1050
    expect(sharesInWindows(profile, [])).toEqual({ busy: 0, metrics: 0, gc: 0 });
  });

  test("sums the rounds up: the metrics instance's share, the garbage collector's per role", () => {
    const shares = (busy: number, metrics: number, gc: number) => ({ busy, metrics, gc });
    const rounds: Round[] = [
      {
        ...roundOf(0, 100, 100, 100),
        profile: {
          off: shares(1000, 0, 50),
          control: shares(1000, 0, 60),
          metrics: shares(1000, 5, 70),
        },
      },
      {
        ...roundOf(1, 100, 100, 100),
        profile: {
          off: shares(3000, 0, 90),
          control: shares(2000, 0, 80),
          metrics: shares(3000, 3, 60),
        },
      },
    ];
    expect(profileFiguresOf(rounds)).toEqual({
      metricsCodePercent: 0.3, // median of 0.5 % and 0.1 %
      metricsCodeRangePercent: [0.1, 0.5],
      metricsCodePooledPercent: 0.2, // 8 of 4,000
      gcPercent: { off: 4, control: 5, metrics: 4.5 },
      busySamples: 4000,
    });
    expect(profileFiguresOf(ROUNDS)).toBeNull();
    const m = metricsOverheadOf({
      caseId: "x",
      connections: 2,
      seconds: 1,
      warmUpSeconds: 1,
      rounds,
    });
    expect(metricsOverheadLines(m).join("\n")).toContain(
      "metrics code (src/metrics/, src/metricsServer.ts, prom-client) on the stack in 0.3 % of the metrics instance's busy samples",
    );
  });
});
