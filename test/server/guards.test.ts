/**
 * Request guards: each one tripped on purpose — page size (default and maximum), cost, depth,
 * statement timeout, introspection and error masking in production. (The body size limit is in
 * http.test.ts.)
 */
import { registerAccount, type TestAccount } from "../helpers/accounts.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let db: TestDatabase;
let server: TestServer;
let ana: TestAccount;

beforeAll(async () => {
  db = await createTestDatabase();
  // Test-only functions, created before the server introspects the schema.
  await withClient(db.ownerUrl, (c) =>
    c.query(`
      create function app_public.test_sleep(seconds float) returns boolean as $$
        select pg_sleep(seconds) is not null;
      $$ language sql stable;
      comment on function app_public.test_sleep(float) is E'Test only: sleeps.';
      grant execute on function app_public.test_sleep(float) to anonymous;
      create function app_public.test_fail() returns boolean as $$
      begin
        raise exception 'internal detail: password=hunter2 at table app_private.secrets';
      end;
      $$ language plpgsql stable;
      comment on function app_public.test_fail() is E'Test only: fails unexpectedly.';
      grant execute on function app_public.test_fail() to anonymous;
    `),
  );
  server = await startTestServer(db, {
    API_STATEMENT_TIMEOUT_MS: "300",
    GRAPHQL_MAX_COST: "3000",
    GRAPHQL_MAX_DEPTH: "6",
  });
  ana = await registerAccount(server);
  await withClient(db.ownerUrl, (c) =>
    c.query(
      `insert into app_public.posts (author_id, content, created_at)
       select $1, 'post ' || n, now() - n * interval '1 minute' from generate_series(1, 120) n`,
      [ana.id],
    ),
  );
});
afterAll(async () => {
  await server.close();
  await db.drop();
});

describe("page size", () => {
  it("defaults to 20 when a connection asks for neither first nor last", async () => {
    const { body } = await server.graphql(`{ posts { nodes { id } } }`);
    expect((body.data!.posts as { nodes: unknown[] }).nodes).toHaveLength(20);
  });

  it("defaults nested connections too, and a null variable", async () => {
    const { body } = await server.graphql(
      `query ($n: Int) { users(first: 5) { nodes { posts(first: $n) { nodes { id } } } } }`,
      { n: null },
    );
    expect(body.errors).toBeUndefined();
    const users = (body.data!.users as { nodes: { posts: { nodes: unknown[] } }[] }).nodes;
    expect(users.find((u) => u.posts.nodes.length > 0)?.posts.nodes).toHaveLength(20);
  });

  it("gives up to 100 when asked", async () => {
    const { body } = await server.graphql(`{ posts(first: 100) { nodes { id } } }`);
    expect((body.data!.posts as { nodes: unknown[] }).nodes).toHaveLength(100);
  });

  it("refuses more than 100, as a literal or in a variable, naming the argument", async () => {
    const literal = await server.graphql(`{ posts(first: 101) { nodes { id } } }`);
    expect(literal.body.data).toBeUndefined();
    expect(literal.body.errors?.[0]).toMatchObject({
      message: "`first` on `posts` must be between 0 and 100 (got 101)",
      extensions: { code: "INVALID_INPUT", field: "first" },
    });
    const variable = await server.graphql(`query ($n: Int) { posts(last: $n) { nodes { id } } }`, {
      n: 5000,
    });
    expect(variable.body.errors?.[0]?.extensions).toMatchObject({
      code: "INVALID_INPUT",
      field: "last",
    });
  });
});

describe("cost", () => {
  it("refuses an operation that could return too many objects", async () => {
    const { body } = await server.graphql(
      `{ users(first: 50) { nodes { posts(first: 100) { nodes { id } } } } }`,
    );
    expect(body.data).toBeUndefined();
    expect(body.errors?.[0]?.extensions).toMatchObject({
      code: "QUERY_TOO_COMPLEX",
      limit: "cost",
      maxCost: 3000,
    });
  });

  it("lets a reasonable one through", async () => {
    const { body } = await server.graphql(
      `{ users(first: 10) { nodes { posts(first: 20) { nodes { id } } } } }`,
    );
    expect(body.errors).toBeUndefined();
  });
});

describe("depth", () => {
  it("refuses an operation nested too deep, fragments included", async () => {
    const { body } = await server.graphql(`
      fragment Deep on Post { sharedPost { sharedPost { sharedPost { sharedPost { id } } } } }
      { posts(first: 1) { nodes { ...Deep } } }
    `);
    expect(body.errors?.[0]?.extensions).toMatchObject({
      code: "QUERY_TOO_COMPLEX",
      limit: "depth",
    });
  });
});

describe("statement timeout", () => {
  it("cancels SQL that runs too long with TIMEOUT", async () => {
    const { body } = await server.graphql(`{ testSleep(seconds: 3) }`);
    expect(body.errors?.[0]?.extensions).toEqual({ code: "TIMEOUT" });
  });
});

describe("production mode", () => {
  let production: TestServer;
  beforeAll(async () => {
    production = await startTestServer(db, {
      NODE_ENV: "production",
      DATABASE_URL: db.ownerUrl,
      DATABASE_AUTHENTICATOR_PASSWORD: "x",
      BCRYPT_COST: "10",
    });
  });
  afterAll(() => production.close());

  it("masks unexpected errors: a stable code and an error id, no SQL or internals", async () => {
    const { body } = await production.graphql(`{ testFail }`);
    const error = body.errors?.[0];
    expect(error?.extensions).toEqual({
      code: "INTERNAL_SERVER_ERROR",
      errorId: expect.any(String),
    });
    expect(JSON.stringify(body)).not.toMatch(/hunter2|app_private|raise|plpgsql/);
    expect(
      production.log.lines.some(
        (l) => l.includes(String(error?.extensions?.errorId)) && l.includes("hunter2"),
      ),
    ).toBe(true);
  });

  it("shows the real message in development, still with the code", async () => {
    const { body } = await server.graphql(`{ testFail }`);
    expect(body.errors?.[0]).toMatchObject({
      message: expect.stringContaining("hunter2"),
      extensions: { code: "INTERNAL_SERVER_ERROR" },
    });
  });

  it("turns introspection off", async () => {
    const off = await production.graphql(`{ __schema { queryType { name } } }`);
    expect(off.body.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
    const on = await server.graphql(`{ __schema { queryType { name } } }`);
    expect(on.body.data).toEqual({ __schema: { queryType: { name: "Query" } } });
  });
});
