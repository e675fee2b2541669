/**
 * `npm run status`: one terminal screen for a developer without Grafana — the API's readiness,
 * the worker's heartbeat, the database's size, biggest tables and connections, the slowest
 * statements, the job queue and the last backup (src/status/).
 *
 * It reads DATABASE_URL, or the embedded server if one runs (EMBEDDED_PG_PORT); unlike the other
 * commands it never starts the embedded server: when none runs it says so and exits 1.
 */
import { ConfigError, loadConfig, type Config } from "./config.ts";
import { relocatedFolder } from "./db/embeddedPlace.ts";
import { checkApi, collectStatus } from "./status/collect.ts";
import { renderStatus } from "./status/render.ts";

/** Where this machine reaches the API that HOST and PORT describe (null: PORT=0). */
function apiBaseUrl(config: Config): string | null {
  if (config.http.port === 0) return null;
  const host =
    config.http.host === "0.0.0.0"
      ? "127.0.0.1"
      : config.http.host === "::"
        ? "::1"
        : config.http.host;
  return `http://${host.includes(":") ? `[${host}]` : host}:${config.http.port}`;
}

/** The database to report on, and the embedded cluster's folder when it is the embedded one. */
function target(config: Config): { url: string; clusterDirs: string[]; embedded: boolean } {
  if (config.database.url) return { url: config.database.url, clusterDirs: [], embedded: false };
  const e = config.embeddedPostgres;
  // the superuser sees every role's statements in pg_stat_statements
  const url = `postgres://postgres:${encodeURIComponent(e.superuserPassword)}@127.0.0.1:${e.port}/${e.databaseName}`;
  // the requested folder, or where src/db/embeddedPlace.ts keeps it when root cannot share it
  return { url, clusterDirs: [e.dataDir, relocatedFolder(e.dataDir)], embedded: true };
}

let config: Config;
try {
  config = loadConfig();
} catch (error) {
  if (!(error instanceof ConfigError)) throw error;
  for (const problem of error.problems) process.stderr.write(`config: ${problem}\n`);
  process.exit(1);
}

const colour = process.stdout.isTTY === true && !process.env.NO_COLOR;
const width = process.stdout.columns ?? 120;
const db = target(config);
try {
  const report = await collectStatus({
    databaseUrl: db.url,
    apiBaseUrl: apiBaseUrl(config),
    clusterDirs: db.clusterDirs,
  });
  process.stdout.write(renderStatus(report, { colour, width }));
} catch (error) {
  const code = (error as { code?: string }).code;
  const api = await checkApi(apiBaseUrl(config));
  process.stdout.write(
    `API: ${api.status} (${api.detail})\n` +
      (code === "ECONNREFUSED"
        ? db.embedded
          ? `database not running: no embedded PostgreSQL on 127.0.0.1:${config.embeddedPostgres.port} (npm start starts it)\n`
          : `database not running: nothing answers at ${new URL(db.url).host}\n`
        : `database unreachable: ${(error as Error).message.split("\n")[0]}\n`),
  );
  process.exitCode = 1;
}
