/**
 * The chaos soak, short (soak/soak.ts; `npm run soak` runs it for 10 minutes): 90 seconds of
 * mixed load through two API instances and two workers on the embedded PostgreSQL, with one
 * fault of each kind — an API instance, a worker and PostgreSQL itself killed and started again,
 * a websocket client that stops reading, a burst of bad requests, a slow client — and then
 * every invariant must hold: acknowledged writes stored, counters right, notifications exactly
 * once, no job lost, messages delivered or the subscriber told, the API answering.
 *
 * In test:ops rather than npm test: it runs about two minutes on its own processes (npm test's
 * budget is shorter, and its parallel workers would make the timings flaky). A failure names each
 * broken invariant with its first violations; `npm run soak -- --seed 20 …` replays the faults.
 */
import { FAULT_KINDS } from "../../soak/faults.ts";
import type { InvariantResult } from "../../soak/invariants.ts";
import { runSoak } from "../../soak/soak.ts";

const SEED = 20;

function described(i: InvariantResult): string {
  return `invariant ${i.id} (${i.name}) broke: ${i.violations.join("; ")}`;
}

test("90 s of load with a fault of every kind breaks no invariant", async () => {
  const report = await runSoak({
    minutes: 1.5,
    seed: SEED,
    users: 24,
    thinkMs: 150,
    // short gaps: every kind gets its turn even when restarts are slow on a busy machine
    faultGap: { min: 4_000, max: 6_000 },
    scale: 0.002,
    databaseUrl: null,
    faultPlan: [
      "api-kill",
      "postgres-restart",
      "worker-kill",
      "slow-websocket",
      "bad-requests",
      "slow-client",
    ],
    say: () => undefined,
  });
  // one list, so that a failure names everything that went wrong at once
  const acknowledged = Object.values(report.stats.operations).reduce((n, o) => n + o.ok, 0);
  const missingKinds = FAULT_KINDS.filter((k) => !report.faultsByKind[k]);
  const problems = [
    ...report.invariants.filter((i) => !i.ok).map(described),
    ...report.unexpectedExits.map((e) => `unexpected exit: ${e}`),
    // the faults did happen, and the load was acknowledged, not just refused
    ...report.faults
      .filter((f) => f.outcome.startsWith("fault failed"))
      .map((f) => `${f.kind} at ${f.at} s: ${f.outcome}`),
    ...(missingKinds.length > 0
      ? [
          `no ${missingKinds.join(", ")} fault in time; faults: ` +
            report.faults.map((f) => `${f.kind} at ${f.at} s (${f.durationMs} ms)`).join(", "),
        ]
      : []),
    ...(acknowledged > 1_000 ? [] : [`only ${acknowledged} operations acknowledged`]),
    ...(report.realtime.messageEvents > 500
      ? []
      : [`only ${report.realtime.messageEvents} message events received`]),
  ];
  expect(report.invariants.map((i) => i.id)).toEqual([1, 2, 3, 4, 5, 6]);
  expect(problems).toEqual([]);
}, 420_000);
