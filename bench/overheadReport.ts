/**
 * The report's lines for the throughput cost of metrics (the access log on in every role)
 * (bench/harness/metricsOverhead.ts): the figure with its confidence interval and range, the A/A
 * control beside it, the verdict against the budget in words, and the rounds themselves.
 */
import type { JudgedFigures, MetricsOverhead } from "./harness/metricsOverhead.ts";
import type { ProcStatPerRequest } from "./harness/procStat.ts";

const range = ([min, max]: [number, number]): string => `${min} … ${max} %`;

/** "median (95 % interval a … b %; rounds min … max %)" */
function figure(
  median: number,
  interval: [number, number] | null,
  rounds: [number, number],
  confidence: number | null,
): string {
  const within =
    interval && confidence !== null ? `${confidence} % interval ${range(interval)}; ` : "";
  return `${median} % (${within}rounds ${range(rounds)})`;
}

/** The verdict and why, in words. */
export function verdictText(f: JudgedFigures, budgetPercent: number): string {
  const interval = f.overheadIntervalPercent ? range(f.overheadIntervalPercent) : "";
  switch (f.reason) {
    case "too few rounds":
      return "not resolved: too few rounds for a confidence interval (6 at least)";
    case "unfair control":
      return (
        `not resolved: the A/A control's interval (${f.controlIntervalPercent ? range(f.controlIntervalPercent) : "none"}) ` +
        "leaves out 0, so the harness favoured one of two identical instances and the figure cannot be trusted"
      );
    case "interval":
      if (f.verdict === "under budget")
        return `under budget: the whole interval of the median (${interval}) is below ${budgetPercent} %`;
      if (f.verdict === "over budget")
        return `over budget: the whole interval of the median (${interval}) is above ${budgetPercent} %`;
      return `not resolved: the interval of the median (${interval}) holds ${budgetPercent} %`;
  }
}

export function metricsOverheadLines(m: MetricsOverhead): string[] {
  const rounds = m.perRound
    .map((r, i) => `${i + 1}. ${r.order.map((role) => `${role} ${r.rps[role]}`).join(", ")}`)
    .join("; ");
  return [
    `**Metrics, throughput** (${m.caseId}, ${m.connections} connections; ${m.rounds} rounds, ` +
      `each measuring three fresh API processes ${m.mode === "together" ? "loaded together (each by its own clients, all at once)" : "in turn"}, started in a different order every round: metrics off, ` +
      `metrics off again (the A/A control), METRICS_PORT set; the access log on in all three, as by default; ${m.warmUpSeconds} s of warm-up, then ${m.seconds} s each; ` +
      `their output written to a file, not piped to the benchmark): ` +
      `metrics on ${figure(m.overheadPercent, m.overheadIntervalPercent, m.overheadRangePercent, m.confidencePercent)} slower than off ` +
      `(median of the paired per-round ratios, the sign test's interval of it), ` +
      `A/A control ${figure(m.controlPercent, m.controlIntervalPercent, m.controlRangePercent, m.confidencePercent)}; ` +
      `medians ${m.rpsWithout} req/s off, ${m.rpsControl} control, ${m.rpsWithMetrics} metrics on. ` +
      `Budget ${m.budgetPercent} %: ${verdictText(m, m.budgetPercent)}.`,
    `- rounds, req/s in the order measured: ${rounds}`,
    ...cpuLines(m),
    ...splitLines(m),
    ...profileLines(m),
  ];
}

/** "main thread 600 µs user + 90 µs system, helper threads 40 µs, the metrics thread 2 µs; …" */
function splitText(s: ProcStatPerRequest): string {
  return (
    `main thread ${s.mainUserUs} µs user + ${s.mainSystemUs} µs system, helper threads ${s.helperUs} µs, ` +
    `the metrics thread ${s.metricsThreadUs ?? 0} µs; ` +
    `per 1,000 requests ${s.minorFaultsPer1000} minor faults, ${s.voluntarySwitchesPer1000} voluntary and ` +
    `${s.involuntarySwitchesPer1000} involuntary context switches of the main thread`
  );
}

function splitLines(m: MetricsOverhead): string[] {
  const s = m.split;
  if (!s) return [];
  return [
    `**Metrics, where the CPU per request went** (the same runs, /proc's split: bench/harness/procStat.ts; ` +
      `medians over the rounds): off: ${splitText(s.medians.off)}. Control: ${splitText(s.medians.control)}. ` +
      `Metrics on: ${splitText(s.medians.metrics)}.`,
    `- paired to off (median of the per-round differences): control ${splitText(s.pairedToOff.control)}; ` +
      `metrics on ${splitText(s.pairedToOff.metrics)}`,
  ];
}

function profileLines(m: MetricsOverhead): string[] {
  const p = m.profile;
  if (!p) return [];
  return [
    `**Metrics, where the CPU went** (the same runs under V8's sampling profiler, one sample ` +
      `of the main thread per millisecond, the load slices only: bench/harness/cpuProfile.ts): ` +
      `metrics code (src/metrics/, src/metricsServer.ts, prom-client) on the stack in ` +
      `${p.metricsCodePercent} % of the metrics instance's busy samples (median of the rounds; ` +
      `rounds ${p.metricsCodeRangePercent[0]} … ${p.metricsCodeRangePercent[1]} %; ` +
      `${p.metricsCodePooledPercent} % of all ${p.busySamples.toLocaleString("en-US")} together); ` +
      `the garbage collector ${p.gcPercent.off} % off, ${p.gcPercent.control} % control, ` +
      `${p.gcPercent.metrics} % metrics on (medians).`,
  ];
}

function cpuLines(m: MetricsOverhead): string[] {
  const c = m.cpu;
  if (!c) return [];
  const rounds = m.perRound
    .map((r, i) => `${i + 1}. ${r.order.map((role) => `${role} ${r.cpuUs?.[role]}`).join(", ")}`)
    .join("; ");
  return [
    `**Metrics, the API's CPU time per request** (the same runs: utime + stime of ` +
      `each API process over its measured run, divided by the requests it served; what the ` +
      `throughput costs once the API is what saturates): metrics on ${figure(c.overheadPercent, c.overheadIntervalPercent, c.overheadRangePercent, c.confidencePercent)} more than off, ` +
      `A/A control ${figure(c.controlPercent, c.controlIntervalPercent, c.controlRangePercent, c.confidencePercent)}; ` +
      `medians ${c.usWithout} µs off, ${c.usControl} control, ${c.usWithMetrics} metrics on. ` +
      `Budget ${m.budgetPercent} %: ${verdictText(c, m.budgetPercent)}.`,
    `- rounds, µs per request in the order measured: ${rounds}`,
  ];
}
