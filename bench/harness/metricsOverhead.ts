/**
 * What metrics and the access log cost: the same cheap scenario against four API instances —
 * both off, metrics only (METRICS_PORT), the access log only (ACCESS_LOG), both on — measured in
 * alternation (so drift in the machine's load hits all alike; each run the same length, the same
 * connections and requests, the order rotated every run); medians of the runs. The split says
 * which of the two costs what when the sum is over budget. While the instances with metrics are
 * loaded, /metrics is scraped as Prometheus would (monitoring/prometheus/prometheus.yml: every
 * 15 s), so the cost of rendering the registry and collecting the database's metrics counts too;
 * the access log goes to a pipe the benchmark drains without reading
 * (bench/harness/processes.ts), as to journald or docker. Budget: under 2 % of throughput (both
 * on against both off).
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
  /** Requests per second, median of the runs: metrics and the access log on. */
  rpsWithMetrics: number;
  /** Both off. */
  rpsWithout: number;
  /** Metrics on (METRICS_PORT, scraped), the access log off. */
  rpsMetricsOnly: number;
  /** The access log on, metrics off. */
  rpsAccessLogOnly: number;
  /** (without − with) / without, in percent (negative: noise in favour of metrics). */
  overheadPercent: number;
  /** The same for metrics alone and the access log alone. */
  metricsOnlyPercent: number;
  accessLogOnlyPercent: number;
  budgetPercent: number;
}

type Setting = "both" | "off" | "metrics" | "accessLog";

const percentBelow = (rps: number, without: number): number =>
  without > 0 ? Math.round(((without - rps) / without) * 1000) / 10 : 0;

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
  const scrapeUrls: string[] = [];
  const start = async (metrics: boolean, accessLog: boolean) => {
    const env: Record<string, string> = { ...o.extra, ACCESS_LOG: String(accessLog) };
    if (metrics) {
      const port = await freePort();
      env.METRICS_PORT = String(port);
      scrapeUrls.push(`http://127.0.0.1:${port}/metrics`);
    }
    const child = await startApi(o.service, env);
    children.push(child);
    return child;
  };
  try {
    const targets: Record<Setting, Child & { url: string }> = {
      both: await start(true, true),
      off: await start(false, false),
      metrics: await start(true, false),
      accessLog: await start(false, true),
    };
    const settings = Object.keys(targets) as Setting[];
    const seconds = o.seconds;
    const load = (target: Child & { url: string }) =>
      runLoad({ url: target.url, connections: o.connections, seconds, next: o.next });
    // warm them up
    for (const setting of settings) await load(targets[setting]);
    // Prometheus's cadence over the whole measurement, not a scrape at the start of every run
    // (short runs would pay a full database collection each, several times what 15 s costs)
    const stopScraping = scrapeUrls.map((url) => scrapeWhile(url));
    const rps: Record<Setting, number[]> = { both: [], off: [], metrics: [], accessLog: [] };
    try {
      for (let run = 0; run < runs; run++) {
        // rotate which goes first
        for (let i = 0; i < settings.length; i++) {
          const setting = settings[(run + i) % settings.length]!;
          rps[setting].push((await load(targets[setting])).rps);
        }
      }
    } finally {
      await Promise.all(stopScraping.map((stop) => stop()));
    }
    const rounded = (setting: Setting): number => Math.round(median(rps[setting]) * 10) / 10;
    const without = median(rps.off);
    return {
      caseId: o.caseId,
      connections: o.connections,
      runs,
      seconds,
      rpsWithMetrics: rounded("both"),
      rpsWithout: rounded("off"),
      rpsMetricsOnly: rounded("metrics"),
      rpsAccessLogOnly: rounded("accessLog"),
      overheadPercent: percentBelow(median(rps.both), without),
      metricsOnlyPercent: percentBelow(median(rps.metrics), without),
      accessLogOnlyPercent: percentBelow(median(rps.accessLog), without),
      budgetPercent: METRICS_OVERHEAD_BUDGET_PERCENT,
    };
  } finally {
    await Promise.all(children.map((c) => c.stop()));
  }
}
