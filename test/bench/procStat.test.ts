/**
 * The /proc reader of the metrics benchmark (bench/harness/procStat.ts): the whole process's and
 * the main thread's CPU time, faults and context switches, read from this very process, and the
 * arithmetic that turns two readings into figures per request.
 */
import { once } from "node:events";
import { Worker } from "node:worker_threads";

import {
  perRequest,
  procStat,
  procStatDelta,
  procStatSum,
  ZERO_PROC_STAT,
  type ProcStat,
} from "../../bench/harness/procStat.ts";

/** Keeps this thread busy for `ms` of wall time. */
function spin(ms: number): number {
  const until = performance.now() + ms;
  let x = 0;
  while (performance.now() < until) x += Math.sqrt(x + 1);
  return x;
}

describe("procStat", () => {
  test("reads this process: the main thread's user time grows while it computes", () => {
    const before = procStat(process.pid);
    expect(before).not.toBeNull();
    spin(300);
    const after = procStat(process.pid)!;
    const d = procStatDelta(before!, after);
    // 300 ms of wall time on the main thread: most of it its user time (ticks of 10 ms)
    expect(d.mainUserSeconds).toBeGreaterThanOrEqual(0.15);
    // the whole process holds its main thread
    expect(after.userSeconds + after.systemSeconds).toBeGreaterThanOrEqual(
      after.mainUserSeconds + after.mainSystemSeconds,
    );
    expect(after.minorFaults).toBeGreaterThan(0);
    expect(after.voluntarySwitches + after.involuntarySwitches).toBeGreaterThan(0);
    for (const value of Object.values(d)) expect(value).toBeGreaterThanOrEqual(0);
  });

  test("reads a thread named metrics apart (src/metrics/thread.ts runs under that name)", async () => {
    const before = procStat(process.pid)!;
    const release = new Int32Array(new SharedArrayBuffer(4));
    // spins 300 ms, says so, then waits (alive, not spinning) until told to end
    const thread = new Worker(
      `const { parentPort, workerData } = require("node:worker_threads");
       const until = performance.now() + 300;
       while (performance.now() < until);
       parentPort.postMessage("spun");
       Atomics.wait(workerData, 0, 0);`,
      { eval: true, name: "metrics", workerData: release },
    );
    try {
      await once(thread, "message");
      const d = procStatDelta(before, procStat(process.pid)!);
      expect(d.metricsThreadSeconds).toBeGreaterThanOrEqual(0.15);
      // the process's time holds it, beside the main thread's
      expect(d.userSeconds + d.systemSeconds).toBeGreaterThanOrEqual(
        d.mainUserSeconds + d.mainSystemSeconds + d.metricsThreadSeconds - 0.02,
      );
    } finally {
      Atomics.store(release, 0, 1);
      Atomics.notify(release, 0);
      await once(thread, "exit");
    }
  });

  test("is null for a process that is not there", () => {
    // pid_max is at most 2^22 on Linux
    expect(procStat(2 ** 23)).toBeNull();
  });
});

describe("the arithmetic", () => {
  const a: ProcStat = {
    userSeconds: 3,
    systemSeconds: 1,
    mainUserSeconds: 2,
    mainSystemSeconds: 0.5,
    metricsThreadSeconds: 0.125,
    minorFaults: 100,
    voluntarySwitches: 10,
    involuntarySwitches: 20,
  };
  const b: ProcStat = {
    userSeconds: 5,
    systemSeconds: 1.5,
    mainUserSeconds: 3.5,
    mainSystemSeconds: 0.75,
    metricsThreadSeconds: 0.375,
    minorFaults: 300,
    voluntarySwitches: 14,
    involuntarySwitches: 60,
  };

  test("a delta and a sum, field by field", () => {
    const d = procStatDelta(a, b);
    expect(d).toEqual({
      userSeconds: 2,
      systemSeconds: 0.5,
      mainUserSeconds: 1.5,
      mainSystemSeconds: 0.25,
      metricsThreadSeconds: 0.25,
      minorFaults: 200,
      voluntarySwitches: 4,
      involuntarySwitches: 40,
    });
    expect(procStatSum(a, d)).toEqual(b);
    expect(procStatSum(ZERO_PROC_STAT, a)).toEqual(a);
  });

  test("per request: the helpers are the process less its main thread and metrics thread", () => {
    expect(perRequest(procStatDelta(a, b), 1000)).toEqual({
      mainUserUs: 1500,
      mainSystemUs: 250,
      // 2.5 s of the process − 1.75 s of the main thread − 0.25 s of the metrics thread
      helperUs: 500,
      metricsThreadUs: 250,
      minorFaultsPer1000: 200,
      voluntarySwitchesPer1000: 4,
      involuntarySwitchesPer1000: 40,
    });
  });
});
