/**
 * What metrics and the access log cost: the same cheap scenario against two API instances, one
 * with METRICS_PORT and ACCESS_LOG on, one with both off, measured in alternation (so drift in
 * the machine's load hits both alike; each run the same length, the same connections and
 * requests); medians of the runs. While the instance with metrics is loaded, /metrics is scraped
 * as Prometheus would (monitoring/prometheus/prometheus.yml: every 15 s), so the cost of
 * rendering the registry and collecting the database's metrics counts too; the access log goes to
 * a pipe the benchmark drains without reading (bench/harness/processes.ts), as to journald or
 * docker. Budget: under 2 % of throughput.
 */
import { runLoad, type HttpRequest } from "./load.ts";
import { freePort, startApi, type Child, type ServiceEnv } from "./processes.ts";
import { median } from "./stats.ts";

export const METRICS_OVERHEAD_BUDGET_PERCENT = 2;
/** Fewer alternating runs leave a 2 % difference within the noise of a shared machine. */
export const METRICS_OVERHEAD_MIN_RUNS = 5;
/**
 * Runs much shorter than a scrape interval leave the cost of a scrape to chance: `npm run bench`
 * measures this with runs of at least this long (bench/cli.ts).
 */
export const METRICS_OVERHEAD_MIN_SECONDS = 10;
/** Prometheus's scrape interval (monitoring/prometheus/prometheus.yml). */
const SCRAPE_INTERVAL_MS = 15_000;

/** Scrapes `url` now and every SCRAPE_INTERVAL_MS until the returned function is called. */
function scrapeWhile(url: string): () => Promise<void> {
  let scraping: Promise<void> = Promise.resolve();
  let failure: Error | null = null;
  const scrape = (): void => {
    scraping = scraping.then(async () => {
      try {
        const response = await fetch(url);
        if (response.status !== 200) throw new Error(`${url} answered ${response.status}`);
        await response.arrayBuffer();
      } catch (error) {
        failure ??= error as Error;
      }
    });
  };
  scrape();
  const timer = setInterval(scrape, SCRAPE_INTERVAL_MS);
  timer.unref();
  return async () => {
    clearInterval(timer);
    await scraping;
    if (failure) throw failure;
  };
}

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
  const runs = Math.max(o.runs, METRICS_OVERHEAD_MIN_RUNS);
  try {
    const metricsPort = await freePort();
    const on = await startApi(o.service, {
      ...o.extra,
      METRICS_PORT: String(metricsPort),
      ACCESS_LOG: "true",
    });
    children.push(on);
    const off = await startApi(o.service, { ...o.extra, ACCESS_LOG: "false" });
    children.push(off);
    const seconds = o.seconds;
    const load = (target: Child & { url: string }) =>
      runLoad({ url: target.url, connections: o.connections, seconds, next: o.next });
    // warm both up
    await load(on);
    await load(off);
    // Prometheus's cadence over the whole measurement, not a scrape at the start of every run
    // (short runs would pay a full database collection each, several times what 15 s costs)
    const stopScraping = scrapeWhile(`http://127.0.0.1:${metricsPort}/metrics`);
    const withMetrics: number[] = [];
    const without: number[] = [];
    try {
      for (let run = 0; run < runs; run++) {
        // alternate which goes first
        const order = run % 2 === 0 ? [on, off] : [off, on];
        for (const target of order) {
          const r = await load(target);
          (target === on ? withMetrics : without).push(r.rps);
        }
      }
    } finally {
      await stopScraping();
    }
    const rpsWithMetrics = median(withMetrics);
    const rpsWithout = median(without);
    return {
      caseId: o.caseId,
      connections: o.connections,
      runs,
      seconds,
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
