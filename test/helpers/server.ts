/** The real API server on a random port, against a test database. */
import { startApiServer, type ApiServer } from "../../src/server.ts";
import type { TestDatabase } from "./database.ts";
import { testLogger, type TestLogger } from "./log.ts";

export interface TestServer extends ApiServer {
  readonly log: TestLogger;
  /** POSTs a GraphQL operation to /graphql and returns status and parsed body. */
  graphql(
    query: string,
    variables?: Record<string, unknown>,
    headers?: Record<string, string>,
  ): Promise<{ status: number; body: GraphQLBody }>;
}

export interface GraphQLBody {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown>; path?: unknown[] }[];
}

export async function startTestServer(
  db: TestDatabase,
  overrides: { isProduction?: boolean; graphiql?: boolean } = {},
): Promise<TestServer> {
  const log = testLogger();
  const server = await startApiServer({
    ownerUrl: db.ownerUrl,
    authUrl: db.authUrl,
    host: "127.0.0.1",
    port: 0,
    isProduction: overrides.isProduction ?? false,
    graphiql: overrides.graphiql ?? true,
    explain: false,
    log,
  });
  return Object.assign(server, {
    log,
    async graphql(
      query: string,
      variables: Record<string, unknown> = {},
      headers: Record<string, string> = {},
    ) {
      const response = await fetch(`${server.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json", ...headers },
        body: JSON.stringify({ query, variables }),
      });
      return { status: response.status, body: (await response.json()) as GraphQLBody };
    },
  });
}
