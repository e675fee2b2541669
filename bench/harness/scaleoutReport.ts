/**
 * The figures of `npm run bench:scaleout` (bench/scaleout.ts): per comparison (direct vs
 * PgBouncer, primary only vs a read replica), per read case, each arm's load runs reduced to
 * medians and set against the comparison's baseline arm; and the Markdown block for the run.
 * Pure: no I/O, so test/bench/scaleout.test.ts checks it on made-up runs.
 */
import { median, round } from "./stats.ts";

/** One load run of one arm (bench/harness/load.ts LoadResult, reduced). */
export interface ArmRun {
  rps: number;
  p50: number;
  p95: number;
  errors: number;
}

/** Where the arm's API sent its read operations during the runs (read replica arms only). */
export interface Routed {
  primary: number;
  replica: number;
}

export interface ArmSummary {
  arm: string;
  label: string;
  /** Medians over the runs. */
  rps: number;
  p50: number;
  p95: number;
  errors: number;
  /** Median rps / the baseline arm's median rps (1 for the baseline itself; null: no baseline). */
  vsBaseline: number | null;
  routed: Routed | null;
  runs: ArmRun[];
}

export interface CaseComparison {
  caseId: string;
  title: string;
  arms: ArmSummary[];
}

export interface Comparison {
  id: "pooler" | "replica";
  title: string;
  /** The arm the others are set against. */
  baseline: string;
  /** What the figures mean (and do not) on this machine. */
  notes: string[];
  cases: CaseComparison[];
}

export interface ScaleoutRun {
  startedAt: string;
  machine: string;
  postgres: string;
  pgbouncer: string | null;
  settings: Record<string, string | number>;
  comparisons: Comparison[];
}

export interface ArmInput {
  arm: string;
  label: string;
  runs: ArmRun[];
  routed?: Routed | null;
}

/** Reduces each arm's runs to medians; `baseline` names the arm the others are set against. */
export function summariseCase(
  caseId: string,
  title: string,
  baseline: string,
  arms: readonly ArmInput[],
): CaseComparison {
  const rpsOf = (a: ArmInput): number => round(median(a.runs.map((r) => r.rps)), 1);
  const base = arms.find((a) => a.arm === baseline);
  const baseRps = base && base.runs.length > 0 ? rpsOf(base) : null;
  return {
    caseId,
    title,
    arms: arms.map((a) => {
      const rps = a.runs.length > 0 ? rpsOf(a) : 0;
      return {
        arm: a.arm,
        label: a.label,
        rps,
        p50: a.runs.length > 0 ? round(median(a.runs.map((r) => r.p50))) : 0,
        p95: a.runs.length > 0 ? round(median(a.runs.map((r) => r.p95))) : 0,
        errors: a.runs.reduce((n, r) => n + r.errors, 0),
        vsBaseline: baseRps ? round(rps / baseRps, 3) : null,
        routed: a.routed ?? null,
        runs: a.runs,
      };
    }),
  };
}

/** "42 % (420 of 1000)" for the share of reads a replica served; "–" when none were counted. */
export function replicaShare(routed: Routed | null): string {
  if (!routed) return "–";
  const total = routed.primary + routed.replica;
  if (total === 0) return "none counted";
  return `${round((100 * routed.replica) / total, 1)} % (${routed.replica} of ${total})`;
}

/** "-3.2 %" / "+1.0 %" from a ratio; "–" without one. */
export function percentChange(ratio: number | null): string {
  if (ratio === null) return "–";
  const p = round((ratio - 1) * 100, 1);
  return `${p > 0 ? "+" : ""}${p.toFixed(1)} %`;
}

function table(c: Comparison): string[] {
  const withRouting = c.cases.some((x) => x.arms.some((a) => a.routed !== null));
  const head = [
    "read",
    "arm",
    "req/s (median)",
    `vs ${c.baseline}`,
    "p50 ms",
    "p95 ms",
    "errors",
    ...(withRouting ? ["reads on the replica"] : []),
  ];
  const lines = [`| ${head.join(" | ")} |`, `|${head.map(() => "---").join("|")}|`];
  for (const x of c.cases) {
    for (const a of x.arms) {
      const cells = [
        x.caseId,
        a.label,
        String(a.rps),
        a.arm === c.baseline ? "baseline" : percentChange(a.vsBaseline),
        String(a.p50),
        String(a.p95),
        String(a.errors),
        ...(withRouting ? [replicaShare(a.routed)] : []),
      ];
      lines.push(`| ${cells.join(" | ")} |`);
    }
  }
  return lines;
}

export function markdown(run: ScaleoutRun): string {
  const settings = Object.entries(run.settings)
    .map(([k, v]) => `${k} ${v}`)
    .join(", ");
  const out = [
    `### Scale-out: PgBouncer and a read replica (${run.startedAt.slice(0, 10)})`,
    "",
    `Machine: ${run.machine}. ${run.postgres}${run.pgbouncer ? `; ${run.pgbouncer}` : ""}.`,
    `Settings: ${settings}. Arms alternate within each run (A, B, A, B, …); medians of the runs.`,
    "Timings from a shared, noisy machine: compare the arms of one table with each other only.",
  ];
  for (const c of run.comparisons) {
    out.push("", `#### ${c.title}`, "", ...c.notes.map((n) => `- ${n}`), "", ...table(c));
  }
  return out.join("\n") + "\n";
}

/** The read routing counters in an API's /metrics text (src/metrics/replicas.ts). */
export function parseRouted(metricsText: string): Routed {
  const read = (target: string): number => {
    const m = new RegExp(
      `^mking_db_reads_routed_total\\{target="${target}"\\} (\\d+(?:\\.\\d+)?(?:e\\+?\\d+)?)`,
      "m",
    ).exec(metricsText);
    return m ? Number(m[1]) : 0;
  };
  return { primary: read("primary"), replica: read("replica") };
}
