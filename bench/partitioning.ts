/**
 * `npm run bench:partitioning -- [--scales 1,10] [--tables notifications,messages,likes]
 *   [--likes-max-scale 1] [--rounds 6] [--per-round 40] [--batch-rows 1000] [--retain-months 3]`
 *
 * What time-based partitioning buys the append-heavy tables (issue #17), on the embedded server
 * of DATA_DIR / EMBEDDED_PG_PORT (give it a cluster of its own; no DATABASE_URL), in a throwaway
 * database `<database>_partitioning` (migrated, then dropped): for each scale and table, the
 * table as the schema has it and the same range-partitioned by month (bench/partitioning/
 * shapes.ts), filled with the seed's distributions (bench/partitioning/tables.ts), then sizes,
 * reads, inserts and retention (bench/partitioning/measure.ts). The server runs without WAL
 * archiving (the load writes gigabytes of WAL).
 *
 * Writes bench/results/partitioning-<date>.json and .md (the Markdown block for BENCHMARKS.md).
 */
import { mkdir, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import pg from "pg";

import { ensureOwnerAndDatabase } from "../src/db/connection.ts";
import { startEmbeddedPostgres } from "../src/db/embedded.ts";
import { migrateDatabase } from "../src/db/migrate.ts";
import { withUrlParts } from "../src/db/urls.ts";
import { createLogger } from "../src/log.ts";
import { PROJECT_ROOT } from "../src/paths.ts";
import { measureInserts, measureReads, measureRetention } from "./partitioning/measure.ts";
import { markdown, type PartitioningRun, type TableResult } from "./partitioning/report.ts";
import {
  createShape,
  indexDefs,
  indexOn,
  keyChanges,
  keyFacts,
  qualified,
  sizesOf,
  SHAPES,
} from "./partitioning/shapes.ts";
import { sqlFor, TABLES, type TableName } from "./partitioning/tables.ts";
import { SESSION_SETUP } from "./seed/plan.ts";
import { loadBenchConfig } from "./harness/benchConfig.ts";
import { script, type Fail } from "./harness/script.ts";

const cli = script("bench:partitioning");
const { say, positive, stopOnSignals } = cli;
const fail: Fail = cli.fail;
const { values } = cli.parse({
  options: {
    scales: { type: "string", default: "1,10" },
    tables: { type: "string", default: "notifications,messages,likes" },
    "likes-max-scale": { type: "string", default: "1" },
    rounds: { type: "string", default: "6" },
    "per-round": { type: "string", default: "40" },
    "batch-rows": { type: "string", default: "1000" },
    "retain-months": { type: "string", default: "3" },
  },
});

const scales = values.scales.split(",").map((s) => positive("scales", s));
const tables = values.tables.split(",").map((t) => {
  if (!(t in TABLES)) fail(`unknown table ${t} (one of ${Object.keys(TABLES).join(", ")})`);
  return t as TableName;
});
const likesMaxScale = positive("likes-max-scale", values["likes-max-scale"]);
const rounds = cli.whole("rounds", values.rounds);
const perRound = cli.whole("per-round", values["per-round"]);
const batchRows = cli.whole("batch-rows", values["batch-rows"]);
const retainMonths = cli.whole("retain-months", values["retain-months"]);

const config = loadBenchConfig(fail, "measures the embedded server");

const log = createLogger({ level: "warn", json: false });
const GENERATE_CHUNK = 1_000_000;

const e = config.embeddedPostgres;
const server = await startEmbeddedPostgres({
  dataDir: e.dataDir,
  port: e.port,
  superuserPassword: e.superuserPassword,
  log,
  settings: { max_wal_size: "2GB", checkpoint_timeout: "15min" },
});
const database = `${e.databaseName}_partitioning`;
const rootUrl = server.superuserUrl("postgres");
let stopping = false;
const stop = async (): Promise<void> => {
  if (stopping) return;
  stopping = true;
  const root = new pg.Client({ connectionString: rootUrl });
  await root.connect();
  await root.query(`drop database if exists ${database} with (force)`).catch(() => undefined);
  await root.end();
  await server.stop();
};
stopOnSignals(stop);

const startedAt = new Date().toISOString();
const run: PartitioningRun = {
  startedAt,
  machine: `${os.cpus().length} CPUs, ${Math.round(os.totalmem() / 2 ** 30)} GB, Node ${process.version}, shared with other work`,
  settings: {
    rounds,
    "queries per round": perRound,
    "batch rows": batchRows,
    "retain months": retainMonths,
  },
  skipped: [],
  results: [],
};

try {
  await ensureOwnerAndDatabase(rootUrl, {
    role: config.database.ownerRole,
    password: config.database.ownerPassword,
    database,
  });
  const ownerUrl = withUrlParts(rootUrl, {
    database,
    user: config.database.ownerRole,
    password: config.database.ownerPassword,
  });
  say(`migrating ${database}`);
  await migrateDatabase({
    ownerUrl,
    authenticator: {
      name: config.database.authenticatorRole,
      password: config.database.authenticatorPassword,
    },
    log,
    current: true,
  });
  // as the superuser: the scratch schemas are its own, and CHECKPOINT needs it
  const client = new pg.Client({ connectionString: withUrlParts(rootUrl, { database }) });
  client.on("error", () => undefined); // the connection ends with the database, on a failure too
  await client.connect();
  await client.query(SESSION_SETUP);

  for (const scale of scales) {
    for (const name of tables) {
      if (name === "likes" && scale > likesMaxScale) {
        run.skipped.push(
          `likes at scale ${scale} (${(TABLES.likes.baseRows * scale).toLocaleString("en")} rows per shape; raise --likes-max-scale to include it)`,
        );
        continue;
      }
      const spec = TABLES[name];
      const rows = Math.round(spec.baseRows * scale);
      say(`scale ${scale}, ${name}: ${rows.toLocaleString("en")} rows per shape`);
      const facts = await keyFacts(client, name);
      const indexes = await indexDefs(client, name);
      for (const shape of SHAPES) await createShape(client, shape, name, facts);

      await client.query("set synchronous_commit = off");
      let started = Date.now();
      const chunk = name === "likes" ? rows : GENERATE_CHUNK;
      for (let done = 0; done < rows; done += chunk) {
        await client.query(sqlFor(spec.generate, qualified("plain", name)), [
          Math.min(chunk, rows - done),
          scale,
        ]);
        say(`  generated ${Math.min(rows, done + chunk).toLocaleString("en")}`);
      }
      const generate = (Date.now() - started) / 1000;
      started = Date.now();
      await client.query(
        `insert into ${qualified("monthly", name)} select * from ${qualified("plain", name)}`,
      );
      const copyToMonthly = (Date.now() - started) / 1000;
      const indexBuildSeconds = { plain: 0, monthly: 0 };
      for (const shape of SHAPES) {
        started = Date.now();
        for (const index of indexes) await client.query(indexOn(shape, name, index));
        indexBuildSeconds[shape] = (Date.now() - started) / 1000;
        await client.query(`vacuum (analyze) ${qualified(shape, name)}`);
      }
      say(`  loaded and indexed; measuring`);
      const sizes = {
        plain: await sizesOf(client, qualified("plain", name)),
        monthly: await sizesOf(client, qualified("monthly", name)),
      };
      await client.query("set synchronous_commit = on");
      const reads = await measureReads(client, spec, scale, rounds, perRound);
      const inserts = await measureInserts(client, spec, rounds, perRound, batchRows);
      say(`  retention`);
      const retention = await measureRetention(client, spec, retainMonths);
      if (retention.rowsRemoved.plain !== retention.rowsRemoved.monthly) {
        fail(
          `retention removed ${retention.rowsRemoved.plain} rows by delete but ${retention.rowsRemoved.monthly} by dropping partitions`,
        );
      }
      const result: TableResult = {
        scale,
        table: name,
        rows,
        loadSeconds: { generate, copyToMonthly },
        indexBuildSeconds,
        sizes,
        reads,
        inserts,
        retention,
        keyChanges: keyChanges(name, facts),
      };
      run.results.push(result);
      for (const shape of SHAPES) await client.query(`drop schema part_${shape} cascade`);
      await client.query("checkpoint");
    }
  }
  await client.end();

  const stamp = startedAt.replace(/[:.]/g, "-");
  const dir = path.join(PROJECT_ROOT, "bench", "results");
  await mkdir(dir, { recursive: true });
  const json = path.join(dir, `partitioning-${stamp}.json`);
  const md = path.join(dir, `partitioning-${stamp}.md`);
  await writeFile(json, JSON.stringify(run, null, 2) + "\n");
  await writeFile(md, markdown(run));
  process.stdout.write(markdown(run));
  say(`wrote ${path.relative(PROJECT_ROOT, json)} and ${path.relative(PROJECT_ROOT, md)}`);
} catch (error) {
  say(`failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}`);
  process.exitCode = 1;
} finally {
  await stop();
}
