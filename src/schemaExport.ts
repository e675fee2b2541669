/**
 * `npm run schema:export`: writes the GraphQL schema, sorted, to schema.graphql so API changes
 * show up in review diffs. test/schema.test.ts fails when the committed file is stale.
 */
import { writeFile } from "node:fs/promises";

import pg from "pg";
import { postgraphile } from "postgraphile";
import { lexicographicSortSchema, printSchema } from "postgraphile/graphql";

import { makePreset } from "../graphile.config.ts";
import { loadConfig } from "./config.ts";
import { connectDatabase } from "./db/connection.ts";
import { migrateDatabase } from "./db/migrate.ts";
import { createLogger, type Logger } from "./log.ts";
import { SCHEMA_GRAPHQL_PATH } from "./paths.ts";
import { tokenServiceFor } from "./server.ts";

/** The API's schema as sorted SDL, introspected through the authenticator's connection. */
export async function buildSchemaSdl(authUrl: string, log: Logger): Promise<string> {
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

async function main(): Promise<void> {
  const config = loadConfig();
  const log = createLogger({ level: config.logLevel, json: false });
  const db = await connectDatabase(config, log);
  try {
    await migrateDatabase({ ownerUrl: db.ownerUrl, authenticator: db.authenticator, log });
    await writeFile(SCHEMA_GRAPHQL_PATH, await buildSchemaSdl(db.authUrl, log));
    log.info("schema exported", { path: SCHEMA_GRAPHQL_PATH });
  } finally {
    await db.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.env.GRAPHILE_ENV ??= "development";
  await main();
}
