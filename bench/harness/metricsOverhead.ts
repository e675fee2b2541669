/**
 * What metrics and the access log cost: the same cheap scenario against two API instances, one
 * with METRICS_PORT and ACCESS_LOG on, one with both off, measured in alternation (so drift in
 * the machine's load hits both alike); medians of the runs. Budget: under 2 % of throughput.
 */
import { runLoad, type HttpRequest } from "./load.ts";
import { freePort, startApi, type Child, type ServiceEnv } from "./processes.ts";
import { median } from "./stats.ts";

export const METRICS_OVERHEAD_BUDGET_PERCENT = 2;

export interface MetricsOverhead {
  caseId: string;
  connections: number;
  runs: number;
  seconds: number;
  /** Requests per second, median of the runs. */
  rpsWithMetrics: number;
  rpsWithout: number;
  /** (without − with) / without, in percent (negative: noise in favour of metrics). */
  overheadPercent: number;
  budgetPercent: number;
}

export async function measureMetricsOverhead(o: {
  service: ServiceEnv;
  extra: Record<string, string>;
  caseId: string;
  next: () => HttpRequest;
  connections: number;
  seconds: number;
  runs: number;
}): Promise<MetricsOverhead> {
  const children: Child[] = [];
  try {
    const on = await startApi(o.service, {
      ...o.extra,
      METRICS_PORT: String(await freePort()),
      ACCESS_LOG: "true",
    });
    children.push(on);
    const off = await startApi(o.service, { ...o.extra, ACCESS_LOG: "false" });
    children.push(off);
    const load = (url: string) =>
      runLoad({ url, connections: o.connections, seconds: o.seconds, next: o.next });
    // warm both up
    await load(on.url);
    await load(off.url);
    const withMetrics: number[] = [];
    const without: number[] = [];
    for (let run = 0; run < o.runs; run++) {
      // alternate which goes first
      const order = run % 2 === 0 ? [on, off] : [off, on];
      for (const target of order) {
        const r = await load(target.url);
        (target === on ? withMetrics : without).push(r.rps);
      }
    }
    const rpsWithMetrics = median(withMetrics);
    const rpsWithout = median(without);
    return {
      caseId: o.caseId,
      connections: o.connections,
      runs: o.runs,
      seconds: o.seconds,
      rpsWithMetrics: Math.round(rpsWithMetrics * 10) / 10,
      rpsWithout: Math.round(rpsWithout * 10) / 10,
      overheadPercent:
        rpsWithout > 0 ? Math.round(((rpsWithout - rpsWithMetrics) / rpsWithout) * 1000) / 10 : 0,
      budgetPercent: METRICS_OVERHEAD_BUDGET_PERCENT,
    };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }
}
