/**
 * The soak's summary: a JSON object (everything) and markdown (the section for BENCHMARKS.md):
 * operations by kind, faults by kind, invariant results, errors by code, the longest
 * unavailability per instance, p95 latency per minute.
 */
import type { FaultRecord } from "./faults.ts";
import type { InvariantResult } from "./invariants.ts";
import { unexcusedMs, type InstanceAvailability, type Window } from "./probe.ts";
import type { StatsSummary } from "./stats.ts";

export interface SoakReport {
  startedAt: string;
  seed: number;
  minutes: number;
  users: number;
  machine: { cpus: number; node: string };
  stats: StatsSummary;
  faults: FaultRecord[];
  faultsByKind: Record<string, number>;
  unexpectedExits: string[];
  postgresDowntime: Window[];
  availability: {
    instance: string;
    probes: number;
    answered: number;
    longestGapMs: number;
    longestOutsideOwnRestartsMs: number;
    restarts: number;
  }[];
  realtime: {
    sessions: number;
    messageEvents: number;
    notificationEvents: number;
    /** Subscriber sockets closed by the server or the network, by close code. */
    closesByCode: Record<string, number>;
    /** Each subscription session: instance, seconds from the start (opened, first event, ended). */
    sessionLog: {
      id: number;
      instance: string;
      opened: number;
      live: number | null;
      ended: number | null;
      reason: string | null;
      received: number;
    }[];
  };
  drainMs: number;
  invariants: InvariantResult[];
  ok: boolean;
}

export function availabilityRows(instances: InstanceAvailability[]): SoakReport["availability"] {
  return instances.map((i) => ({
    instance: i.instance,
    probes: i.probes,
    answered: i.answered,
    longestGapMs: i.gaps.reduce((m, g) => Math.max(m, g.end - g.start), 0),
    longestOutsideOwnRestartsMs: i.gaps.reduce(
      (m, g) => Math.max(m, unexcusedMs(g, i.restarts)),
      0,
    ),
    restarts: i.restarts.length,
  }));
}

export function countBy<T>(items: readonly T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}

export function toMarkdown(r: SoakReport): string {
  const lines: string[] = [];
  const total = r.stats.totalOperations;
  lines.push(
    `### Chaos soak, ${r.minutes} minutes (seed ${r.seed})`,
    "",
    `\`npm run soak -- --minutes ${r.minutes} --seed ${r.seed}\`, started ${r.startedAt} on ${r.machine.cpus} CPUs, Node ${r.machine.node}: ` +
      `embedded PostgreSQL, two API instances, two workers, ${r.users} users. ` +
      `**Invariants: ${r.invariants.filter((i) => i.ok).length}/${r.invariants.length} hold.**`,
    "",
    "| invariant | result | checked |",
    "| --- | --- | --- |",
    ...r.invariants.map(
      (i) =>
        `| ${i.id}. ${i.name} | ${i.ok ? "holds" : `**broken** (${i.violations.length} shown)`} | ${Object.entries(
          i.checked,
        )
          .map(([k, v]) => `${k} ${v}`)
          .join(", ")} |`,
    ),
    "",
    `Operations: ${total} in all.`,
    "",
    "| operation | acknowledged | refused | connection refused | unknown outcome |",
    "| --- | --- | --- | --- | --- |",
    ...Object.entries(r.stats.operations).map(
      ([k, v]) => `| ${k} | ${v.ok} | ${v.refused} | ${v.unsent} | ${v.unknown} |`,
    ),
    "",
    `Faults injected: ${r.faults.length}.`,
    "",
    "| fault | times |",
    "| --- | --- |",
    ...Object.entries(r.faultsByKind).map(([k, v]) => `| ${k} | ${v} |`),
    "",
    "| errors by code | count |",
    "| --- | --- |",
    ...Object.entries(r.stats.errorsByCode).map(([k, v]) => `| ${k} | ${v} |`),
    "",
    "| instance | probes answered | longest gap | longest outside its own restarts | restarts |",
    "| --- | --- | --- | --- | --- |",
    ...r.availability.map(
      (a) =>
        `| ${a.instance} | ${a.answered}/${a.probes} | ${(a.longestGapMs / 1000).toFixed(1)} s | ${(a.longestOutsideOwnRestartsMs / 1000).toFixed(1)} s | ${a.restarts} |`,
    ),
    "",
    `PostgreSQL restarts: ${r.postgresDowntime.map((w) => `${((w.end - w.start) / 1000).toFixed(1)} s`).join(", ") || "none"}. ` +
      `Realtime: ${r.realtime.sessions} subscription sessions, ${r.realtime.messageEvents} messages and ${r.realtime.notificationEvents} notification events received; subscriber sockets closed by code: ${
        Object.entries(r.realtime.closesByCode)
          .map(([code, n]) => `${code}×${n}`)
          .join(", ") || "none"
      }. ` +
      `Queue drained in ${(r.drainMs / 1000).toFixed(1)} s after the load stopped.`,
    "",
    "| minute | requests | p95 |",
    "| --- | --- | --- |",
    ...r.stats.p95PerMinute.map((m) => `| ${m.minute + 1} | ${m.requests} | ${m.p95Ms} ms |`),
  );
  if (r.unexpectedExits.length > 0) {
    lines.push("", "Unexpected exits:", "", ...r.unexpectedExits.map((e) => `- ${e}`));
  }
  const broken = r.invariants.filter((i) => !i.ok);
  if (broken.length > 0) {
    lines.push("", "Violations:", "");
    for (const i of broken) for (const v of i.violations) lines.push(`- (${i.id}) ${v}`);
  }
  return lines.join("\n") + "\n";
}
