/**
 * Where an API process's CPU went while it was loaded, from V8's own sampling profiler
 * (`node --cpu-prof`, one sample of the main thread every millisecond): the share of the busy
 * samples that ran metrics code (a frame of src/metrics/, src/metrics.ts, src/metricsServer.ts or
 * prom-client anywhere on the stack) and the share spent collecting garbage.
 *
 * This is a direct measurement of what metrics cost a loaded process, free of the ±10 % by which
 * two identical processes differ on this machine (the paired rounds of metricsOverhead.ts cannot
 * see through that to 2 %). What it cannot attribute: work that metrics cause outside their own
 * frames — a reply of the database collector parsed by pg, a scrape's socket handled by Node,
 * garbage that metrics allocated (it shows in the garbage collector's share, compared between
 * the roles) — which the per-collection and per-scrape costs (observerCost.ts) bound.
 *
 * Only samples inside the given windows count (the load slices, not the start-up or the warm-up):
 * the profile's timestamps are microseconds of the system's monotonic clock, the clock of
 * `process.hrtime` in the benchmark's own process.
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";

/** The parts of a `.cpuprofile` (the DevTools protocol's Profile) read here. */
export interface CpuProfile {
  nodes: {
    id: number;
    callFrame: { functionName: string; url: string };
    children?: number[];
  }[];
  startTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Samples of one process inside the windows. */
export interface ProfileShares {
  /** Samples that ran anything (not idle). */
  busy: number;
  /** Of those, with a metrics frame on the stack. */
  metrics: number;
  /** Of those, the garbage collector. */
  gc: number;
}

/** Files whose frames are metrics code. */
export const METRICS_CODE =
  /\/src\/metrics\/|\/src\/metrics\.ts$|\/src\/metricsServer\.ts$|\/node_modules\/prom-client\//;

/** Now on the profiles' clock (microseconds of the monotonic clock). */
export function monotonicMicros(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

type Kind = "idle" | "gc" | "metrics" | "other";

/** Counts the samples of `profile` taken inside `windows` ([from, to] µs, monotonic). */
export function sharesInWindows(
  profile: CpuProfile,
  windows: readonly (readonly [number, number])[],
  isMetrics: (url: string) => boolean = (url) => METRICS_CODE.test(url),
): ProfileShares {
  const parent = new Map<number, number>();
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const kinds = new Map<number, Kind>();
  const kindOf = (id: number): Kind => {
    const known = kinds.get(id);
    if (known) return known;
    const node = byId.get(id);
    let kind: Kind = "other";
    if (node?.callFrame.functionName === "(idle)") kind = "idle";
    else if (node?.callFrame.functionName === "(garbage collector)") kind = "gc";
    else if (node && isMetrics(node.callFrame.url)) kind = "metrics";
    else {
      const up = parent.get(id);
      if (up !== undefined && kindOf(up) === "metrics") kind = "metrics";
    }
    kinds.set(id, kind);
    return kind;
  };
  const shares: ProfileShares = { busy: 0, metrics: 0, gc: 0 };
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (!windows.some(([from, to]) => at >= from && at <= to)) continue;
    const kind = kindOf(profile.samples[i]!);
    if (kind === "idle") continue;
    shares.busy += 1;
    if (kind === "metrics") shares.metrics += 1;
    if (kind === "gc") shares.gc += 1;
  }
  return shares;
}

/** The profile of process `pid`'s main thread, written into `dir` when it exited. */
export async function readProfileOf(dir: string, pid: number): Promise<CpuProfile> {
  const name = (await readdir(dir)).find((f) =>
    new RegExp(`^CPU\\.\\d+\\.\\d+\\.${pid}\\.0\\.\\d+\\.cpuprofile$`).test(f),
  );
  if (!name) throw new Error(`no CPU profile of process ${pid} in ${dir}`);
  return JSON.parse(await readFile(path.join(dir, name), "utf8")) as CpuProfile;
}

/** A part of a process's work, told by the frame a sample was taken in (its self frame). */
export interface CpuCategory {
  name: string;
  matches: (frame: { functionName: string; url: string }) => boolean;
}

/**
 * Where a realtime API instance's CPU goes, by the frame each busy sample ran in: the first
 * category that matches names it, "other" the rest (bench/realtime.ts --profile).
 */
export const REALTIME_CATEGORIES: readonly CpuCategory[] = [
  { name: "garbage collector", matches: (f) => f.functionName === "(garbage collector)" },
  {
    // the kernel's side of a socket write (on loopback it includes the receiver's stack)
    name: "socket writes",
    matches: (f) =>
      f.url === "" &&
      /^(writev|writeBuffer|writeUtf8String|writeLatin1String)$/.test(f.functionName),
  },
  {
    name: "SQL building (pg-sql2, @dataplan/pg's query)",
    matches: (f) =>
      /\/node_modules\/pg-sql2\//.test(f.url) || /^build(TheQuery|QueryParts)/.test(f.functionName),
  },
  { name: "grafast", matches: (f) => /\/node_modules\/grafast\//.test(f.url) },
  {
    name: "pg driver",
    matches: (f) =>
      /\/node_modules\/(pg|pg-protocol|pg-pool|pg-types|postgres-array|postgres-date)\//.test(
        f.url,
      ),
  },
  {
    name: "websockets (ws, graphql-ws)",
    matches: (f) => /\/node_modules\/(ws|graphql-ws)\//.test(f.url),
  },
  { name: "realtime code (src/realtime)", matches: (f) => /\/src\/realtime\//.test(f.url) },
  // the bench reads each instance's pool gauges from /metrics every 100 ms
  { name: "metrics (the bench's /metrics sampling)", matches: (f) => METRICS_CODE.test(f.url) },
  { name: "postgraphile (other)", matches: (f) => /\/node_modules\/postgraphile\//.test(f.url) },
];

/** Busy samples inside `windows`, and how many fell in each category (and "other"). */
export function breakdownInWindows(
  profile: CpuProfile,
  windows: readonly (readonly [number, number])[],
  categories: readonly CpuCategory[],
): { busy: number; byCategory: Record<string, number> } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const names = new Map<number, string | null>();
  const nameOf = (id: number): string | null => {
    if (names.has(id)) return names.get(id)!;
    const frame = byId.get(id)?.callFrame;
    const name =
      !frame || frame.functionName === "(idle)"
        ? null
        : (categories.find((c) => c.matches(frame))?.name ?? "other");
    names.set(id, name);
    return name;
  };
  const byCategory: Record<string, number> = Object.fromEntries(
    [...categories.map((c) => c.name), "other"].map((n) => [n, 0]),
  );
  let busy = 0;
  let at = profile.startTime;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (!windows.some(([from, to]) => at >= from && at <= to)) continue;
    const name = nameOf(profile.samples[i]!);
    if (name === null) continue;
    busy += 1;
    byCategory[name] = (byCategory[name] ?? 0) + 1;
  }
  return { busy, byCategory };
}
