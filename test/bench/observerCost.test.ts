/**
 * The in-process measurement of what metrics and the access log cost (bench/harness/observerCost.ts),
 * in miniature: it drives the real observer and hooks, times a real database collection and reads
 * a process's CPU time. Speeds are not asserted; that the figures are sane, is.
 */
import {
  cpuPerRequestUs,
  measureDatabaseCollection,
  measureRequestObservation,
  observerCost,
} from "../../bench/harness/observerCost.ts";
import { tokenServiceFor } from "../../src/server.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { testConfig } from "../helpers/server.ts";

const positive = (n: number | null): boolean => n !== null && Number.isFinite(n) && n > 0;

let db: TestDatabase;

beforeAll(async () => {
  db = await createTestDatabase();
});

afterAll(async () => {
  await db.drop();
});

test("the request path with metrics and the access log costs more than without, in finite µs", async () => {
  const r = await measureRequestObservation({
    tokens: tokenServiceFor(testConfig()),
    batches: 3,
    perBatch: 50,
  });
  expect(r.iterations).toBe(150);
  for (const n of [r.offUs, r.onUs, r.addedUs, r.lineWriteUs]) expect(positive(n)).toBe(true);
  expect(r.onUs).toBeGreaterThan(r.offUs);

  const cost = observerCost(r, {
    cheapest: { caseId: "profile", p50Ms: 2 },
    apiCpuUsPerRequest: 1000,
    database: null,
  });
  expect(cost.percentOfP50).toBeCloseTo((r.addedUs / 2000) * 100, 2);
  expect(cost.percentOfApiCpu).toBeCloseTo((r.addedUs / 1000) * 100, 2);
});

test("one database collection is timed and set against its 15 s interval", async () => {
  const d = await measureDatabaseCollection({ ownerUrl: db.ownerUrl, samples: 2 });
  expect(d.samples).toBe(2);
  expect(positive(d.wallMs)).toBe(true);
  expect(Number.isFinite(d.processCpuMs)).toBe(true);
  expect(d.intervalSeconds).toBe(15);
  expect(d.percentOfCore).toBeCloseTo((d.wallMs / 15_000) * 100, 3);
});

test("a collection that fails is reported, not timed", async () => {
  const url = new URL(db.ownerUrl);
  url.password = "wrong";
  await expect(measureDatabaseCollection({ ownerUrl: url.toString(), samples: 1 })).rejects.toThrow(
    /database collection failed/,
  );
});

test("the CPU time of a process per request is read from /proc", async () => {
  const us = await cpuPerRequestUs(process.pid, async () => {
    // 50 ms of this process's CPU time, however busy the machine is
    const start = process.cpuUsage();
    const spent = (): number => {
      const used = process.cpuUsage(start);
      return (used.user + used.system) / 1000;
    };
    let n = 0;
    while (spent() < 50) n += Math.sqrt(n + 1);
    return n > 0 ? 10 : 0;
  });
  expect(positive(us)).toBe(true);
  // 50 ms over 10 "requests": about 5000 µs each (/proc counts in ticks of 10 ms)
  expect(us!).toBeGreaterThan(2000);
  expect(us!).toBeLessThan(20_000);
});
