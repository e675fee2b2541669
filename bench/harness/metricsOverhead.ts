/**
 * What metrics cost in throughput: the same cheap scenario against our API without metrics,
 * without them again (an A/A control), and with METRICS_PORT set — the access log on in all
 * three, as it is by default, so the figure is what turning metrics on costs a deployment (the
 * access log's own cost per request: observerCost.ts) —, in paired rounds (bench/harness/overheadRounds.ts: the order of the roles
 * changes every round, the figure is the median of the per-round ratios to `off`, reported with
 * the control's spread, so a reader can tell noise from cost).
 *
 * Every round starts three fresh API processes, one per role, warms each up (JIT, its connection
 * pool, PostgreSQL's caches for its backends), then loads them in turn in slices of
 * METRICS_OVERHEAD_SLICE_SECONDS, the order turning every slice, until each has had `seconds`:
 * this shared machine's speed drifts by 10–30 % over minutes (other tenants), and a role measured
 * in one block of its own took that drift with it; in slices, all three see the same machine.
 * No process plays a role twice; the idle ones wait (their timers cost ~3 ms a second).
 *
 * The instances write their output to a file of their own (processes.ts ChildOutput), not to a
 * pipe the benchmark drains: draining an access log line per request cost the load generator's
 * process (on the same cores) and blocked the instance whenever the pipe was full, which is what
 * made the former harness (four instances alive at once, their output piped) unfair. Production
 * writes logs to stdout for the platform to collect; a write(2) to a file is a fair stand-in.
 * After each run the file is checked: the instance logged an access line for every request
 * measured.
 *
 * Each instance's CPU time is summed over its own slices (/proc, before and after each): what a
 * steadily loaded instance spends per request, its periodic work included in proportion — /metrics
 * scraped as Prometheus would, once every 15 s (monitoring/prometheus/prometheus.yml) of the
 * metrics instance's own loaded time, inside its own slices, at a phase drawn each round (it was
 * scraped every 15 s of the round from the start of the slices: both of a round's scrapes fell in
 * the first role's turns, whoever that was), and the database collection (src/metrics/database.ts,
 * every 15 s of wall time from the process's start) landing in its slices as often as the slices'
 * share of the round. Budget: under 2 % of throughput.
 */
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import {
  monotonicMicros,
  readProfileOf,
  sharesInWindows,
  type CpuProfile,
  type ProfileShares,
} from "./cpuProfile.ts";
import { runLoad, type HttpRequest, type LoadResult } from "./load.ts";
import {
  BALANCED_ROUNDS,
  ROLE_SETTINGS,
  roundOrder,
  summariseRounds,
  type Role,
  type Judged,
  type Round,
  type Verdict,
  type VerdictReason,
} from "./overheadRounds.ts";
import { processCpuSeconds } from "./observerCost.ts";
import { freePort, startApi, type ServiceEnv } from "./processes.ts";
import { median, round } from "./stats.ts";

export const METRICS_OVERHEAD_BUDGET_PERCENT = 2;
/** Every order of the three roles once (overheadRounds.ts). */
export const METRICS_OVERHEAD_ROUNDS = BALANCED_ROUNDS;
/** `npm run bench` measures each run at least this long (bench/cli.ts). */
export const METRICS_OVERHEAD_MIN_SECONDS = 8;
/** Load before each measured run, on the same instance (at most the run's length). */
export const METRICS_OVERHEAD_WARM_UP_SECONDS = 3;
/** Prometheus's scrape interval (monitoring/prometheus/prometheus.yml). */
const SCRAPE_INTERVAL_MS = 15_000;

/** One scrape of `url`, as Prometheus does it. */
async function scrape(url: string): Promise<void> {
  const response = await fetch(url);
  if (response.status !== 200) throw new Error(`${url} answered ${response.status}`);
  await response.arrayBuffer();
}

/**
 * When, from the start of a slice covering the instance's loaded seconds [from, from + length),
 * its scrapes fall (ms): one every SCRAPE_INTERVAL_MS of its own loaded time, at `phaseMs`.
 */
export function scrapesInSlice(from: number, length: number, phaseMs: number): number[] {
  const at: number[] = [];
  const start = from * 1000;
  const end = start + length * 1000;
  const first = Math.ceil((start - phaseMs) / SCRAPE_INTERVAL_MS);
  for (let k = Math.max(0, first); phaseMs + k * SCRAPE_INTERVAL_MS < end; k++) {
    at.push(phaseMs + k * SCRAPE_INTERVAL_MS - start);
  }
  return at;
}

/** A judged comparison (overheadRounds.ts) as the result's flat figures. */
export interface JudgedFigures {
  /** How much slower (or costlier) metrics on is than off, percent: median of the per-round ratios. */
  overheadPercent: number;
  overheadRangePercent: [number, number];
  /** The sign test's interval of that median (overheadRounds.ts); null: too few rounds. */
  overheadIntervalPercent: [number, number] | null;
  /** The same for the control (identical to off): what noise alone gives. */
  controlPercent: number;
  controlRangePercent: [number, number];
  controlIntervalPercent: [number, number] | null;
  /** The intervals' actual confidence, percent (at least 95; null: too few rounds). */
  confidencePercent: number | null;
  /** The largest disagreement of the two identical instances in a round, percent. */
  noisePercent: number;
  /** The A/A control's interval holds 0: the harness treated two identical instances alike. */
  fair: boolean;
  verdict: Verdict;
  reason: VerdictReason;
}

export interface MetricsOverhead extends JudgedFigures {
  caseId: string;
  connections: number;
  rounds: number;
  /** Seconds per measured run, and of load before it on the same instance. */
  seconds: number;
  warmUpSeconds: number;
  /** Requests per second, median over the rounds: METRICS_PORT and ACCESS_LOG on. */
  rpsWithMetrics: number;
  /** Metrics off (the reference). */
  rpsWithout: number;
  /** Metrics off, the A/A control. */
  rpsControl: number;
  /**
   * The API process's CPU time per request (µs, medians over the rounds) and how much more metrics
   * on spends than off (paired, with the A/A control); null where /proc is not there.
   */
  cpu: ({ usWithMetrics: number; usWithout: number; usControl: number } & JudgedFigures) | null;
  /** With `profile`: where the loaded processes' CPU went (cpuProfile.ts); else null. */
  profile: ProfileFigures | null;
  perRound: Round[];
  budgetPercent: number;
}

/** The profiles of the rounds (cpuProfile.ts), summed up. */
export interface ProfileFigures {
  /** The metrics instance's busy samples with metrics code on the stack, percent: median. */
  metricsCodePercent: number;
  metricsCodeRangePercent: [number, number];
  /** Of all rounds together: metrics samples over busy samples, percent. */
  metricsCodePooledPercent: number;
  /** The garbage collector's share of each role's busy samples, percent: medians. */
  gcPercent: Record<Role, number>;
  /** Busy samples of the metrics instances, all rounds (one per millisecond of CPU). */
  busySamples: number;
}

/** The figures of rounds that were profiled (null when none was). */
export function profileFiguresOf(rounds: Round[]): ProfileFigures | null {
  const profiled = rounds.flatMap((r) => (r.profile ? [r.profile] : []));
  if (profiled.length === 0) return null;
  const share = (p: ProfileShares, of: number): number => (p.busy > 0 ? (of / p.busy) * 100 : 0);
  const metricsShares = profiled.map((p) => share(p.metrics, p.metrics.metrics));
  const busy = profiled.reduce((a, p) => a + p.metrics.busy, 0);
  const inMetrics = profiled.reduce((a, p) => a + p.metrics.metrics, 0);
  const gc = (role: Role): number =>
    round(median(profiled.map((p) => share(p[role], p[role].gc))), 2);
  return {
    metricsCodePercent: round(median(metricsShares), 2),
    metricsCodeRangePercent: [
      round(Math.min(...metricsShares), 2),
      round(Math.max(...metricsShares), 2),
    ],
    metricsCodePooledPercent: busy > 0 ? round((inMetrics / busy) * 100, 2) : 0,
    gcPercent: { off: gc("off"), control: gc("control"), metrics: gc("metrics") },
    busySamples: busy,
  };
}

function figuresOf(j: Judged): JudgedFigures {
  const interval = (p: Judged["overhead"]): [number, number] | null =>
    p.interval ? [p.interval.lowPercent, p.interval.highPercent] : null;
  return {
    overheadPercent: j.overhead.medianPercent,
    overheadRangePercent: [j.overhead.minPercent, j.overhead.maxPercent],
    overheadIntervalPercent: interval(j.overhead),
    controlPercent: j.control.medianPercent,
    controlRangePercent: [j.control.minPercent, j.control.maxPercent],
    controlIntervalPercent: interval(j.control),
    confidencePercent: j.overhead.interval?.confidencePercent ?? null,
    noisePercent: j.noisePercent,
    fair: j.fair,
    verdict: j.verdict,
    reason: j.reason,
  };
}

/**
 * Keeps an instance's profile for a closer look (DevTools, speedscope), with what is needed to
 * compare it with another: its load windows and the requests served in them.
 */
async function keepProfile(
  dir: string,
  name: string,
  profile: CpuProfile,
  x: { windows: [number, number][]; requests: number },
): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(path.join(dir, `${name}.cpuprofile`), JSON.stringify(profile));
  await writeFile(
    path.join(dir, `${name}.json`),
    JSON.stringify({ windows: x.windows, requests: x.requests }),
  );
}

/** Lines of the access log in an instance's output. */
async function accessLines(file: string): Promise<number> {
  const text = await readFile(file, "utf8");
  let n = 0;
  for (const line of text.split("\n")) if (line.includes('"component":"access"')) n += 1;
  return n;
}

/** The result of the rounds (exported for tests of the reporting). */
export function metricsOverheadOf(o: {
  caseId: string;
  connections: number;
  seconds: number;
  warmUpSeconds: number;
  rounds: Round[];
}): MetricsOverhead {
  const budgetPercent = METRICS_OVERHEAD_BUDGET_PERCENT;
  const s = summariseRounds(o.rounds, budgetPercent);
  const rps = (role: Role): number => round(median(o.rounds.map((r) => r.rps[role])), 1);
  const cpuUs = (role: Role): number => round(median(o.rounds.map((r) => r.cpuUs?.[role] ?? 0)), 1);
  return {
    caseId: o.caseId,
    connections: o.connections,
    rounds: o.rounds.length,
    seconds: o.seconds,
    warmUpSeconds: o.warmUpSeconds,
    rpsWithMetrics: rps("metrics"),
    rpsWithout: rps("off"),
    rpsControl: rps("control"),
    ...figuresOf(s),
    cpu: s.cpu
      ? {
          usWithMetrics: cpuUs("metrics"),
          usWithout: cpuUs("off"),
          usControl: cpuUs("control"),
          ...figuresOf(s.cpu),
        }
      : null,
    profile: profileFiguresOf(o.rounds),
    perRound: o.rounds,
    budgetPercent,
  };
}

/** How long one role is loaded before the next takes over, within a round. */
export const METRICS_OVERHEAD_SLICE_SECONDS = 2;

/** One role's running instance in a round, and what its slices added up to. */
interface Instance {
  role: Role;
  api: Awaited<ReturnType<typeof startApi>>;
  file: string;
  scrapeUrl: string | null;
  linesBefore: number;
  requests: number;
  errors: number;
  firstError: string | null;
  elapsedSeconds: number;
  /** CPU time over its slices (null: /proc is not there). */
  cpuSeconds: number | null;
  /** Its slices, on the monotonic clock (µs), and its profile's samples in them. */
  windows: [number, number][];
  profile: ProfileShares | null;
}

export async function measureMetricsOverhead(o: {
  service: ServiceEnv;
  extra: Record<string, string>;
  caseId: string;
  next: () => HttpRequest;
  connections: number;
  /** Seconds each role is measured per round, in slices of METRICS_OVERHEAD_SLICE_SECONDS. */
  seconds: number;
  /** Default METRICS_OVERHEAD_ROUNDS; at least 2 (a spread needs two). */
  rounds?: number;
  /** Default METRICS_OVERHEAD_SLICE_SECONDS (tests use shorter ones). */
  sliceSeconds?: number;
  progress?: (line: string) => void;
  /** Told of each slice as it starts: the round (from 0), the role, and the pids alive. */
  onSlice?: (round: number, role: Role, alive: number[]) => void;
  /**
   * Run every instance under V8's sampling profiler and report where the CPU of their slices
   * went (cpuProfile.ts). The profiler costs all three roles alike (a few percent).
   */
  profile?: boolean;
  /** With `profile`: keep the profiles in this folder (`round<n>-<role>.cpuprofile`). */
  keepProfilesIn?: string;
}): Promise<MetricsOverhead> {
  const rounds = Math.max(o.rounds ?? METRICS_OVERHEAD_ROUNDS, 2);
  const warmUpSeconds = Math.min(METRICS_OVERHEAD_WARM_UP_SECONDS, o.seconds);
  const slices = Math.max(
    1,
    Math.round(o.seconds / (o.sliceSeconds ?? METRICS_OVERHEAD_SLICE_SECONDS)),
  );
  const sliceSeconds = o.seconds / slices;
  // named with this process's id: a test can tell its own run's folder from another's
  const dir = await mkdtemp(path.join(os.tmpdir(), `mking-bench-overhead-${process.pid}-`));
  const profiles = path.join(dir, "profiles");
  const load = (url: string, seconds: number): Promise<LoadResult> =>
    runLoad({ url, connections: o.connections, seconds, next: o.next });

  /** A fresh instance in `role`, its output to a file of its own. */
  const start = async (role: Role, r: number): Promise<Instance> => {
    const { metrics, accessLog } = ROLE_SETTINGS[role];
    const env: Record<string, string> = { ...o.extra, ACCESS_LOG: String(accessLog) };
    if (o.profile) env.NODE_OPTIONS = `--cpu-prof --cpu-prof-dir=${profiles}`;
    let scrapeUrl: string | null = null;
    if (metrics) {
      const port = await freePort();
      env.METRICS_PORT = String(port);
      scrapeUrl = `http://127.0.0.1:${port}/metrics`;
    }
    const file = path.join(dir, `round${r + 1}-${role}.log`);
    const api = await startApi(o.service, env, { file });
    return {
      role,
      api,
      file,
      scrapeUrl,
      linesBefore: 0,
      requests: 0,
      errors: 0,
      firstError: null,
      elapsedSeconds: 0,
      cpuSeconds: 0,
      windows: [],
      profile: null,
    };
  };

  /**
   * One slice of load on `x`, added to its totals. The metrics instance is scraped inside its
   * own slices, once every SCRAPE_INTERVAL_MS of its loaded time at `phaseMs`: its turns carry
   * its scrapes and no other instance's turns do.
   */
  const slice = async (x: Instance, phaseMs: number): Promise<void> => {
    const cpuBefore = processCpuSeconds(x.api.pid);
    const startedAt = performance.now();
    const from = monotonicMicros();
    const scrapes: Promise<void>[] = [];
    const timers = x.scrapeUrl
      ? scrapesInSlice(x.elapsedSeconds, sliceSeconds, phaseMs).map((ms) =>
          setTimeout(() => scrapes.push(scrape(x.scrapeUrl!)), ms),
        )
      : [];
    const result = await load(x.api.url, sliceSeconds);
    for (const t of timers) clearTimeout(t);
    await Promise.all(scrapes);
    x.windows.push([from, monotonicMicros()]);
    x.elapsedSeconds += (performance.now() - startedAt) / 1000;
    const cpuAfter = processCpuSeconds(x.api.pid);
    x.cpuSeconds =
      x.cpuSeconds !== null && cpuBefore !== null && cpuAfter !== null
        ? x.cpuSeconds + (cpuAfter - cpuBefore)
        : null;
    x.requests += result.requests;
    x.errors += result.errors;
    x.firstError ??= result.firstError;
  };

  /**
   * One round: the three instances started and warmed up in the round's order, then loaded in
   * turn, one slice each, the order turning by one every slice, until each had `seconds`; all
   * alive throughout (an idle one only waits), so a change in the machine's speed during the
   * round falls on all three alike.
   */
  const measureRound = async (order: Role[], r: number): Promise<Instance[]> => {
    const instances: Instance[] = [];
    const stops: Array<() => Promise<void>> = [];
    try {
      for (const role of order) {
        const x = await start(role, r);
        instances.push(x);
        stops.push(() => x.api.stop());
      }
      for (const x of instances) {
        await load(x.api.url, warmUpSeconds);
        // one scrape in the warm-up: the first fetch of this process and the first render of
        // the instance are not paid inside anyone's turn
        if (x.scrapeUrl) await scrape(x.scrapeUrl);
        x.linesBefore = await accessLines(x.file);
      }
      const phaseMs = Math.random() * SCRAPE_INTERVAL_MS;
      for (let k = 0; k < slices; k++) {
        for (let i = 0; i < instances.length; i++) {
          const x = instances[(i + k) % instances.length]!;
          o.onSlice?.(
            r,
            x.role,
            instances.map((y) => y.api.pid),
          );
          await slice(x, phaseMs);
        }
      }
      for (const x of instances) {
        await x.api.stop(); // its last lines written (src/log.ts flushes at exit), its profile too
        if (o.profile) {
          const profile = await readProfileOf(profiles, x.api.pid);
          x.profile = sharesInWindows(profile, x.windows);
          if (o.keepProfilesIn)
            await keepProfile(o.keepProfilesIn, `round${r + 1}-${x.role}`, profile, x);
        }
        const logged = (await accessLines(x.file)) - x.linesBefore;
        const { accessLog } = ROLE_SETTINGS[x.role];
        if (accessLog ? logged < x.requests : logged !== 0) {
          throw new Error(
            `the ${x.role} instance logged ${logged} access lines for ${x.requests} requests (${x.file})`,
          );
        }
        if (x.errors > 0 || x.requests === 0) {
          throw new Error(
            `the ${x.role} instance failed requests: ${x.firstError ?? "none served"}`,
          );
        }
      }
      return instances;
    } finally {
      await Promise.all(stops.map((stop) => stop()));
    }
  };

  try {
    const measured: Round[] = [];
    for (let r = 0; r < rounds; r++) {
      const order = roundOrder(r);
      const instances = await measureRound(order, r);
      const rps: Partial<Record<Role, number>> = {};
      const cpu: Partial<Record<Role, number>> = {};
      const profile: Partial<Record<Role, ProfileShares>> = {};
      let cpuMeasured = true;
      for (const x of instances) {
        rps[x.role] = round(x.requests / x.elapsedSeconds, 1);
        if (x.cpuSeconds === null) cpuMeasured = false;
        else cpu[x.role] = round((x.cpuSeconds * 1e6) / x.requests, 1);
        if (x.profile) profile[x.role] = x.profile;
      }
      const done = rps as Record<Role, number>;
      measured.push({
        order,
        rps: done,
        ...(cpuMeasured ? { cpuUs: cpu as Record<Role, number> } : {}),
        ...(o.profile ? { profile: profile as Record<Role, ProfileShares> } : {}),
      });
      o.progress?.(
        `round ${r + 1}/${rounds}: ${order.map((role) => `${role} ${done[role]}`).join(", ")} req/s` +
          (cpuMeasured
            ? `; API CPU per request ${order.map((role) => `${role} ${cpu[role]}`).join(", ")} µs`
            : "") +
          (o.profile
            ? `; metrics code ${profile.metrics?.metrics ?? 0} of ${profile.metrics?.busy ?? 0} busy samples`
            : ""),
      );
    }
    return metricsOverheadOf({
      caseId: o.caseId,
      connections: o.connections,
      seconds: o.seconds,
      warmUpSeconds,
      rounds: measured,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
