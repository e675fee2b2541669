/**
 * The HTTP surface: health endpoints, GraphQL over HTTP, Ruru (GraphiQL), and the errors a
 * client gets for a bad request.
 */
import pg from "pg";

import { checkReadiness } from "../../src/server.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let db: TestDatabase;
let server: TestServer;

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startTestServer(db);
});
afterAll(async () => {
  await server.close();
  await db.drop();
});

describe("health endpoints", () => {
  it("GET /healthz answers while the process is up", async () => {
    const response = await fetch(`${server.url}/healthz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ok" });
  });

  it("GET /readyz answers ready when the database is reachable and fully migrated", async () => {
    const response = await fetch(`${server.url}/readyz`);
    expect(response.status).toBe(200);
    expect(await response.json()).toEqual({ status: "ready" });
  });

  it("reports migrations pending for a database behind the committed migrations", async () => {
    const empty = await createTestDatabase({ migrated: false });
    const pool = new pg.Pool({ connectionString: empty.ownerUrl });
    // dropping the database ends any connection still closing: not this test's concern
    pool.on("error", () => undefined);
    try {
      expect(await checkReadiness(pool, "sha1:abc")).toEqual({
        ready: false,
        reason: "migrations pending",
      });
    } finally {
      await pool.end();
      await empty.drop();
    }
  });

  it("reports the database unreachable when it cannot connect", async () => {
    const pool = new pg.Pool({
      connectionString: "postgres://nobody:x@127.0.0.1:1/none",
      connectionTimeoutMillis: 500,
    });
    pool.on("error", () => undefined);
    try {
      expect(await checkReadiness(pool, "sha1:abc")).toEqual({
        ready: false,
        reason: "database unreachable",
      });
    } finally {
      await pool.end();
    }
  });
});

describe("POST /graphql", () => {
  it("runs a query against the database", async () => {
    const { status, body } = await server.graphql(
      `{ users { totalCount } posts(first: 5) { nodes { id } } }`,
    );
    expect(status).toBe(200);
    expect(body).toEqual({ data: { users: { totalCount: 0 }, posts: { nodes: [] } } });
  });

  it("answers a query that does not validate with GRAPHQL_VALIDATION_FAILED and no data", async () => {
    const { body } = await server.graphql(`{ nope }`);
    expect(body.data).toBeUndefined();
    expect(body.errors).toEqual([
      expect.objectContaining({
        message: expect.stringContaining("nope"),
        extensions: { code: "GRAPHQL_VALIDATION_FAILED" },
      }),
    ]);
  });

  it("answers a query that does not parse with GRAPHQL_PARSE_FAILED", async () => {
    const { body } = await server.graphql(`{ users { `);
    expect(body.errors).toEqual([
      expect.objectContaining({
        message: expect.stringContaining("Syntax Error"),
        extensions: { code: "GRAPHQL_PARSE_FAILED" },
      }),
    ]);
  });

  it("answers a bad variable value with an error that names it, not a stack trace", async () => {
    const { body } = await server.graphql(`query ($id: UUID!) { post(id: $id) { id } }`, {
      id: "not-a-uuid",
    });
    expect(body.data ?? null).toBeNull();
    expect(JSON.stringify(body)).not.toMatch(/at .*\.js:\d+|select |from "app_public"/);
    expect(body.errors).toEqual([
      expect.objectContaining({
        message: expect.stringContaining("Invalid UUID"),
        extensions: { code: "INVALID_INPUT", field: "id" },
      }),
    ]);
  });

  it("refuses a request body over the size limit", async () => {
    const response = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        query: `{ users { totalCount } }`,
        variables: { pad: "x".repeat(200_000) },
      }),
    });
    expect(response.status).toBe(413);
    expect(await response.json()).toEqual({
      errors: [{ message: expect.any(String), extensions: { code: "PAYLOAD_TOO_LARGE" } }],
    });
  });
});

describe("Ruru (GraphiQL)", () => {
  it("is served at /graphiql when enabled", async () => {
    const response = await fetch(`${server.url}/graphiql`);
    expect(response.status).toBe(200);
    expect(await response.text()).toContain("<html");
  });

  it("is absent when disabled (the production default)", async () => {
    const other = await startTestServer(db, {
      NODE_ENV: "production",
      DATABASE_URL: db.ownerUrl,
      DATABASE_AUTHENTICATOR_PASSWORD: "x",
      BCRYPT_COST: "10",
    });
    try {
      expect((await fetch(`${other.url}/graphiql`)).status).toBe(404);
      expect((await other.graphql(`{ users { totalCount } }`)).status).toBe(200);
    } finally {
      await other.close();
    }
  });
});
