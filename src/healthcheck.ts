/**
 * `node src/healthcheck.ts`: exits 0 when the configured database is reachable and holds the
 * job queue, 1 otherwise. The worker container's healthcheck (it serves no HTTP).
 */
import pg from "pg";

import { loadConfig } from "./config.ts";

const config = loadConfig();
if (!config.database.url) {
  process.stderr.write("healthcheck: DATABASE_URL is not set\n");
  process.exit(1);
}
const client = new pg.Client({
  connectionString: config.database.url,
  connectionTimeoutMillis: 3000,
});
try {
  await client.connect();
  await client.query("select 1 from graphile_worker.jobs limit 0");
  await client.end();
  process.exit(0);
} catch (error) {
  process.stderr.write(`healthcheck: ${(error as Error).message}\n`);
  process.exit(1);
}
