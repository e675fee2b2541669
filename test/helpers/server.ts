/** The real API server on a random port, against a test database. */
import { loadConfig, type Config } from "../../src/config.ts";
import type { ProcessMetrics } from "../../src/metrics/registry.ts";
import { startApiServer, type ApiServer } from "../../src/server.ts";
import type { TestDatabase } from "./database.ts";
import { testLogger, type TestLogger } from "./log.ts";

export const TEST_JWT_SECRET = "test-secret-test-secret-test-secret-0123456789";

/** The configuration tests run the service with; `env` overrides any variable. */
export function testConfig(env: Record<string, string> = {}): Config {
  return loadConfig({
    HOST: "127.0.0.1",
    PORT: "0",
    JWT_SECRET: TEST_JWT_SECRET,
    BCRYPT_COST: "4",
    DATA_DIR: "/nonexistent-test-data-dir",
    // tests of other areas attach https:// links to posts and profiles; test/media turns it off
    MEDIA_ALLOW_EXTERNAL_URLS: "true",
    // every test's accounts come from 127.0.0.1; test/api/signup-rate-limit.test.ts sets it low
    SIGNUPS_PER_CLIENT_PER_HOUR: "1000000",
    // tests write in bursts; test/api/mutation-rate.test.ts sets it low
    MUTATIONS_PER_MINUTE_PER_USER: "10000000",
    ...env,
  });
}

export interface GraphQLResponse {
  status: number;
  body: GraphQLBody;
}

export interface TestServer extends ApiServer {
  readonly log: TestLogger;
  readonly config: Config;
  /** POSTs a GraphQL operation to /graphql; `token` goes in the Authorization header. */
  graphql(
    query: string,
    variables?: Record<string, unknown>,
    options?: { token?: string; headers?: Record<string, string> },
  ): Promise<GraphQLResponse>;
}

export interface GraphQLBody {
  data?: Record<string, unknown> | null;
  errors?: { message: string; extensions?: Record<string, unknown>; path?: unknown[] }[];
}

export async function startTestServer(
  db: TestDatabase,
  env: Record<string, string> = {},
  options: { metrics?: ProcessMetrics } = {},
): Promise<TestServer> {
  const log = testLogger();
  const config = testConfig(env);
  const server = await startApiServer({
    config,
    ownerUrl: db.ownerUrl,
    authUrl: db.authUrl,
    log,
    metrics: options.metrics ?? null,
  });
  return Object.assign(server, {
    log,
    config,
    async graphql(
      query: string,
      variables: Record<string, unknown> = {},
      options: { token?: string; headers?: Record<string, string> } = {},
    ): Promise<GraphQLResponse> {
      const response = await fetch(`${server.url}/graphql`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json",
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
          ...options.headers,
        },
        body: JSON.stringify({ query, variables }),
      });
      return { status: response.status, body: (await response.json()) as GraphQLBody };
    },
  });
}
