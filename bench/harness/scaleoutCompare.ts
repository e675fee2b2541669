/**
 * Two (or more) API instances under the same read load, alternated: for each case, every arm is
 * warmed up, then each run loads every arm in turn (A, B, A, B, …) so a noisy machine costs all
 * arms alike. An arm with a `routed` probe (the API's read routing counters) also reports where
 * its reads went during the counted runs.
 */
import { runLoad, type HttpRequest } from "./load.ts";
import {
  summariseCase,
  type ArmInput,
  type CaseComparison,
  type Routed,
} from "./scaleoutReport.ts";

export interface Arm {
  arm: string;
  label: string;
  /** The API's base URL. */
  url: string;
  /** The API's read routing counters now (only for arms with read replicas). */
  routed?: () => Promise<Routed>;
}

export interface LoadCase {
  id: string;
  title: string;
  next: () => HttpRequest;
}

export interface CompareOptions {
  arms: readonly Arm[];
  baseline: string;
  cases: readonly LoadCase[];
  runs: number;
  seconds: number;
  connections: number;
  say: (line: string) => void;
}

/** Fixtures whose answers are compared across the arms before a case is measured. */
const ANSWER_CHECKS = 3;
/** Warm-up seconds per arm (plans, connections, the replica joining the rotation). */
const WARM_SECONDS = 2;
/** At most this many warm-ups while an arm with replicas routes nothing to them yet. */
const MAX_WARMUPS = 10;

async function warm(arm: Arm, c: LoadCase, o: CompareOptions): Promise<void> {
  for (let i = 0; i < MAX_WARMUPS; i++) {
    const before = await arm.routed?.();
    const r = await runLoad({
      url: arm.url,
      connections: o.connections,
      seconds: WARM_SECONDS,
      next: c.next,
    });
    if (r.errors > 0) throw new Error(`${c.id} on ${arm.label} failed: ${r.firstError}`);
    if (!arm.routed || !before) return;
    const after = await arm.routed();
    // a fresh API reads from the primary for its first read-your-writes window
    if (after.replica > before.replica) return;
  }
  o.say(`${c.id}: ${arm.label} routed no read to a replica during ${MAX_WARMUPS} warm-ups`);
}

/**
 * The same request (one fixture) to every arm must get the same answer: an arm that is faster
 * because it answers something else (an empty page under lost claims) would be no figure.
 */
async function sameAnswers(arms: readonly Arm[], c: LoadCase): Promise<void> {
  const request = c.next();
  const answers = await Promise.all(
    arms.map(async (arm) => {
      const res = await fetch(`${arm.url}${request.path}`, {
        method: "POST",
        headers: request.headers,
        body: request.body,
      });
      return `${res.status} ${await res.text()}`;
    }),
  );
  const differing = arms.filter((_, i) => answers[i] !== answers[0]);
  if (differing.length > 0) {
    throw new Error(
      `${c.id}: ${differing.map((a) => a.label).join(", ")} answered otherwise than ${arms[0]!.label}:\n` +
        answers.map((a, i) => `${arms[i]!.label}: ${a.slice(0, 300)}`).join("\n"),
    );
  }
}

export async function compareArms(o: CompareOptions): Promise<CaseComparison[]> {
  const results: CaseComparison[] = [];
  for (const c of o.cases) {
    for (let i = 0; i < ANSWER_CHECKS; i++) await sameAnswers(o.arms, c);
    for (const arm of o.arms) await warm(arm, c, o);
    const inputs: ArmInput[] = o.arms.map((a) => ({
      arm: a.arm,
      label: a.label,
      runs: [],
      routed: a.routed ? { primary: 0, replica: 0 } : null,
    }));
    for (let run = 0; run < o.runs; run++) {
      // alternate the order too: no arm always runs right after the same neighbour
      const order = run % 2 === 0 ? o.arms.map((_, i) => i) : o.arms.map((_, i) => i).reverse();
      for (const i of order) {
        const arm = o.arms[i]!;
        const input = inputs[i]!;
        const before = await arm.routed?.();
        const r = await runLoad({
          url: arm.url,
          connections: o.connections,
          seconds: o.seconds,
          next: c.next,
        });
        if (arm.routed && before && input.routed) {
          const after = await arm.routed();
          input.routed.primary += after.primary - before.primary;
          input.routed.replica += after.replica - before.replica;
        }
        input.runs.push({
          rps: r.rps,
          p50: r.latencyMs.p50,
          p95: r.latencyMs.p95,
          errors: r.errors,
        });
        if (r.firstError) o.say(`${c.id} ${arm.label}: error: ${r.firstError}`);
        o.say(
          `${c.id.padEnd(22)} ${arm.label.padEnd(28)} run ${run + 1}: ${String(r.rps).padStart(7)} req/s  ` +
            `p50 ${r.latencyMs.p50} ms  p95 ${r.latencyMs.p95} ms${r.errors ? `  ERRORS ${r.errors}` : ""}`,
        );
      }
    }
    results.push(summariseCase(c.id, c.title, o.baseline, inputs));
  }
  return results;
}
