/**
 * What metrics cost in throughput: the same cheap scenario against our API without metrics,
 * without them again (an A/A control), and with METRICS_PORT set — the access log on in all
 * three, as it is by default, so the figure is what turning metrics on costs a deployment (the
 * access log's own cost per request: observerCost.ts) —, in paired rounds (bench/harness/overheadRounds.ts: the order of the roles
 * changes every round, the figure is the median of the per-round ratios to `off`, reported with
 * the control's spread, so a reader can tell noise from cost).
 *
 * Every round starts three fresh API processes, one per role, warms them up (JIT, connection
 * pools, PostgreSQL's caches for their backends) and measures them **together**: each loaded by
 * its own load generator with `connections` clients, all three at the same time, so every
 * instance is under load throughout, as a saturated server is, and all three see the same
 * machine at every moment (this shared machine's speed drifts by 10–30 % over minutes). The
 * instances compete for the same cores: one that needs more CPU per request gets its share of
 * them and serves fewer requests in it, so both figures show a cost. The former harness loaded
 * them one at a time in slices of METRICS_OVERHEAD_SLICE_SECONDS (`mode: "turns"`, kept to
 * reproduce it): each slice then followed an idle gap twice as long, and an instance with metrics
 * paid for the gaps (more minor faults and garbage-collector threads' time when load resumed:
 * BENCHMARKS.md), which a server under steady load does not.
 * No process plays a role twice.
 *
 * The instances write their output to a file of their own (processes.ts ChildOutput), not to a
 * pipe the benchmark drains: draining an access log line per request cost the load generator's
 * process (on the same cores) and blocked the instance whenever the pipe was full, which is what
 * made the former harness (four instances alive at once, their output piped) unfair. Production
 * writes logs to stdout for the platform to collect; a write(2) to a file is a fair stand-in.
 * After each run the file is checked: the instance logged an access line for every request
 * measured.
 *
 * Each instance's CPU time is read over its measured load (/proc, before and after, split by
 * thread and kernel: procStat.ts): what a steadily loaded instance spends per request, its
 * periodic work included in proportion — /metrics scraped as Prometheus would, once every 15 s
 * (monitoring/prometheus/prometheus.yml) of the metrics instance's loaded time, at a phase drawn
 * each round, and the database collection (src/metrics/database.ts, every 15 s of wall time).
 * Budget: under 2 % of throughput.
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
import {
  perRequest,
  procStat,
  procStatDelta,
  procStatSum,
  ZERO_PROC_STAT,
  type ProcStat,
  type ProcStatPerRequest,
} from "./procStat.ts";
import { freePort, startApi, type ServiceEnv } from "./processes.ts";
import { median, round } from "./stats.ts";

export const METRICS_OVERHEAD_BUDGET_PERCENT = 2;
/** Every order of the three roles once (overheadRounds.ts). */
export const METRICS_OVERHEAD_ROUNDS = BALANCED_ROUNDS;
/** `npm run bench` measures each run at least this long (bench/cli.ts). */
export const METRICS_OVERHEAD_MIN_SECONDS = 8;
/**
 * Load before each measured run, on the same instance (at most the run's length): long enough
 * for V8 to optimise the request path and for the metrics instance's first scrapes to have been
 * paid (see WARM_UP_SCRAPE_MS).
 */
export const METRICS_OVERHEAD_WARM_UP_SECONDS = 12;
/** How often the metrics instance is scraped during its warm-up. */
const WARM_UP_SCRAPE_MS = 2_500;
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
  /** How the roles were loaded (measureMetricsOverhead's `mode`). */
  mode: OverheadMode;
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
  /**
   * Where each role's CPU per request went, by thread and kernel (procStat.ts): medians over the
   * rounds, field by field; null where /proc is not there.
   */
  split: SplitFigures | null;
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

/** Where the roles' CPU per request went (procStat.ts), over the rounds. */
export interface SplitFigures {
  /** Each role's medians of the rounds, field by field. */
  medians: Record<Role, ProcStatPerRequest>;
  /** Medians of the per-round differences to `off` of the same round, field by field (paired). */
  pairedToOff: { control: ProcStatPerRequest; metrics: ProcStatPerRequest };
}

const SPLIT_FIELDS = [
  "mainUserUs",
  "mainSystemUs",
  "helperUs",
  "metricsThreadUs",
  "minorFaultsPer1000",
  "voluntarySwitchesPer1000",
  "involuntarySwitchesPer1000",
] as const satisfies readonly (keyof ProcStatPerRequest)[];

function fieldsOf(value: (k: keyof ProcStatPerRequest) => number): ProcStatPerRequest {
  const out = {} as Record<keyof ProcStatPerRequest, number>;
  for (const k of SPLIT_FIELDS) out[k] = round(value(k), 1);
  return out;
}

/** The split figures of the rounds that have them (null: none). */
export function splitOf(rounds: Round[]): SplitFigures | null {
  const split = rounds.flatMap((r) => (r.split ? [r.split] : []));
  if (split.length === 0) return null;
  const of = (role: Role) => fieldsOf((k) => median(split.map((s) => s[role][k])));
  const paired = (role: Role) => fieldsOf((k) => median(split.map((s) => s[role][k] - s.off[k])));
  return {
    medians: { off: of("off"), control: of("control"), metrics: of("metrics") },
    pairedToOff: { control: paired("control"), metrics: paired("metrics") },
  };
}

/** The result of the rounds (exported for tests of the reporting). */
export function metricsOverheadOf(o: {
  caseId: string;
  mode?: OverheadMode;
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
    mode: o.mode ?? "together",
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
    split: splitOf(o.rounds),
    perRound: o.rounds,
    budgetPercent,
  };
}

/** How the roles are loaded within a round (measureMetricsOverhead's `mode`). */
export type OverheadMode = "together" | "turns";

/** How long one role is loaded before the next takes over, within a round (`turns`). */
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
  /** CPU time over its slices, by thread and kernel (procStat.ts; null: /proc is not there). */
  stat: ProcStat | null;
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
  /** Load on each instance before its slices; default METRICS_OVERHEAD_WARM_UP_SECONDS (at most `seconds`). */
  warmUpSeconds?: number;
  /**
   * `together` (the default): the three instances loaded at the same time, each by its own
   * `connections`, warm-up and measurement alike: every instance under load throughout, as a
   * saturated server is, and all three on the same machine at every moment. `turns`: one at a
   * time in slices, the others idle meanwhile (the former harness; each turn starts after an
   * idle gap, which an instance with timers pays for: BENCHMARKS.md).
   */
  mode?: OverheadMode;
  /** Scrape the metrics instance as Prometheus would (default true; false: never scraped). */
  scrapes?: boolean;
}): Promise<MetricsOverhead> {
  const mode = o.mode ?? "together";
  const rounds = Math.max(o.rounds ?? METRICS_OVERHEAD_ROUNDS, 2);
  const warmUpSeconds = o.warmUpSeconds ?? Math.min(METRICS_OVERHEAD_WARM_UP_SECONDS, o.seconds);
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
      if (o.scrapes !== false) scrapeUrl = `http://127.0.0.1:${port}/metrics`;
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
      stat: ZERO_PROC_STAT,
      windows: [],
      profile: null,
    };
  };

  /**
   * One slice of load on `x`, added to its totals. The metrics instance is scraped inside its
   * own slices, once every SCRAPE_INTERVAL_MS of its loaded time at `phaseMs`: its turns carry
   * its scrapes and no other instance's turns do.
   */
  const slice = async (x: Instance, phaseMs: number, length = sliceSeconds): Promise<void> => {
    const statBefore = procStat(x.api.pid);
    const startedAt = performance.now();
    const from = monotonicMicros();
    const scrapes: Promise<void>[] = [];
    const timers = x.scrapeUrl
      ? scrapesInSlice(x.elapsedSeconds, length, phaseMs).map((ms) =>
          setTimeout(() => scrapes.push(scrape(x.scrapeUrl!)), ms),
        )
      : [];
    const result = await load(x.api.url, length);
    for (const t of timers) clearTimeout(t);
    await Promise.all(scrapes);
    x.windows.push([from, monotonicMicros()]);
    x.elapsedSeconds += (performance.now() - startedAt) / 1000;
    const statAfter = procStat(x.api.pid);
    x.stat =
      x.stat !== null && statBefore !== null && statAfter !== null
        ? procStatSum(x.stat, procStatDelta(statBefore, statAfter))
        : null;
    x.requests += result.requests;
    x.errors += result.errors;
    x.firstError ??= result.firstError;
  };

  /**
   * One round: the three instances started in the round's order, then warmed up and measured
   * together (`together`: all three loaded at once, for `seconds`), or warmed up in that order
   * and loaded in turn (`turns`: one slice each, the order turning by one every slice, until
   * each had `seconds`); all alive throughout, so a change in the machine's speed during the
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
      const warmUp = async (x: Instance): Promise<void> => {
        // the metrics instance is scraped every WARM_UP_SCRAPE_MS of its warm-up: the first
        // scrapes of a process whose hot code V8 has optimised send ~100 functions shared with
        // the request path (Node's HTTP internals, pg's client) back to be recompiled, a
        // one-time cost of ~0.3 s of CPU that settles after two or three scrapes (BENCHMARKS.md);
        // the measurement is of the steady state after it
        const scrapes: Promise<void>[] = [];
        const timer = x.scrapeUrl
          ? setInterval(() => scrapes.push(scrape(x.scrapeUrl!)), WARM_UP_SCRAPE_MS)
          : null;
        await load(x.api.url, warmUpSeconds);
        if (timer) clearInterval(timer);
        await Promise.all(scrapes);
        if (x.scrapeUrl) await scrape(x.scrapeUrl);
        x.linesBefore = await accessLines(x.file);
      };
      const phaseMs = Math.random() * SCRAPE_INTERVAL_MS;
      const alive = instances.map((y) => y.api.pid);
      if (mode === "together") {
        await Promise.all(instances.map(warmUp));
        for (const x of instances) o.onSlice?.(r, x.role, alive);
        await Promise.all(instances.map((x) => slice(x, phaseMs, o.seconds)));
      } else {
        for (const x of instances) await warmUp(x);
        for (let k = 0; k < slices; k++) {
          for (let i = 0; i < instances.length; i++) {
            const x = instances[(i + k) % instances.length]!;
            o.onSlice?.(r, x.role, alive);
            await slice(x, phaseMs);
          }
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
      const split: Partial<Record<Role, ProcStatPerRequest>> = {};
      const spanMs: Partial<Record<Role, [number, number]>> = {};
      let cpuMeasured = true;
      for (const x of instances) {
        spanMs[x.role] = [
          round(x.windows[0]![0] / 1000, 1),
          round(x.windows[x.windows.length - 1]![1] / 1000, 1),
        ];
        if (x.stat) split[x.role] = perRequest(x.stat, x.requests);
        rps[x.role] = round(x.requests / x.elapsedSeconds, 1);
        if (x.stat === null) cpuMeasured = false;
        else
          cpu[x.role] = round(((x.stat.userSeconds + x.stat.systemSeconds) * 1e6) / x.requests, 1);
        if (x.profile) profile[x.role] = x.profile;
      }
      const done = rps as Record<Role, number>;
      measured.push({
        order,
        rps: done,
        ...(cpuMeasured ? { cpuUs: cpu as Record<Role, number> } : {}),
        spanMs: spanMs as Record<Role, [number, number]>,
        ...(Object.keys(split).length === instances.length
          ? { split: split as Record<Role, ProcStatPerRequest> }
          : {}),
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
      mode,
      connections: o.connections,
      seconds: o.seconds,
      warmUpSeconds,
      rounds: measured,
    });
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
