/**
 * `npm run bench -- [--scale 1] [--seconds 5] [--runs 3] [--concurrency 1,8,32] [--no-peer]
 *                  [--quick] [--database-url <owner url>] [--scenarios search_posts_common,...]`
 * `npm run bench -- --scales 0.1,1,3 [--seconds 3] [--runs 1] [--concurrency 8] [--quick]`
 *
 * Runs the benchmark (bench/run.ts) against a database of its own: on the embedded server (or
 * with ROOT_DATABASE_URL) that is `<database>_bench`, created, migrated and seeded at the asked
 * scale when it is not already (re-seeded when the scale or the schema changed); without a
 * superuser, pass `--database-url` with the owner URL of a throwaway database. Writes
 * bench/results/<date>.json, the plans in bench/results/<date>/, and the table in BENCHMARKS.md.
 *
 * With `--scales`, the growth run (bench/growth.ts): one database per scale
 * (`<database>_bench_s0_1`, `_bench_s1`, `_bench_s3`, each seeded once and reused), the read
 * cases measured at each at one concurrency, and the growth table written to
 * bench/results/growth-<date>.json and .md (BENCHMARKS.md is left alone).
 */
import path from "node:path";

import { connectDatabase } from "../src/db/connection.ts";
import { withUrlParts } from "../src/db/urls.ts";
import { createLogger } from "../src/log.ts";
import { PROJECT_ROOT } from "../src/paths.ts";
import { runGrowth } from "./growth.ts";
import { writeGrowthReport } from "./growthReport.ts";
import { ensureBenchDatabase, ensureSeeded } from "./harness/benchDatabase.ts";
import { writeReport } from "./report.ts";
import { loadBenchConfig } from "./harness/benchConfig.ts";
import { stopAllChildren } from "./harness/processes.ts";
import { script, type Fail } from "./harness/script.ts";
import { METRICS_OVERHEAD_MIN_SECONDS } from "./harness/metricsOverhead.ts";
import { CASES, runBenchmark } from "./run.ts";

const cli = script("bench");
const { say, stopOnSignals } = cli;
const fail: Fail = cli.fail;
const { values } = cli.parse({
  options: {
    scale: { type: "string" },
    scales: { type: "string" },
    seconds: { type: "string" },
    runs: { type: "string" },
    concurrency: { type: "string" },
    "no-peer": { type: "boolean", default: false },
    quick: { type: "boolean", default: false },
    "database-url": { type: "string" },
    // only these cases (bench/run.ts CASES ids); then BENCHMARKS.md is left alone
    scenarios: { type: "string" },
  },
});

const number = (name: string, raw: string | undefined, fallback: number): number =>
  raw === undefined ? fallback : cli.positive(name, raw);
const quick = values.quick;
const scale = number("scale", values.scale, 1);
const scales = values.scales?.split(",").map((s) => number("scales", s.trim(), 1));
if (scales && values.scale !== undefined) fail("give either --scale or --scales");
if (scales && values["database-url"])
  fail("--scales needs a superuser connection: one database per scale");
const seconds = number("seconds", values.seconds, scales ? (quick ? 2 : 3) : quick ? 2 : 5);
const runs = number("runs", values.runs, quick || scales ? 1 : 3);
const concurrency = (values.concurrency ?? (quick || scales ? "8" : "1,8,32"))
  .split(",")
  .map((c) => number("concurrency", c, 1));
const scenarios = values.scenarios?.split(",").map((s) => s.trim());
for (const s of scenarios ?? []) {
  if (!CASES.some((c) => c.id === s)) {
    fail(`--scenarios: no case ${s} (cases: ${CASES.map((c) => c.id).join(", ")})`);
  }
}
if (scales && concurrency.length !== 1) fail("--scales measures at one --concurrency");

const config = loadBenchConfig(fail);

const log = createLogger({ level: "warn", json: false });
const db = await connectDatabase(config, log);
// Ctrl-C: stop what the run started (servers, the embedded database), then leave
stopOnSignals(() => stopAllChildren().then(() => db.close()));
try {
  if (scales) {
    const growth = await runGrowth({
      db,
      scales,
      connections: concurrency[0]!,
      seconds,
      runs,
      explainSamples: quick ? 3 : 5,
      viewers: 300,
      deepFeedUsers: 5,
      ...(scenarios ? { scenarios } : {}),
      log,
      say,
    });
    const written = await writeGrowthReport(growth, path.join(PROJECT_ROOT, "bench", "results"));
    process.stdout.write(`\n${written.text}\n`);
    say(
      `growth: ${path.relative(PROJECT_ROOT, written.json)}, ${path.relative(PROJECT_ROOT, written.markdown)}, plans: ${path.relative(PROJECT_ROOT, written.plans)}/`,
    );
  } else {
    let ownerUrl: string;
    let authUrl: string;
    if (values["database-url"]) {
      ownerUrl = values["database-url"];
      authUrl = withUrlParts(ownerUrl, {
        user: db.authenticator.name,
        password: db.authenticator.password,
      });
      await ensureSeeded({
        ownerUrl,
        rootUrl: db.rootUrl,
        authenticator: db.authenticator,
        scale,
        log,
        say,
      });
    } else if (db.rootUrl) {
      ({ ownerUrl, authUrl } = await ensureBenchDatabase({ db, scale, log, say }));
    } else {
      fail("no superuser connection to create a benchmark database: pass --database-url");
    }

    const result = await runBenchmark({
      ownerUrl,
      authUrl,
      authenticatorPassword: db.authenticator.password,
      scale,
      seconds,
      overheadSeconds: Math.max(seconds, METRICS_OVERHEAD_MIN_SECONDS),
      runs,
      concurrency,
      peer: !values["no-peer"],
      realtime: quick
        ? { subscribers: 200, membersPerChat: 10, messages: 50 }
        : { subscribers: 1000, membersPerChat: 10, messages: 200 },
      likeSamples: quick ? 20 : 60,
      viewers: 300,
      deepFeedUsers: quick ? 5 : 20,
      ...(scenarios ? { scenarios } : {}),
      progress: say,
    });
    const written = await writeReport(
      result,
      path.join(PROJECT_ROOT, "bench", "results"),
      scenarios ? null : path.join(PROJECT_ROOT, "BENCHMARKS.md"),
    );
    process.stdout.write(`\n${written.markdown}\n`);
    say(
      `results: ${path.relative(PROJECT_ROOT, written.json)}, plans: ${path.relative(PROJECT_ROOT, written.plans)}/${scenarios ? "" : ", table: BENCHMARKS.md"}`,
    );
  }
} finally {
  await db.close();
}
