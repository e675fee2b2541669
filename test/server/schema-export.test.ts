/**
 * `npm run schema:export` fails like `npm start` does: one line naming the problem and exit
 * code 1, never a stack trace, and schema.graphql left as it was.
 */
import { readFile } from "node:fs/promises";

import { SCHEMA_GRAPHQL_PATH } from "../../src/paths.ts";
import { freePort, startProcess } from "../helpers/process.ts";

async function schemaExport(
  env: Record<string, string>,
): Promise<{ code: number | null; output: string }> {
  const proc = startProcess(["src/schemaExport.ts"], env);
  const code = await proc.exited;
  return { code, output: proc.output() };
}

describe("npm run schema:export", () => {
  let committed: string;
  beforeAll(async () => {
    committed = await readFile(SCHEMA_GRAPHQL_PATH, "utf8");
  });
  afterEach(async () => {
    expect(await readFile(SCHEMA_GRAPHQL_PATH, "utf8")).toBe(committed);
  });

  it("stops on a bad variable with the one-line config message", async () => {
    expect(await schemaExport({ PORT: "abc", GRAPHQL_MAX_DEPTH: "1" })).toEqual({
      code: 1,
      output:
        'config: PORT must be an integer from 0 to 65535 (got "abc")\n' +
        'config: GRAPHQL_MAX_DEPTH must be an integer from 2 to 100 (got "1")\n',
    });
  });

  it("stops on an unreachable database with one line saying so", async () => {
    // a loopback port nothing listens on
    const url = `postgres://owner:secret@127.0.0.1:${await freePort()}/mking_friend`;
    const { code, output } = await schemaExport({ DATABASE_URL: url });
    expect(code).toBe(1);
    expect(output).toMatch(
      /^error schema:export failed error="connect ECONNREFUSED 127\.0\.0\.1:\d+"\n$/,
    );
  });
});
