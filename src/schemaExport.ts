/**
 * `npm run schema:export`: writes the GraphQL schema, sorted, to schema.graphql so API changes
 * show up in review diffs. test/schema.test.ts fails when the committed file is stale.
 */
import { writeFile } from "node:fs/promises";

import pg from "pg";

import { ConfigError, loadConfig, type Config } from "./config.ts";
import { connectDatabase } from "./db/connection.ts";
import { migrateDatabase } from "./db/migrate.ts";
import { createLogger, type Logger } from "./log.ts";
import { SCHEMA_GRAPHQL_PATH } from "./paths.ts";

/** The API's schema as sorted SDL, introspected through the authenticator's connection. */
export async function buildSchemaSdl(authUrl: string, log: Logger): Promise<string> {
  // Loaded here, not at the top: Grafast reads GRAPHILE_ENV once, when it is first imported,
  // and the command below sets it first.
  const [{ postgraphile }, { lexicographicSortSchema, printSchema }, { makePreset }, server] =
    await Promise.all([
      import("postgraphile"),
      import("postgraphile/graphql"),
      import("../graphile.config.ts"),
      import("./server.ts"),
    ]);
  const { tokenServiceFor } = server;
  const authPool = new pg.Pool({ connectionString: authUrl, max: 2 });
  // The schema does not depend on secrets or environment: a fixed development config builds it.
  const config = loadConfig({ JWT_SECRET: "schema-export-only-schema-export-only" });
  const pgl = postgraphile(makePreset({ config, authPool, tokens: tokenServiceFor(config), log }));
  try {
    const schema = await pgl.getSchema();
    return printSchema(lexicographicSortSchema(schema)) + "\n";
  } finally {
    await pgl.release();
    await authPool.end();
  }
}

/** Exits 1 with one line per problem (a bad variable, an unreachable database), as `npm start`. */
async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    for (const problem of error.problems) process.stderr.write(`config: ${problem}\n`);
    process.exit(1);
  }
  const log = createLogger({ level: config.logLevel, json: false });
  try {
    const db = await connectDatabase(config, log);
    try {
      // with migrations/current.sql, like the tests' database: the schema under review
      await migrateDatabase({
        ownerUrl: db.ownerUrl,
        authenticator: db.authenticator,
        log,
        current: true,
      });
      await writeFile(SCHEMA_GRAPHQL_PATH, await buildSchemaSdl(db.authUrl, log));
      log.info("schema exported", { path: SCHEMA_GRAPHQL_PATH });
    } finally {
      await db.close();
    }
  } catch (error) {
    log.error("schema:export failed", { error: (error as Error).message });
    process.exit(1);
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.env.GRAPHILE_ENV ??= "development";
  await main();
}
