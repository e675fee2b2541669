/**
 * The plan and the arithmetic of the paired throughput measurement of metrics
 * (bench/harness/metricsOverhead.ts), kept apart so they can be pinned by tests:
 *
 * - three roles: `off` (METRICS_PORT unset: the reference), `control` (the same again: an A/A
 *   control, an instance identical to the reference) and `metrics` (METRICS_PORT set); the access
 *   log is on in all three, as it is by default, so the figure is what turning metrics on costs
 *   a deployment (the access log's own cost is measured in process: observerCost.ts);
 * - round r runs them in the r-th of the 3! orders, so over 6 rounds every role is first,
 *   second and last equally often, and goes before each other role as often as after it;
 * - per round, each role's throughput is set against the reference's of the same round (paired:
 *   the machine's load drifts between rounds, not within a pair), and the medians of those
 *   per-round ratios are reported, with their range and the sign test's 95 % confidence interval
 *   of the median (stats.ts `medianInterval`: no assumption about how the rounds scatter);
 * - the verdict is the interval's against the budget: under when all of it is below, over when
 *   all of it is above, not resolved otherwise — and not resolved either when the A/A control's
 *   own interval leaves out 0, since then the harness favoured one of two identical instances
 *   and a figure against either cannot be trusted.
 */
import type { ProfileShares } from "./cpuProfile.ts";
import type { ProcStatPerRequest } from "./procStat.ts";
import { median, medianInterval, round } from "./stats.ts";

export const ROLES = ["off", "control", "metrics"] as const;
export type Role = (typeof ROLES)[number];

/** What a role's API instance runs with. */
export const ROLE_SETTINGS: Record<Role, { metrics: boolean; accessLog: boolean }> = {
  off: { metrics: false, accessLog: true },
  control: { metrics: false, accessLog: true },
  metrics: { metrics: true, accessLog: true },
};

/** Rounds that give every order of the roles once. */
export const BALANCED_ROUNDS = 6;

function permutations<T>(items: readonly T[]): T[][] {
  if (items.length <= 1) return [[...items]];
  return items.flatMap((item, i) =>
    permutations([...items.slice(0, i), ...items.slice(i + 1)]).map((rest) => [item, ...rest]),
  );
}

const ORDERS = permutations(ROLES);

/** The order in which round `r` (from 0) measures the roles. */
export function roundOrder(r: number): Role[] {
  return [...ORDERS[r % ORDERS.length]!];
}

/**
 * One round: the order it ran in, each role's requests per second and, where measured, the API
 * process's CPU time per request (µs: utime + stime over the measured run / requests).
 */
export interface Round {
  order: Role[];
  rps: Record<Role, number>;
  cpuUs?: Record<Role, number>;
  /** Where each instance's CPU went in its slices (metricsOverhead.ts `profile`). */
  profile?: Record<Role, ProfileShares>;
  /** Its CPU per request by thread and kernel, faults and switches (procStat.ts). */
  split?: Record<Role, ProcStatPerRequest>;
  /** When each role's measured load began and ended (ms, monotonic clock; across its slices). */
  spanMs?: Record<Role, [number, number]>;
}

/** A figure from paired rounds: how much slower than `off` (percent), median and range. */
export interface Paired {
  medianPercent: number;
  minPercent: number;
  maxPercent: number;
  /**
   * The sign test's interval of the median (at least 95 % confidence; `confidencePercent` says
   * how much exactly); null with fewer than 6 rounds.
   */
  interval: { lowPercent: number; highPercent: number; confidencePercent: number } | null;
  /** Per round, in the order of the rounds. */
  perRound: number[];
}

/** How much slower `rps` is than `reference`, percent (negative: faster). */
export function slowerPercent(rps: number, reference: number): number {
  return reference > 0 ? (1 - rps / reference) * 100 : 0;
}

/** How much more `cpu` is than `reference`, percent (negative: less). */
export function morePercent(cpu: number, reference: number): number {
  return reference > 0 ? (cpu / reference - 1) * 100 : 0;
}

function paired(rounds: Round[], role: Role): Paired {
  return pairedBy(rounds, (r) => slowerPercent(r.rps[role], r.rps.off));
}

function pairedBy(rounds: Round[], percentOf: (r: Round) => number): Paired {
  const perRound = rounds.map(percentOf);
  const interval = medianInterval(perRound, 0.95);
  return {
    medianPercent: round(median(perRound), 1),
    minPercent: round(Math.min(...perRound), 1),
    maxPercent: round(Math.max(...perRound), 1),
    interval: interval
      ? {
          lowPercent: round(interval.low, 1),
          highPercent: round(interval.high, 1),
          confidencePercent: round(interval.confidence * 100, 1),
        }
      : null,
    perRound: perRound.map((p) => round(p, 1)),
  };
}

/**
 * `under budget`: the interval of the median lies below the budget; `over budget`: above it;
 * `not resolved`: it holds the budget, there are too few rounds for an interval, or the harness
 * was unfair (the A/A control's interval leaves out 0).
 */
export type Verdict = "under budget" | "over budget" | "not resolved";

/** Why a verdict is what it is (the report says it in words). */
export type VerdictReason = "interval" | "too few rounds" | "unfair control";

export interface Judged {
  overhead: Paired;
  /** The A/A control: off against an identical off. */
  control: Paired;
  /** The largest disagreement of the two identical instances in a round, percent. */
  noisePercent: number;
  /** The control's interval holds 0 (the two identical instances came out alike). */
  fair: boolean;
  verdict: Verdict;
  reason: VerdictReason;
}

export interface OverheadSummary extends Judged {
  /**
   * The same in the API process's CPU time per request (how much more `metrics` spends than off),
   * when every round measured it: the cost itself, free of how the two cores were shared.
   */
  cpu: Judged | null;
}

/** The verdict of an interval against the budget (null: too few rounds to have one). */
export function verdictOf(interval: Paired["interval"], budget: number): Verdict {
  if (interval === null) return "not resolved";
  if (interval.highPercent < budget) return "under budget";
  if (interval.lowPercent > budget) return "over budget";
  return "not resolved";
}

function judge(overhead: Paired, control: Paired, budget: number): Judged {
  const noisePercent = round(Math.max(...control.perRound.map((p) => Math.abs(p))), 1);
  const fair =
    control.interval !== null &&
    control.interval.lowPercent <= 0 &&
    control.interval.highPercent >= 0;
  const reason: VerdictReason =
    overhead.interval === null ? "too few rounds" : fair ? "interval" : "unfair control";
  return {
    overhead,
    control,
    noisePercent,
    fair,
    verdict: reason === "interval" ? verdictOf(overhead.interval, budget) : "not resolved",
    reason,
  };
}

export function summariseRounds(rounds: Round[], budgetPercent: number): OverheadSummary {
  if (rounds.length === 0) throw new Error("no rounds to summarise");
  return {
    ...judge(paired(rounds, "metrics"), paired(rounds, "control"), budgetPercent),
    cpu: summariseCpu(rounds, budgetPercent),
  };
}

function summariseCpu(rounds: Round[], budgetPercent: number): OverheadSummary["cpu"] {
  const measured = rounds.flatMap((r) => (r.cpuUs ? [r.cpuUs] : []));
  if (measured.length !== rounds.length) return null;
  return judge(
    pairedBy(rounds, (r) => morePercent(r.cpuUs!.metrics, r.cpuUs!.off)),
    pairedBy(rounds, (r) => morePercent(r.cpuUs!.control, r.cpuUs!.off)),
    budgetPercent,
  );
}
