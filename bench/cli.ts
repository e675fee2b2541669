/**
 * `npm run bench -- [--scale 1] [--seconds 5] [--runs 3] [--concurrency 1,8,32] [--no-peer]
 *                  [--quick] [--database-url <owner url>]`
 *
 * Runs the benchmark (bench/run.ts) against a database of its own: on the embedded server (or
 * with ROOT_DATABASE_URL) that is `<database>_bench`, created, migrated and seeded at the asked
 * scale when it is not already (re-seeded when the scale or the schema changed); without a
 * superuser, pass `--database-url` with the owner URL of a throwaway database. Writes
 * bench/results/<date>.json, the plans in bench/results/<date>/, and the table in BENCHMARKS.md.
 */
import path from "node:path";
import { parseArgs } from "node:util";

import pg from "pg";

import { ConfigError, loadConfig } from "../src/config.ts";
import { connectDatabase, ensureOwnerAndDatabase } from "../src/db/connection.ts";
import { latestCommittedMigrationHash, migrateDatabase } from "../src/db/migrate.ts";
import { databaseNameOf, userOf, withUrlParts } from "../src/db/urls.ts";
import { createLogger } from "../src/log.ts";
import { PROJECT_ROOT } from "../src/paths.ts";
import { writeReport } from "./report.ts";
import { stopAllChildren } from "./harness/processes.ts";
import { METRICS_OVERHEAD_MIN_SECONDS } from "./harness/metricsOverhead.ts";
import { runBenchmark } from "./run.ts";
import { seedDatabase } from "./seed/seed.ts";

const { values } = parseArgs({
  options: {
    scale: { type: "string", default: "1" },
    seconds: { type: "string" },
    runs: { type: "string" },
    concurrency: { type: "string" },
    "no-peer": { type: "boolean", default: false },
    quick: { type: "boolean", default: false },
    "database-url": { type: "string" },
  },
});

function fail(message: string): never {
  process.stderr.write(`bench: ${message}\n`);
  process.exit(1);
}

const number = (name: string, raw: string | undefined, fallback: number): number => {
  const n = raw === undefined ? fallback : Number(raw);
  if (!Number.isFinite(n) || n <= 0) fail(`--${name} must be a positive number (got ${raw})`);
  return n;
};
const quick = values.quick;
const scale = number("scale", values.scale, 1);
const seconds = number("seconds", values.seconds, quick ? 2 : 5);
const runs = number("runs", values.runs, quick ? 1 : 3);
const concurrency = (values.concurrency ?? (quick ? "8" : "1,8,32"))
  .split(",")
  .map((c) => number("concurrency", c, 1));

let config;
try {
  config = loadConfig();
} catch (error) {
  if (error instanceof ConfigError) fail(error.problems.join("; "));
  throw error;
}
if (config.isProduction) fail("refuses to run with NODE_ENV=production");

const log = createLogger({ level: "warn", json: false });
const say = (line: string): void => void process.stderr.write(`bench: ${line}\n`);
const db = await connectDatabase(config, log);
// Ctrl-C: stop what the run started (servers, the embedded database), then leave
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.once(signal, () => {
    say(`${signal}: stopping`);
    void stopAllChildren()
      .then(() => db.close())
      .finally(() => process.exit(130));
  });
}
try {
  let ownerUrl: string;
  if (values["database-url"]) {
    ownerUrl = values["database-url"];
  } else if (db.rootUrl) {
    const database = `${databaseNameOf(db.ownerUrl)}_bench`;
    await ensureOwnerAndDatabase(db.rootUrl, {
      role: userOf(db.ownerUrl),
      password: decodeURIComponent(new URL(db.ownerUrl).password),
      database,
    });
    ownerUrl = withUrlParts(db.ownerUrl, { database });
  } else {
    fail("no superuser connection to create a benchmark database: pass --database-url");
  }
  const authUrl = withUrlParts(ownerUrl, {
    user: db.authenticator.name,
    password: db.authenticator.password,
  });
  // with migrations/current.sql, as the tests do: the API may rely on the migration being written
  await migrateDatabase({ ownerUrl, authenticator: db.authenticator, log, current: true });

  // seed unless the database already holds this scale of data for this schema
  const hash = await latestCommittedMigrationHash();
  const marker = new pg.Client({ connectionString: ownerUrl });
  await marker.connect();
  try {
    await marker.query(`create schema if not exists bench`);
    await marker.query(
      `create table if not exists bench.seed_info (scale numeric not null, migration_hash text, seeded_at timestamptz not null default now())`,
    );
    const { rows } = await marker.query<{ scale: string; migration_hash: string | null }>(
      `select scale, migration_hash from bench.seed_info order by seeded_at desc limit 1`,
    );
    if (Number(rows[0]?.scale) !== scale || rows[0]?.migration_hash !== hash) {
      say(
        `seeding scale ${scale} (the database holds ${rows[0] ? `scale ${rows[0].scale}` : "nothing yet"})`,
      );
      const summary = await seedDatabase({ ownerUrl, rootUrl: db.rootUrl, scale, reset: true });
      say(`seeded in ${summary.seconds.toFixed(1)} s`);
      await marker.query(`insert into bench.seed_info (scale, migration_hash) values ($1, $2)`, [
        scale,
        hash,
      ]);
    } else {
      say(`reusing the scale ${scale} data set`);
    }
  } finally {
    await marker.end();
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
    progress: say,
  });
  const written = await writeReport(
    result,
    path.join(PROJECT_ROOT, "bench", "results"),
    path.join(PROJECT_ROOT, "BENCHMARKS.md"),
  );
  process.stdout.write(`\n${written.markdown}\n`);
  say(
    `results: ${path.relative(PROJECT_ROOT, written.json)}, plans: ${path.relative(PROJECT_ROOT, written.plans)}/, table: BENCHMARKS.md`,
  );
} finally {
  await db.close();
}
