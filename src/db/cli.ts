/**
 * `npm run db:*` — database chores against DATABASE_URL or the embedded server:
 *
 *   migrate        roles, worker schema, committed migrations, policies (what `npm start` runs)
 *   policies       re-apply policies/*.sql only
 *   reset [--force] drop and rebuild the development database: never in production, and
 *                  on a server not on this machine only with --force (src/db/reset.ts)
 *   watch          graphile-migrate watch: re-run migrations/current.sql on save, then policies
 *   commit [msg]   graphile-migrate commit: move current.sql into committed/ (uses a shadow db)
 *   uncommit       graphile-migrate uncommit: move the newest committed migration back
 *   worker-schema  install graphile-worker's schema (graphile-migrate's afterReset action)
 *
 * `policies` and `worker-schema` also run as graphile-migrate actions, which pass the target
 * database in GM_DBURL.
 */
import { commit, uncommit, watch } from "graphile-migrate";
import pg from "pg";

import { ConfigError, loadConfig, type Config } from "../config.ts";
import { createLogger, type Logger } from "../log.ts";
import { connectDatabase, type DatabaseConnections } from "./connection.ts";
import { migrateSettings, releaseMigratePools } from "./gmrc.ts";
import { installWorkerSchema, migrateDatabase } from "./migrate.ts";
import { applyPolicies } from "./policies.ts";
import { resetDatabase, resetRefusal } from "./reset.ts";
import { databaseNameOf, withUrlParts } from "./urls.ts";

const COMMANDS = ["migrate", "policies", "reset", "watch", "commit", "uncommit", "worker-schema"];

async function withClient<T>(url: string, fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

function requireRoot(db: DatabaseConnections, command: string): string {
  if (!db.rootUrl) {
    throw new Error(
      `db:${command} needs a superuser connection: set ROOT_DATABASE_URL, or unset DATABASE_URL to use the embedded server`,
    );
  }
  return db.rootUrl;
}

/** graphile-migrate's watch/commit/uncommit need the root and a shadow database. */
async function migrateToolSettings(db: DatabaseConnections, log: Logger, command: string) {
  const rootUrl = requireRoot(db, command);
  const shadowUrl = withUrlParts(db.ownerUrl, {
    database: `${databaseNameOf(db.ownerUrl)}_shadow`,
  });
  return migrateSettings({ ownerUrl: db.ownerUrl, rootUrl, shadowUrl }, log);
}

async function run(command: string, args: string[], config: Config, log: Logger): Promise<void> {
  const actionUrl = process.env.GM_DBURL;
  if (command === "policies" && actionUrl) {
    await withClient(actionUrl, (client) => applyPolicies(client));
    return;
  }
  if (command === "worker-schema" && actionUrl) {
    await installWorkerSchema(actionUrl, log);
    return;
  }

  const db = await connectDatabase(config, log);
  try {
    switch (command) {
      case "migrate":
        await migrateDatabase({ ownerUrl: db.ownerUrl, authenticator: db.authenticator, log });
        break;
      case "policies": {
        const files = await withClient(db.ownerUrl, (client) => applyPolicies(client));
        log.info("policies applied", { files });
        break;
      }
      case "worker-schema":
        await installWorkerSchema(db.ownerUrl, log);
        break;
      case "reset": {
        const force = args.includes("--force");
        // refuse before asking for a superuser connection (the refusal is the better message)
        const refusal = resetRefusal(config, db.ownerUrl, force);
        if (refusal) throw new Error(refusal);
        await resetDatabase({ config, db, rootUrl: requireRoot(db, command), force, log });
        break;
      }
      case "watch": {
        const settings = await migrateToolSettings(db, log, command);
        // policies may name objects that only current.sql creates: graphile-migrate's
        // afterCurrent action applies them once current.sql has run
        const m = { ownerUrl: db.ownerUrl, authenticator: db.authenticator, log, policies: false };
        await migrateDatabase(m);
        await watch(settings, args.includes("--once"));
        releaseMigratePools();
        break;
      }
      case "commit": {
        const settings = await migrateToolSettings(db, log, command);
        // roles and the worker schema must exist; policies wait until the migration does
        const m = { ownerUrl: db.ownerUrl, authenticator: db.authenticator, log, policies: false };
        await migrateDatabase(m);
        await commit(settings, args.join(" ") || null).finally(releaseMigratePools);
        await withClient(db.ownerUrl, (client) => applyPolicies(client));
        break;
      }
      case "uncommit":
        await uncommit(await migrateToolSettings(db, log, command)).finally(releaseMigratePools);
        break;
    }
  } finally {
    if (command !== "watch" || args.includes("--once")) await db.close();
  }
}

async function main(): Promise<void> {
  const [command = "", ...args] = process.argv.slice(2);
  if (!COMMANDS.includes(command)) {
    process.stderr.write(`usage: node src/db/cli.ts <${COMMANDS.join("|")}> [args]\n`);
    process.exitCode = 2;
    return;
  }
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
  const log = createLogger({ level: config.logLevel, json: config.isProduction });
  try {
    await run(command, args, config, log);
  } catch (error) {
    log.error(`db:${command} failed`, { error: (error as Error).message });
    process.exitCode = 1;
  }
}

await main();
