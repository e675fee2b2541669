/**
 * GraphQL in-process, through the real schema (the same preset the server uses), without HTTP.
 * The identity is passed as an access token, as an Authorization header would carry it.
 * Errors are masked as the server masks them. Request guards and the 401 for bad tokens are
 * HTTP concerns (grafserv middleware): test those through test/helpers/server.ts.
 */
import pg from "pg";
import { postgraphile, type PostGraphileInstance } from "postgraphile";
import { grafast } from "postgraphile/grafast";
import type { ExecutionResult, GraphQLError } from "postgraphile/graphql";

import { makePreset } from "../../graphile.config.ts";
import { createMaskError } from "../../src/errors.ts";
import { tokenServiceFor } from "../../src/server.ts";
import type { TestDatabase } from "./database.ts";
import { testLogger } from "./log.ts";
import { testConfig } from "./server.ts";

export interface InProcessGraphQL {
  readonly pgl: PostGraphileInstance;
  run(
    query: string,
    variables?: Record<string, unknown>,
    options?: { token?: string },
  ): Promise<ExecutionResult>;
  release(): Promise<void>;
}

export async function inProcessGraphQL(
  db: TestDatabase,
  env: Record<string, string> = {},
): Promise<InProcessGraphQL> {
  const log = testLogger();
  const config = testConfig(env);
  const authPool = new pg.Pool({ connectionString: db.authUrl, max: 4 });
  const pgl = postgraphile(makePreset({ config, authPool, tokens: tokenServiceFor(config), log }));
  const { schema, resolvedPreset } = await pgl.getSchemaResult();
  const maskError = createMaskError({ exposeInternalErrors: true, log });
  return {
    pgl,
    async run(query, variableValues = {}, options = {}) {
      const result = (await grafast({
        schema,
        source: query,
        variableValues,
        resolvedPreset,
        requestContext: options.token ? { mking: { accessToken: options.token } } : {},
      })) as ExecutionResult;
      return result.errors
        ? { ...result, errors: result.errors.map((e) => maskError(e) as GraphQLError) }
        : result;
    },
    async release() {
      await pgl.release();
      await authPool.end();
    },
  };
}
