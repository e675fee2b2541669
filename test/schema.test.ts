/**
 * schema.graphql is the committed, sorted export of the API (`npm run schema:export`): this
 * fails when a migration, policy or plugin changed the API without re-exporting it.
 */
import { readFile } from "node:fs/promises";

import { SCHEMA_GRAPHQL_PATH } from "../src/paths.ts";
import { buildSchemaSdl } from "../src/schemaExport.ts";
import { createTestDatabase, type TestDatabase } from "./helpers/database.ts";
import { testLogger } from "./helpers/log.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(() => db.drop());

it("matches the committed schema.graphql (run `npm run schema:export` after API changes)", async () => {
  const committed = await readFile(SCHEMA_GRAPHQL_PATH, "utf8");
  const current = await buildSchemaSdl(db.authUrl, testLogger());
  expect(current).toEqual(committed);
});
