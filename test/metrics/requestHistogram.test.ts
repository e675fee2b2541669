/**
 * The request path's histogram (src/metrics/requestHistogram.ts) renders exactly what
 * prom-client's own Histogram renders for the same observations: same samples, same values.
 */
import { Histogram, Registry } from "prom-client";

import { RequestHistogram } from "../../src/metrics/requestHistogram.ts";
import { parseSamples } from "./scrape.ts";

const BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const NAMES = ["Feed", "Profile", "anonymous", 'odd "name"\\'];
const TYPES = ["query", "mutation", "subscription"];

function pair() {
  const ours = new Registry();
  const theirs = new Registry();
  const fast = new RequestHistogram({
    name: "h_seconds",
    help: "help",
    labelNames: ["operation_name", "operation_type"] as const,
    buckets: BUCKETS,
    registers: [ours],
  });
  const reference = new Histogram({
    name: "h_seconds",
    help: "help",
    labelNames: ["operation_name", "operation_type"] as const,
    buckets: BUCKETS,
    registers: [theirs],
  });
  return { ours, theirs, fast, reference };
}

test("renders the same samples as prom-client's Histogram, bucket edges included", async () => {
  const { ours, theirs, fast, reference } = pair();
  let seed = 7;
  const random = (): number => ((seed = (seed * 16807) % 2147483647) - 1) / 2147483646;
  const values = [...BUCKETS, 0, 20, ...Array.from({ length: 2000 }, () => random() ** 3 * 12)];
  values.forEach((v, i) => {
    const name = NAMES[i % NAMES.length]!;
    const type = TYPES[(i * 7) % TYPES.length]!;
    fast.observe([name, type], v);
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
});

test("reset forgets every series", async () => {
  const { ours, fast } = pair();
  fast.observe(["Feed", "query"], 0.2);
  ours.resetMetrics();
  expect(parseSamples(await ours.metrics()).all("h_seconds_count")).toEqual({});
});
