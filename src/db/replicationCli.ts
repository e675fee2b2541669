/**
 * `npm run db:replication` — the standbys streaming from the database the service uses
 * (DATABASE_URL, or the embedded server), with their replication lag, as src/db/replication.ts
 * reads it from pg_stat_replication. `--json` prints the list as JSON.
 *
 * Lag positions are visible to superusers and pg_monitor members only: set ROOT_DATABASE_URL
 * (or use the embedded server, whose superuser is known), or grant pg_monitor to the owner.
 */
import pg from "pg";

import { ConfigError, loadConfig, type Config } from "../config.ts";
import { createLogger } from "../log.ts";
import { connectDatabase } from "./connection.ts";
import { replicationStatus, type StandbyStatus } from "./replication.ts";

function table(rows: readonly StandbyStatus[]): string {
  if (rows.length === 0) return "no standby is connected to this server\n";
  const lines = rows.map((r) => [
    r.standby,
    r.state,
    r.sync ? "sync" : "async",
    String(r.lagBytes),
    r.lagSeconds === null ? "-" : r.lagSeconds.toFixed(3),
  ]);
  const header = ["standby", "state", "mode", "lag_bytes", "lag_seconds"];
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  return [header, ...lines]
    .map((cells) => cells.map((c, i) => c.padEnd(widths[i]!)).join("  "))
    .join("\n")
    .concat("\n");
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
    const client = new pg.Client({ connectionString: db.rootUrl ?? db.ownerUrl });
    await client.connect();
    try {
      const rows = await replicationStatus(client);
      process.stdout.write(
        process.argv.includes("--json") ? JSON.stringify(rows) + "\n" : table(rows),
      );
    } finally {
      await client.end();
    }
  } catch (error) {
    log.error("db:replication failed", { error: (error as Error).message });
    process.exitCode = 1;
  } finally {
    await db.close();
  }
}

await main();
