/**
 * `npm run db:seed -- [--scale S] [--reset]`: fills the configured database (DATABASE_URL, or
 * the embedded server's) with a realistic social graph (bench/seed/plan.ts). Scale 1 is about
 * 10M rows; `--scale 0.1` is a quick one. Refused in production, and on a database that has
 * users unless `--reset` (which empties the app's tables first).
 *
 * Every seeded account's password is "bench-password"; e-mails are user<i>@bench.example.
 */

import { connectDatabase } from "../../src/db/connection.ts";
import { migrateDatabase } from "../../src/db/migrate.ts";
import { createLogger } from "../../src/log.ts";
import { loadBenchConfig } from "../harness/benchConfig.ts";
import { script, type Fail } from "../harness/script.ts";
import { SEED_PASSWORD } from "./plan.ts";
import { SeedRefusedError, seedDatabase } from "./seed.ts";

const cli = script("db:seed");
const fail: Fail = cli.fail;
const { values } = cli.parse({
  options: { scale: { type: "string", default: "1" }, reset: { type: "boolean", default: false } },
});
const scale = Number(values.scale);
if (!Number.isFinite(scale) || scale <= 0 || scale > 10) {
  fail(`--scale must be a number above 0 and at most 10 (got ${values.scale})`);
}

const config = loadBenchConfig(fail);

const log = createLogger({ level: "warn", json: false });
const db = await connectDatabase(config, log);
try {
  await migrateDatabase({ ownerUrl: db.ownerUrl, authenticator: db.authenticator, log });
  const summary = await seedDatabase({
    ownerUrl: db.ownerUrl,
    rootUrl: db.rootUrl,
    scale,
    reset: values.reset,
  });
  const total = Object.values(summary.rows).reduce((a, b) => a + b, 0);
  process.stdout.write(`\nseeded scale ${scale} in ${summary.seconds.toFixed(1)} s:\n`);
  for (const [table, n] of Object.entries(summary.rows)) {
    process.stdout.write(`  ${table.padEnd(28)} ${n.toLocaleString("en").padStart(12)}\n`);
  }
  process.stdout.write(`  ${"total".padEnd(28)} ${total.toLocaleString("en").padStart(12)}\n`);
  const slowest = Object.entries(summary.steps).sort((a, b) => b[1] - a[1]);
  process.stdout.write(
    `time by step: ${slowest.map(([step, s]) => `${step} ${s.toFixed(1)} s`).join(", ")}\n`,
  );
  process.stdout.write(`sign in as user1@bench.example … with the password "${SEED_PASSWORD}"\n`);
} catch (error) {
  if (!(error instanceof SeedRefusedError)) throw error;
  process.stderr.write(`db:seed: ${error.message}\n`);
  process.exitCode = 1;
} finally {
  await db.close();
}
