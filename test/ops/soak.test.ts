/**
 * The chaos soak, short (soak/soak.ts; `npm run soak` runs it for 10 minutes): 90 seconds of
 * mixed load through two API instances and two workers on the embedded PostgreSQL, with one
 * fault of each kind — an API instance, a worker and PostgreSQL itself killed and started again,
 * a websocket client that stops reading, a burst of bad requests, a slow client — and then
 * every invariant must hold: acknowledged writes stored, counters right, notifications exactly
 * once, no job lost, messages delivered or the subscriber told, the API answering.
 *
 * In test:ops rather than npm test: it runs about two and a half minutes on its own processes
 * (npm test's budget is shorter, and its parallel workers would make the timings flaky).
 */
import { FAULT_KINDS } from "../../soak/faults.ts";
import { runSoak } from "../../soak/soak.ts";

test("90 s of load with a fault of every kind breaks no invariant", async () => {
  const report = await runSoak({
    minutes: 1.5,
    seed: 20,
    users: 24,
    thinkMs: 150,
    faultGap: { min: 6_000, max: 9_000 },
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
  const broken = report.invariants
    .filter((i) => !i.ok)
    .map((i) => `${i.id}. ${i.name}: ${i.violations.join("; ")}`);
  expect(broken).toEqual([]);
  expect(report.unexpectedExits).toEqual([]);
  // the faults did happen, and the load was acknowledged, not just refused
  expect(Object.keys(report.faultsByKind).sort()).toEqual([...FAULT_KINDS].sort());
  expect(report.faults.filter((f) => f.outcome.startsWith("fault failed"))).toEqual([]);
  const acknowledged = Object.values(report.stats.operations).reduce((n, o) => n + o.ok, 0);
  expect(acknowledged).toBeGreaterThan(1_000);
  expect(report.realtime.messageEvents).toBeGreaterThan(500);
}, 420_000);
