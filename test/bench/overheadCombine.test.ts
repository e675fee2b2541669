/**
 * `npm run bench:overhead -- --combine …` (bench/harness/overheadCombine.ts): runs with the same
 * settings read as one run of all their rounds, judged by the same arithmetic; temporary
 * experiments, runs measured differently and combined files refused.
 */
import { metricsOverheadOf } from "../../bench/harness/metricsOverhead.ts";
import {
  CombineError,
  combineOverheadResults,
  type OverheadResultFile,
} from "../../bench/harness/overheadCombine.ts";
import { roundOrder, type Round } from "../../bench/harness/overheadRounds.ts";

/** Rounds whose CPU per request of metrics on is `percents` above off's 1,000 µs. */
function rounds(percents: number[], from = 0): Round[] {
  return percents.map((p, i) => ({
    order: roundOrder(from + i),
    rps: { off: 200, control: 200, metrics: 200 / (1 + p / 100) },
    cpuUs: { off: 1000, control: 1000 + (i % 2 === 0 ? 5 : -5), metrics: 1000 * (1 + p / 100) },
  }));
}

function run(percents: number[], settings: Partial<{ seconds: number; note: string }> = {}) {
  const result: OverheadResultFile = {
    date: "2026-12-01T00:00:00.000Z",
    scale: 1,
    databaseMetrics: true,
    scrapes: true,
    metricsOverhead: metricsOverheadOf({
      caseId: "conversation_messages",
      connections: 32,
      seconds: settings.seconds ?? 10,
      warmUpSeconds: 10,
      rounds: rounds(percents),
    }),
  };
  if (settings.note !== undefined) result.note = settings.note;
  return result;
}

// alone, each run's interval reaches past 2 %; their 16 rounds together do not
const A = [0.5, 1, 1.5, 0.8, 2.6, 0.2, 1.2, 0.9];
const B = [0.7, 1.1, 2.4, 0.4, 1.3, 0.6, 0.9, 2.8];

test("pools the rounds of runs made alike and judges them as one run", () => {
  const a = run(A);
  const b = run(B);
  expect(a.metricsOverhead.cpu?.verdict).toBe("not resolved");
  expect(b.metricsOverhead.cpu?.verdict).toBe("not resolved");
  const combined = combineOverheadResults(
    [
      { name: "a.json", result: a },
      { name: "b.json", result: b },
    ],
    "2026-12-02T00:00:00.000Z",
  );
  expect(combined.combinedFrom).toEqual(["a.json", "b.json"]);
  expect(combined.date).toBe("2026-12-02T00:00:00.000Z");
  const m = combined.metricsOverhead;
  expect(m.rounds).toBe(16);
  expect(m.perRound).toEqual([...a.metricsOverhead.perRound, ...b.metricsOverhead.perRound]);
  // the same figures as one run of those rounds
  expect(m).toEqual(
    metricsOverheadOf({
      caseId: "conversation_messages",
      connections: 32,
      seconds: 10,
      warmUpSeconds: 10,
      rounds: [...a.metricsOverhead.perRound, ...b.metricsOverhead.perRound],
    }),
  );
  expect(m.cpu?.overheadIntervalPercent?.[1]).toBeLessThan(2);
  expect(m.cpu?.verdict).toBe("under budget");
});

test("refuses temporary experiments, runs measured differently, combined files and a single run", () => {
  const a = { name: "a.json", result: run(A) };
  const combine =
    (...files: { name: string; result: OverheadResultFile }[]) =>
    () =>
      combineOverheadResults(files, "2026-12-02T00:00:00.000Z");
  expect(combine(a, { name: "x.json", result: run(B, { note: "render off" }) })).toThrow(
    new CombineError('x.json is a temporary experiment ("render off"): not combined'),
  );
  expect(combine(a, { name: "s.json", result: run(B, { seconds: 5 }) })).toThrow(
    "s.json was measured with seconds 5, a.json with 10: not combined",
  );
  const both = combineOverheadResults([a, { name: "b.json", result: run(B) }], "d");
  expect(combine(a, { name: "c.json", result: both })).toThrow(
    "c.json is itself combined: give the runs it was made of",
  );
  expect(combine(a)).toThrow("give two result files or more to combine");
  const other = { date: "d", total: 3 } as unknown as OverheadResultFile;
  expect(combine(a, { name: "other.json", result: other })).toThrow(
    "other.json is not a result of npm run bench:overhead",
  );
});
