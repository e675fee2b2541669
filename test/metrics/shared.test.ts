/**
 * Metrics in shared memory (src/metrics/shared.ts): what the main thread records, a reader
 * renders as prom-client's own metrics would, whether it subscribed from the start or began from
 * a snapshot later (a restarted metrics thread), across pages, after removals.
 */
import { Counter, Gauge, Histogram, Registry } from "prom-client";

import { SharedRegistry, SharedView } from "../../src/metrics/shared.ts";
import { parseSamples } from "./scrape.ts";

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const NAMES = ["Feed", "Profile", "anonymous", 'odd "name"\\'];
const TYPES = ["query", "mutation", "subscription"];

/** A reader that hears every announcement from now on (as the metrics thread does). */
function subscribed(shared: SharedRegistry): Registry {
  const registry = new Registry();
  const view = new SharedView(registry, shared.snapshot());
  shared.subscribe((a) => view.apply(a));
  return registry;
}

/** A reader started from what the registry holds now. */
function fromSnapshot(shared: SharedRegistry): Registry {
  const registry = new Registry();
  new SharedView(registry, shared.snapshot());
  return registry;
}

test("a histogram renders the same samples as prom-client's, bucket edges and odd label values included", async () => {
  const shared = new SharedRegistry();
  const ours = subscribed(shared);
  const theirs = new Registry();
  const fast = shared.histogram({
    name: "h_seconds",
    help: "help",
    labelNames: ["operation_name", "operation_type"],
    buckets: BUCKETS,
  });
  const reference = new Histogram({
    name: "h_seconds",
    help: "help",
    labelNames: ["operation_name", "operation_type"] as const,
    buckets: BUCKETS,
    registers: [theirs],
  });
  let seed = 7;
  const random = (): number => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
  const values = [...BUCKETS, 0, 20, ...Array.from({ length: 2000 }, () => random() ** 3 * 12)];
  values.forEach((v, i) => {
    const name = NAMES[i % NAMES.length]!;
    const type = TYPES[(i * 7) % TYPES.length]!;
    fast.series([name, type]).observe(v);
    reference.observe({ operation_name: name, operation_type: type }, v);
  });
  const a = parseSamples(await ours.metrics());
  const b = parseSamples(await theirs.metrics());
  for (const metric of ["h_seconds_bucket", "h_seconds_sum", "h_seconds_count"]) {
    const mine = a.all(metric);
    const reference_ = b.all(metric);
    expect(Object.keys(mine).sort()).toEqual(Object.keys(reference_).sort());
    for (const [labels, value] of Object.entries(reference_)) {
      expect([metric, labels, mine[labels]]).toEqual([metric, labels, expect.closeTo(value, 9)]);
    }
  }
  expect(await ours.metrics()).toContain("# TYPE h_seconds histogram");
  // the values are the main thread's: a reader's reset does not touch them
  ours.resetMetrics();
  expect(parseSamples(await ours.metrics()).all("h_seconds_count")).toEqual(
    parseSamples(await theirs.metrics()).all("h_seconds_count"),
  );
});

test("counters and gauges render as prom-client's; a cleared gauge's series are absent until set", async () => {
  const shared = new SharedRegistry();
  const ours = subscribed(shared);
  const theirs = new Registry();
  const total = shared.counter({ name: "c_total", help: "c", labelNames: ["kind"] });
  const plain = shared.counter({ name: "plain_total", help: "p" });
  const gauge = shared.gauge({ name: "g", help: "g", labelNames: ["pool", "state"] });
  const refTotal = new Counter({
    name: "c_total",
    help: "c",
    labelNames: ["kind"],
    registers: [theirs],
  });
  new Counter({ name: "plain_total", help: "p", registers: [theirs] });
  const refGauge = new Gauge({
    name: "g",
    help: "g",
    labelNames: ["pool", "state"],
    registers: [theirs],
  });
  total.series(["a"]).inc();
  total.series(["a"]).inc(2.5);
  total.series(["b"]);
  refTotal.inc({ kind: "a" }, 3.5);
  refTotal.inc({ kind: "b" }, 0);
  gauge.series(["api", "idle"]).set(4);
  gauge.series(["api", "total"]).inc(3);
  gauge.series(["api", "total"]).dec();
  gauge.series(["old", "total"]).set(9);
  refGauge.set({ pool: "api", state: "idle" }, 4);
  refGauge.set({ pool: "api", state: "total" }, 2);
  refGauge.set({ pool: "old", state: "total" }, 9);
  expect(await ours.metrics()).toBe(await theirs.metrics());
  // as a collection does: what it does not set again is gone
  gauge.clear();
  gauge.series(["api", "idle"]).set(3);
  refGauge.reset();
  refGauge.set({ pool: "api", state: "idle" }, 3);
  expect(await ours.metrics()).toBe(await theirs.metrics());
  expect(plain.series([])).toBe(plain.series([])); // one series per label values
});

test("collect runs each family's callback, at the caller's time", async () => {
  const shared = new SharedRegistry();
  const ours = subscribed(shared);
  let pools: Record<string, number> = { api: 3, worker: 1 };
  shared.gauge({
    name: "pools",
    help: "pools",
    labelNames: ["pool"],
    collect(family) {
      family.clear();
      for (const [pool, n] of Object.entries(pools)) family.series([pool]).set(n);
    },
  });
  expect(parseSamples(await ours.metrics()).all("pools")).toEqual({});
  shared.collect();
  expect(parseSamples(await ours.metrics()).value("pools", { pool: "worker" })).toBe(1);
  pools = { api: 5 };
  shared.collect();
  const s = parseSamples(await ours.metrics());
  expect(s.value("pools", { pool: "api" })).toBe(5);
  expect(s.has("pools", { pool: "worker" })).toBe(false);
  expect(Object.keys(s.all("pools"))).toHaveLength(1);
});

test("a reader started from a snapshot sees what one subscribed from the start sees, across pages", async () => {
  const shared = new SharedRegistry();
  const early = subscribed(shared);
  const histogram = shared.histogram({ name: "h", help: "h", labelNames: ["n"], buckets: BUCKETS });
  const counter = shared.counter({ name: "c_total", help: "c", labelNames: ["n"] });
  // 1,500 histogram series of 13 slots and as many counters: three 8,192-slot pages
  for (let i = 0; i < 1_500; i += 1) {
    histogram.series([`op${i}`]).observe(i / 100);
    counter.series([`op${i}`]).inc(i);
  }
  const late = fromSnapshot(shared);
  const a = parseSamples(await early.metrics());
  const b = parseSamples(await late.metrics());
  expect(a.text).toBe(b.text);
  expect(a.value("c_total", { n: "op1499" })).toBe(1499);
  expect(a.value("h_count", { n: "op1499" })).toBe(1);
  expect(a.value("h_bucket", { n: "op1499", le: "10" })).toBe(0);
  expect(a.value("h_bucket", { n: "op1499", le: "+Inf" })).toBe(1);
  expect(a.value("h_sum", { n: "op700" })).toBe(7);
  // both read the same memory: a value written after the late reader started shows in both
  counter.series(["op0"]).inc(5);
  expect(parseSamples(await late.metrics()).value("c_total", { n: "op0" })).toBe(5);
  expect(parseSamples(await early.metrics()).value("c_total", { n: "op0" })).toBe(5);
});

test("a removed family leaves every reader, and its name can be defined again", async () => {
  const shared = new SharedRegistry();
  const early = subscribed(shared);
  const removed = shared.gauge({ name: "lag", help: "lag", labelNames: ["replica"] });
  removed.series(["a"]).set(1);
  shared.counter({ name: "kept_total", help: "kept" }).series([]).inc();
  shared.remove("lag");
  removed.series(["stale"]).set(7); // held after its removal: recorded, never read
  const late = fromSnapshot(shared);
  for (const registry of [early, late]) {
    const text = await registry.metrics();
    expect(text).not.toContain("lag");
    expect(parseSamples(text).value("kept_total")).toBe(1);
  }
  shared
    .gauge({ name: "lag", help: "lag again", labelNames: ["replica"] })
    .series(["b"])
    .set(2);
  const again = parseSamples(await early.metrics());
  expect(again.value("lag", { replica: "b" })).toBe(2);
  expect(again.has("lag", { replica: "a" })).toBe(false);
  // a reader started now (a restarted thread) does not take the stale series for the new family's
  const restarted = parseSamples(await fromSnapshot(shared).metrics());
  expect(restarted.value("lag", { replica: "b" })).toBe(2);
  expect(restarted.has("lag", { replica: "stale" })).toBe(false);
});

test("refuses a name defined twice and the wrong number of label values", () => {
  const shared = new SharedRegistry();
  const family = shared.counter({ name: "x_total", help: "x", labelNames: ["a", "b"] });
  expect(() => shared.gauge({ name: "x_total", help: "again" })).toThrow(
    "a metric named x_total is already registered",
  );
  expect(() => family.series(["only one"])).toThrow("x_total: 2 label values expected");
});
