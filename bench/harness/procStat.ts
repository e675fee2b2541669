/**
 * A process's CPU time, split where Linux's /proc splits it: user and system time of the whole
 * process (all its threads: V8's compiler and garbage-collector helpers, libuv's pool) and of
 * its main thread alone (where JavaScript runs), its minor page faults, and the main thread's
 * voluntary and involuntary context switches. The metrics benchmark (metricsOverhead.ts) sums
 * these over each instance's load slices, so a difference in CPU per request can be placed: in
 * the JavaScript thread, in the helpers, in the metrics thread (src/metrics/thread.ts, a thread
 * named "metrics"), in the kernel, or in being descheduled.
 */
import { readdirSync, readFileSync } from "node:fs";

/** Clock ticks per second of /proc/<pid>/stat (USER_HZ: 100 on Linux). */
const USER_HZ = 100;

export interface ProcStat {
  /** The whole process, seconds. */
  userSeconds: number;
  systemSeconds: number;
  /** Its main thread (the thread group leader), seconds. */
  mainUserSeconds: number;
  mainSystemSeconds: number;
  /** The metrics thread, user and system, seconds (0 where there is none). */
  metricsThreadSeconds: number;
  /** The whole process's minor page faults. */
  minorFaults: number;
  /** The main thread's context switches: it waited (voluntary), it was preempted (involuntary). */
  voluntarySwitches: number;
  involuntarySwitches: number;
}

/** The fields of a /proc stat line after the command name (which may hold spaces), from field 3. */
function statFields(text: string): string[] {
  return text.slice(text.lastIndexOf(")") + 2).split(" ");
}

/** A `name:\t value` line of a /proc status file, as a number. */
function statusValue(text: string, name: string): number {
  const match = new RegExp(`^${name}:\\s+(\\d+)`, "m").exec(text);
  return match ? Number(match[1]) : 0;
}

/** CPU seconds of `pid`'s threads named `name` (one that ends while it is read counts 0). */
function threadSeconds(pid: number, name: string): number {
  let seconds = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      if (readFileSync(`/proc/${pid}/task/${tid}/comm`, "utf8").trim() !== name) continue;
      const f = statFields(readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8"));
      seconds += (Number(f[11]) + Number(f[12])) / USER_HZ;
    } catch {
      // the thread ended
    }
  }
  return seconds;
}

/** Where `pid` stands now (null: no /proc, or the process is gone). */
export function procStat(pid: number): ProcStat | null {
  try {
    const all = statFields(readFileSync(`/proc/${pid}/stat`, "utf8"));
    const main = statFields(readFileSync(`/proc/${pid}/task/${pid}/stat`, "utf8"));
    const status = readFileSync(`/proc/${pid}/task/${pid}/status`, "utf8");
    return {
      // stat fields 10 (minflt), 14 (utime), 15 (stime): indexes 7, 11, 12 from field 3
      userSeconds: Number(all[11]) / USER_HZ,
      systemSeconds: Number(all[12]) / USER_HZ,
      mainUserSeconds: Number(main[11]) / USER_HZ,
      mainSystemSeconds: Number(main[12]) / USER_HZ,
      metricsThreadSeconds: threadSeconds(pid, "metrics"),
      minorFaults: Number(all[7]),
      voluntarySwitches: statusValue(status, "voluntary_ctxt_switches"),
      involuntarySwitches: statusValue(status, "nonvoluntary_ctxt_switches"),
    };
  } catch {
    return null;
  }
}

/** What changed from `before` to `after`, field by field. */
export function procStatDelta(before: ProcStat, after: ProcStat): ProcStat {
  return {
    userSeconds: after.userSeconds - before.userSeconds,
    systemSeconds: after.systemSeconds - before.systemSeconds,
    mainUserSeconds: after.mainUserSeconds - before.mainUserSeconds,
    mainSystemSeconds: after.mainSystemSeconds - before.mainSystemSeconds,
    metricsThreadSeconds: after.metricsThreadSeconds - before.metricsThreadSeconds,
    minorFaults: after.minorFaults - before.minorFaults,
    voluntarySwitches: after.voluntarySwitches - before.voluntarySwitches,
    involuntarySwitches: after.involuntarySwitches - before.involuntarySwitches,
  };
}

/** `a + b`, field by field. */
export function procStatSum(a: ProcStat, b: ProcStat): ProcStat {
  return {
    userSeconds: a.userSeconds + b.userSeconds,
    systemSeconds: a.systemSeconds + b.systemSeconds,
    mainUserSeconds: a.mainUserSeconds + b.mainUserSeconds,
    mainSystemSeconds: a.mainSystemSeconds + b.mainSystemSeconds,
    metricsThreadSeconds: a.metricsThreadSeconds + b.metricsThreadSeconds,
    minorFaults: a.minorFaults + b.minorFaults,
    voluntarySwitches: a.voluntarySwitches + b.voluntarySwitches,
    involuntarySwitches: a.involuntarySwitches + b.involuntarySwitches,
  };
}

export const ZERO_PROC_STAT: ProcStat = {
  userSeconds: 0,
  systemSeconds: 0,
  mainUserSeconds: 0,
  mainSystemSeconds: 0,
  metricsThreadSeconds: 0,
  minorFaults: 0,
  voluntarySwitches: 0,
  involuntarySwitches: 0,
};

/** Per request, in the units a reader compares: µs of CPU, faults and switches per 1,000. */
export interface ProcStatPerRequest {
  /** JavaScript's thread, user and system time, µs per request. */
  mainUserUs: number;
  mainSystemUs: number;
  /** The helper threads (compiler, GC helpers, libuv's pool), µs per request. */
  helperUs: number;
  /** The metrics thread (src/metrics/thread.ts), µs per request. */
  metricsThreadUs: number;
  minorFaultsPer1000: number;
  voluntarySwitchesPer1000: number;
  involuntarySwitchesPer1000: number;
}

export function perRequest(s: ProcStat, requests: number): ProcStatPerRequest {
  const n = Math.max(requests, 1);
  const helper =
    s.userSeconds +
    s.systemSeconds -
    (s.mainUserSeconds + s.mainSystemSeconds + s.metricsThreadSeconds);
  return {
    mainUserUs: (s.mainUserSeconds * 1e6) / n,
    mainSystemUs: (s.mainSystemSeconds * 1e6) / n,
    helperUs: (helper * 1e6) / n,
    metricsThreadUs: (s.metricsThreadSeconds * 1e6) / n,
    minorFaultsPer1000: (s.minorFaults * 1000) / n,
    voluntarySwitchesPer1000: (s.voluntarySwitches * 1000) / n,
    involuntarySwitchesPer1000: (s.involuntarySwitches * 1000) / n,
  };
}
