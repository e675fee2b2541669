/**
 * `npm run db:top [-- --limit N] [-- --json]`: the SQL statements that took the most time
 * (pg_stat_statements) in the app's database, as a terminal table: calls, mean, an estimated
 * p95, max, rows and share of the total time (src/db/statements.ts).
 */
import pg from "pg";

import { ConfigError, loadConfig, type Config } from "../config.ts";
import { createLogger } from "../log.ts";
import { connectDatabase } from "./connection.ts";
import { formatStatements, statementsAvailable, topStatements } from "./statements.ts";

function limitFrom(argv: readonly string[]): number {
  const i = argv.indexOf("--limit");
  const n = i >= 0 ? Number(argv[i + 1]) : 15;
  return Number.isInteger(n) && n > 0 ? n : 15;
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) process.stderr.write(`config: ${problem}\n`);
      process.exitCode = 1;
      return;
    }
    throw error;
  }
  const log = createLogger({ level: "warn", json: config.isProduction });
  const db = await connectDatabase(config, log);
  try {
    const client = new pg.Client({ connectionString: db.ownerUrl });
    await client.connect();
    try {
      if (!(await statementsAvailable(client))) {
        process.stderr.write(
          "pg_stat_statements is not installed in this database: load it (shared_preload_libraries=pg_stat_statements) and, as a superuser, `create extension pg_stat_statements` (README, Observability)\n",
        );
        process.exitCode = 1;
        return;
      }
      const rows = await topStatements(client, limitFrom(process.argv));
      process.stdout.write(
        process.argv.includes("--json")
          ? JSON.stringify(rows) + "\n"
          : formatStatements(
              rows,
              process.stdout.columns ? Math.max(process.stdout.columns - 60, 30) : 70,
            ) + "\n",
      );
    } finally {
      await client.end();
    }
  } catch (error) {
    log.error("db:top failed", { error: (error as Error).message });
    process.exitCode = 1;
  } finally {
    await db.close();
  }
}

await main();
