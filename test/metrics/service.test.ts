/**
 * `npm run server` alone serves the API's metrics on METRICS_PORT (one registry per process),
 * with the database's, and writes the access log as JSON in production.
 */
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { freePort, startProcess, type RunningProcess } from "../helpers/process.ts";
import { TEST_JWT_SECRET } from "../helpers/server.ts";
import { scrape } from "./scrape.ts";

let db: TestDatabase;
let proc: RunningProcess | undefined;

beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  if (proc && proc.child.exitCode === null) {
    proc.child.kill("SIGTERM");
    await proc.exited;
  }
  await db.drop();
});

/** `npm run server` in production on the test database, serving METRICS_PORT. */
function serverEnv(
  metricsPort: number,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    NODE_ENV: "production",
    DATABASE_URL: db.ownerUrl,
    AUTH_DATABASE_URL: db.authUrl,
    DATABASE_AUTHENTICATOR_PASSWORD: "unused-in-this-test",
    JWT_SECRET: TEST_JWT_SECRET,
    HOST: "127.0.0.1",
    PORT: "0",
    METRICS_PORT: String(metricsPort),
    ...extra,
  };
}

it("serves API and database metrics from `server` mode, and one JSON access log line per request", async () => {
  const metricsPort = await freePort();
  proc = startProcess(["src/main.ts", "server"], serverEnv(metricsPort));
  const [, url] = await proc.waitFor(/GraphQL API ready at (http:\/\/[^/\s"]+)\/graphql/);
  const response = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json" },
    body: JSON.stringify({ query: `query Hello { __typename }` }),
  });
  const requestId = response.headers.get("x-request-id");
  expect(response.status).toBe(200);

  const samples = await scrape(`http://127.0.0.1:${metricsPort}`);
  expect(
    samples.value("mking_graphql_request_duration_seconds_count", {
      operation_name: "Hello",
      operation_type: "query",
    }),
  ).toBe(1);
  expect(
    samples.value("mking_pg_pool_connections", { pool: "api", state: "total" }),
  ).toBeGreaterThan(0);
  expect(samples.value("mking_db_up")).toBe(1);
  expect(samples.has("mking_jobs_oldest_ready_seconds")).toBe(true);

  const [line] = await proc.waitFor(new RegExp(`\\{[^\\n]*"requestId":"${requestId}"[^\\n]*\\}`));
  expect(JSON.parse(line)).toMatchObject({
    level: "info",
    message: "request",
    component: "access",
    requestId,
    operation: "Hello",
    type: "query",
    status: 200,
    code: "OK",
  });
});

it("listens on METRICS_HOST when it is set, not on HOST", async () => {
  const metricsPort = await freePort();
  const other = startProcess(
    ["src/main.ts", "server"],
    // another loopback address stands for an internal interface
    serverEnv(metricsPort, { METRICS_HOST: "127.0.0.2", METRICS_DATABASE: "false" }),
  );
  try {
    await other.waitFor(/GraphQL API ready at/);
    const samples = await scrape(`http://127.0.0.2:${metricsPort}`);
    expect(samples.has("mking_http_requests_in_flight")).toBe(true);
    await expect(fetch(`http://127.0.0.1:${metricsPort}/metrics`)).rejects.toThrow();
  } finally {
    other.child.kill("SIGTERM");
    await other.exited;
  }
});
