/**
 * `npm run bench:scaleout -- [--scale 1] [--seconds 5] [--runs 3] [--concurrency 8]
 *   [--cases feed_page1,post_detail,conversation_messages,profile] [--no-pooler] [--no-replica]
 *   [--pgbouncer-port 56182] [--standby-port 56181] [--metrics-port 56183]
 *   [--pooler-server-connections 10]`
 *
 * What the scale-out steps of docs/SCALING.md cost or buy on this machine (issue #17), on the
 * benchmark's data set (`<database>_bench` of the embedded server of DATA_DIR /
 * EMBEDDED_PG_PORT, seeded at `--scale` when it is not already), for read cases of the main
 * benchmark (bench/run.ts CASES, bench/scenarios.ts), API instances in production mode:
 *
 * 1. pooling: the API on a direct pool, the same with unnamed statements
 *    (DATAPLAN_PG_PREPARED_STATEMENT_CACHE_SIZE=0: the re-parsing alone), and the API through a
 *    real PgBouncer (Debian's 1.18, transaction mode, started here in a temporary folder;
 *    DATABASE_POOLER_URL, src/db/pooler.ts: unnamed statements, as 1.18 requires);
 * 2. read replicas: one API on the primary only, one with a real streaming hot standby of the
 *    primary as DATABASE_READ_URLS (src/backup/standby.ts builds it, as `npm run db:standby`
 *    does: a PostgreSQL 18 standby of the embedded 18 primary, so no PostgreSQL 15 is needed),
 *    with the share of reads its router sent to the replica (mking_db_reads_routed_total).
 *
 * The arms of each comparison alternate within every run (bench/harness/scaleoutCompare.ts).
 * Everything started here (PgBouncer, the standby, the APIs) is stopped by its PID at the end.
 * Writes bench/results/scaleout-<date>.json and .md and prints the Markdown block;
 * BENCHMARKS.md is left alone.
 */
import { randomBytes } from "node:crypto";
import { mkdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { loadConfig } from "../src/config.ts";
import { backupFoldersFor } from "../src/backup/archive.ts";
import { startStandby, waitUntilReplayed, type Standby } from "../src/backup/standby.ts";
import { connectDatabase } from "../src/db/connection.ts";
import { userOf } from "../src/db/urls.ts";
import { createLogger } from "../src/log.ts";
import { PROJECT_ROOT } from "../src/paths.ts";
import { tokenServiceFor } from "../src/server.ts";
import { ensureBenchDatabase, queryOne } from "./harness/benchDatabase.ts";
import { drawFixture, loadPools } from "./harness/fixtures.ts";
import { serviceEnv, startApi, stopAllChildren, type ServiceEnv } from "./harness/processes.ts";
import { parseScaleoutArgs, ScaleoutArgsError } from "./harness/scaleoutArgs.ts";
import { compareArms, type LoadCase } from "./harness/scaleoutCompare.ts";
import { startPgBouncer, type PgBouncer } from "./harness/scaleoutPgBouncer.ts";
import {
  markdown,
  parseRouted,
  type Comparison,
  type ScaleoutRun,
} from "./harness/scaleoutReport.ts";
import { benchSessionId, ensureBenchSessions } from "./harness/sessions.ts";
import { CASES } from "./run.ts";
import { loadBenchConfig } from "./harness/benchConfig.ts";
import { script, type Fail } from "./harness/script.ts";

const cli = script("bench:scaleout");
const { say, stopOnSignals } = cli;
const fail: Fail = cli.fail;

let options;
try {
  options = parseScaleoutArgs(process.argv.slice(2));
} catch (error) {
  if (error instanceof ScaleoutArgsError) fail(error.message);
  throw error;
}
const config = loadBenchConfig(fail, "measures the embedded server (it makes a standby of it)");

const log = createLogger({ level: "warn", json: false });
const cleanups: (() => Promise<unknown>)[] = [];
const cleanUp = async (): Promise<void> => {
  for (const fn of cleanups.splice(0).reverse()) await fn().catch(() => undefined);
};
stopOnSignals(cleanUp);

const startedAt = new Date().toISOString();
const db = await connectDatabase(config, log);
cleanups.push(() => db.close());
cleanups.push(() => stopAllChildren());

try {
  const bench = await ensureBenchDatabase({ db, scale: options.scale, log, say });
  await ensureBenchSessions(bench.ownerUrl);
  const postgres = (await queryOne<{ v: string }>(bench.ownerUrl, "select version() as v")).v.split(
    " on ",
  )[0]!;
  const service: ServiceEnv = {
    ownerUrl: bench.ownerUrl,
    authUrl: bench.authUrl,
    authenticatorPassword: db.authenticator.password,
    jwtSecret: randomBytes(32).toString("base64url"),
  };
  const quiet = { LOG_LEVEL: "info", ACCESS_LOG: "false", ACCESS_TOKEN_TTL_SECONDS: "14400" };
  const tokens = tokenServiceFor(loadConfig(serviceEnv(service, quiet)));
  const signed = new Map<string, string>();
  const sign = (userId: string): string => {
    let t = signed.get(userId);
    if (t === undefined)
      signed.set(userId, (t = tokens.sign(userId, benchSessionId(userId)).token));
    return t;
  };

  say("picking fixtures");
  const pools = await loadPools(
    bench.ownerUrl,
    () => Promise.reject(new Error("no deep feed fixtures in this bench")),
    { viewers: 300, deepFeedUsers: 0 },
  );
  const cases: LoadCase[] = options.cases.map((id) => {
    const c = CASES.find((x) => x.id === id)!;
    return {
      id,
      title: c.scenario.title,
      next: () => {
        const f = drawFixture(pools, c.draw, sign);
        return {
          path: "/graphql",
          headers: { "content-type": "application/json", authorization: `Bearer ${f.token}` },
          body: JSON.stringify({
            query: c.scenario.graphql.query,
            variables: c.scenario.graphql.variables(f),
          }),
        };
      },
    };
  });
  const load = {
    runs: options.runs,
    seconds: options.seconds,
    connections: options.concurrency,
    say,
  };
  const comparisons: Comparison[] = [];
  let pgbouncerVersion: string | null = null;

  if (options.pooler) {
    say("pooling: PgBouncer and three APIs (direct, direct with unnamed statements, pooled)");
    const owner = {
      name: userOf(bench.ownerUrl),
      password: decodeURIComponent(new URL(bench.ownerUrl).password),
    };
    const authenticator = {
      name: userOf(bench.authUrl),
      password: decodeURIComponent(new URL(bench.authUrl).password),
    };
    const pgbouncer: PgBouncer = await startPgBouncer({
      port: options.ports.pgbouncer,
      upstreamPort: Number(new URL(bench.ownerUrl).port),
      database: bench.database,
      users: [owner, authenticator],
      serverConnections: options.poolerServerConnections,
      statsUser: owner.name,
    });
    cleanups.push(() => pgbouncer.stop());
    pgbouncerVersion = pgbouncer.version;
    say(`${pgbouncer.version} (pid ${pgbouncer.pid}) on ${pgbouncer.url}`);
    const direct = await startApi(service, quiet);
    const unnamed = await startApi(service, {
      ...quiet,
      DATAPLAN_PG_PREPARED_STATEMENT_CACHE_SIZE: "0",
    });
    const pooled = await startApi(service, { ...quiet, DATABASE_POOLER_URL: pgbouncer.url });
    const before = await pgbouncer.transactions();
    const results = await compareArms({
      ...load,
      baseline: "direct",
      arms: [
        { arm: "direct", label: "direct pool", url: direct.url },
        { arm: "unnamed", label: "direct, unnamed statements", url: unnamed.url },
        { arm: "pgbouncer", label: "through PgBouncer", url: pooled.url },
      ],
      cases,
    });
    const through = (await pgbouncer.transactions()) - before;
    if (through === 0)
      throw new Error("PgBouncer served no transaction: the pooled API bypassed it");
    await Promise.all([direct.stop(), unnamed.stop(), pooled.stop()]);
    await pgbouncer.stop();
    comparisons.push({
      id: "pooler",
      title: "Direct connections vs PgBouncer (transaction pooling)",
      baseline: "direct",
      notes: [
        `${pgbouncer.version} in transaction mode on the same machine, default_pool_size ${options.poolerServerConnections} (the API's pool is 10): one API instance, so the pooler adds its cost and no sharing.`,
        "Through PgBouncer 1.18 the API's statements go unnamed (src/db/pooler.ts): parsed and planned on every execution.",
        `"direct, unnamed statements" is the direct pool with DATAPLAN_PG_PREPARED_STATEMENT_CACHE_SIZE=0: the re-parsing alone, without the extra hop.`,
        `PgBouncer served ${through.toLocaleString("en")} transactions of the bench database during these runs (SHOW STATS).`,
      ],
      cases: results,
    });
  }

  if (options.replica) {
    say("read replica: a streaming hot standby of the embedded primary");
    const clusterDir = db.embedded!.dataDir;
    const dir = path.join(path.dirname(clusterDir), `scaleout-standby-${process.pid}`);
    let standby: Standby | null = null;
    cleanups.push(async () => {
      await standby?.server.stop();
      const own = backupFoldersFor(dir).root;
      await rm(dir, { recursive: true, force: true });
      if (own !== backupFoldersFor(clusterDir).root)
        await rm(own, { recursive: true, force: true });
    });
    const started = Date.now();
    standby = await startStandby({
      primaryUrl: db.rootUrl!,
      primaryDataDir: clusterDir,
      dir,
      port: options.ports.standby,
      superuserPassword: config.embeddedPostgres.superuserPassword,
      log,
      name: "scaleout-standby",
    });
    await waitUntilReplayed(db.rootUrl!, standby.name, 10 * 60_000);
    const standbySeconds = Math.round((Date.now() - started) / 1000);
    say(`standby streaming on port ${options.ports.standby} (made in ${standbySeconds} s)`);
    const primaryOnly = await startApi(service, quiet);
    const withReplica = await startApi(service, {
      ...quiet,
      DATABASE_READ_URLS: `postgres://127.0.0.1:${options.ports.standby}/${bench.database}`,
      METRICS_PORT: String(options.ports.metrics),
    });
    const metricsUrl = `http://127.0.0.1:${options.ports.metrics}/metrics`;
    const results = await compareArms({
      ...load,
      baseline: "primary",
      arms: [
        { arm: "primary", label: "primary only", url: primaryOnly.url },
        {
          arm: "replica",
          label: "with the standby as replica",
          url: withReplica.url,
          routed: async () => parseRouted(await (await fetch(metricsUrl)).text()),
        },
      ],
      cases,
    });
    await Promise.all([primaryOnly.stop(), withReplica.stop()]);
    const cpus = os.cpus().length;
    comparisons.push({
      id: "replica",
      title: "Primary only vs a read replica (DATABASE_READ_URLS)",
      baseline: "primary",
      notes: [
        `The replica is a streaming hot standby of the embedded ${postgres.replace(/ \(.*/, "")} primary on the same machine (src/backup/standby.ts, as npm run db:standby makes it; made and caught up in ${standbySeconds} s).`,
        `This machine has ${cpus} CPU cores shared by the load generator, the APIs, the primary and the standby: a replica here adds no CPU. The figure is the cost of routing reads (the session-feed barrier per batch of signed-in reads, the replica's pool) and the throughput change on one machine, not the capacity a replica on its own machine adds.`,
        "Both APIs have a primary pool of 10; the one with the replica has 10 more connections to it. The share of reads routed to the replica is counted during the measured runs only.",
      ],
      cases: results,
    });
  }

  const run: ScaleoutRun = {
    startedAt,
    machine: `${os.cpus().length} CPUs, ${Math.round(os.totalmem() / 2 ** 30)} GB, Node ${process.version}, shared with other work`,
    postgres,
    pgbouncer: pgbouncerVersion,
    settings: {
      scale: options.scale,
      connections: options.concurrency,
      "seconds per run": options.seconds,
      runs: options.runs,
    },
    comparisons,
  };
  const stamp = startedAt.replace(/[:.]/g, "-");
  const dir = path.join(PROJECT_ROOT, "bench", "results");
  await mkdir(dir, { recursive: true });
  const json = path.join(dir, `scaleout-${stamp}.json`);
  const md = path.join(dir, `scaleout-${stamp}.md`);
  await writeFile(json, JSON.stringify(run, null, 2) + "\n");
  await writeFile(md, markdown(run));
  process.stdout.write(`\n${markdown(run)}`);
  say(`wrote ${path.relative(PROJECT_ROOT, json)} and ${path.relative(PROJECT_ROOT, md)}`);
} catch (error) {
  say(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 1;
} finally {
  await cleanUp();
}
