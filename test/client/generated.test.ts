/**
 * The typed client's generated code is up to date: regenerating it (npm run client:generate)
 * from schema.graphql, the operations and the server's error codes changes nothing.
 */
import { readFile } from "node:fs/promises";
import path from "node:path";

import { generateClientSources } from "../../clients/typescript/codegen.ts";
import { ERROR_CODES as CLIENT_CODES } from "../../clients/typescript/src/index.ts";
import { PROJECT_ROOT } from "../../src/paths.ts";
import { ERROR_CODES } from "../../src/errors.ts";

const CLIENT = path.join(PROJECT_ROOT, "clients/typescript");

it("matches what npm run client:generate writes (regenerate after a schema or operation change)", async () => {
  const generated = await generateClientSources();
  expect([...generated.keys()].sort()).toEqual([
    "src/generated/errorCodes.ts",
    "src/generated/graphql.ts",
  ]);
  for (const [file, content] of generated) {
    const committed = await readFile(path.join(CLIENT, file), "utf8").catch(() => "");
    if (committed !== content) {
      throw new Error(`clients/typescript/${file} is stale: run npm run client:generate`);
    }
  }
});

it("types every error code the server sends", () => {
  expect([...CLIENT_CODES]).toEqual([...ERROR_CODES]);
});
