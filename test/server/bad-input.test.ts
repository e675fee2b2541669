/**
 * Input PostgreSQL can never accept — a NUL character (U+0000) in any text, a negative `offset`
 * — answers INVALID_INPUT naming the field, over real HTTP, and never PostgreSQL's own message
 * (src/graphql/inputs.ts refuses it before any SQL runs; src/errors.ts maps the SQLSTATEs too).
 */
import pg from "pg";
import { GraphQLError } from "postgraphile/graphql";

import { registerAccount, type TestAccount } from "../helpers/accounts.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { testLogger } from "../helpers/log.ts";
import { freePort } from "../helpers/process.ts";
import { startTestServer, type GraphQLBody, type TestServer } from "../helpers/server.ts";
import { createMaskError } from "../../src/errors.ts";

let db: TestDatabase;
let server: TestServer;
let ana: TestAccount;
let post: string;

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startTestServer(db);
  ana = await registerAccount(server);
  post = (
    await withClient(db.ownerUrl, (c) =>
      c.query<{ id: string }>(
        `insert into app_public.posts (author_id, content) values ($1, 'hello') returning id`,
        [ana.id],
      ),
    )
  ).rows[0]!.id;
});
afterAll(async () => {
  await server.close();
  await db.drop();
});

/** PostgreSQL's wording for these refusals, which must never reach a client. */
const POSTGRES_TEXT =
  /invalid byte sequence|0x00|unsupported Unicode|(OFFSET|LIMIT) must not be negative|22021|22P05|2201X/;

async function send(
  query: string,
  variables: Record<string, unknown> = {},
  who: TestAccount | null = ana,
): Promise<GraphQLBody> {
  const { body } = await server.graphql(query, variables, who ? { token: who.accessToken } : {});
  expect(JSON.stringify(body)).not.toMatch(POSTGRES_TEXT);
  return body;
}

const firstError = (body: GraphQLBody) => body.errors?.[0]?.extensions;
const NUL = "a\u0000b";

describe("a NUL character", () => {
  it("in a post's content (publishPost), and no post is created", async () => {
    const body = await send(
      `mutation ($input: PublishPostInput!) { publishPost(input: $input) { post { id } } }`,
      { input: { content: `hi ${NUL}` } },
    );
    expect(firstError(body)).toEqual({ code: "INVALID_INPUT", field: "content" });
    expect(body.errors?.[0]?.message).toBe("Text must not contain the NUL character (U+0000)");
    const rows = await withClient(db.ownerUrl, (c) =>
      c.query(`select 1 from app_public.posts where content like 'hi %'`),
    );
    expect(rows.rowCount).toBe(0);
  });

  it("in a display name (profile update)", async () => {
    const body = await send(
      `mutation ($id: UUID!, $name: String) {
        updateUserProfileByUserId(input: { userId: $id, patch: { displayName: $name } }) { userProfile { displayName } }
      }`,
      { id: ana.id, name: NUL },
    );
    expect(firstError(body)).toEqual({ code: "INVALID_INPUT", field: "name" });
  });

  it("in a comment, written as a literal in the document", async () => {
    const body = await send(
      `mutation { addComment(input: { postId: "${post}", content: "nice\\u0000" }) { comment { id } } }`,
    );
    expect(firstError(body)).toEqual({ code: "INVALID_INPUT", field: "content" });
  });

  it("in a search term, signed out", async () => {
    const body = await send(
      `query ($q: String) { searchPosts(query: $q, first: 5) { nodes { id } } }`,
      { q: NUL },
      null,
    );
    expect(firstError(body)).toEqual({ code: "INVALID_INPUT", field: "q" });
    const literal = await send(`{ searchPosts(query: "\\u0000", first: 5) { nodes { id } } }`);
    expect(firstError(literal)).toEqual({ code: "INVALID_INPUT", field: "query" });
  });

  it("in a variable's default value", async () => {
    const body = await send(
      `query ($q: String = "x\\u0000") { searchPosts(query: $q, first: 5) { nodes { id } } }`,
    );
    expect(firstError(body)).toEqual({ code: "INVALID_INPUT", field: "q" });
  });

  it("in the login e-mail or password, and in a new username", async () => {
    const login = `mutation ($input: LoginInput!) { login(input: $input) { accessToken } }`;
    expect(
      firstError(
        await send(login, { input: { email: `x${NUL}@example.com`, password: "pw" } }, null),
      ),
    ).toEqual({ code: "INVALID_INPUT", field: "email" });
    expect(
      firstError(await send(login, { input: { email: ana.email, password: NUL } }, null)),
    ).toEqual({ code: "INVALID_INPUT", field: "password" });
    const register = `mutation ($input: RegisterInput!) { register(input: $input) { accessToken } }`;
    expect(
      firstError(
        await send(
          register,
          { input: { email: "nul@example.com", password: "long enough", username: `nul${NUL}` } },
          null,
        ),
      ),
    ).toEqual({ code: "INVALID_INPUT", field: "username" });
  });

  it("deep in a nested input (a media item's URL)", async () => {
    const body = await send(
      `mutation ($input: PublishPostInput!) { publishPost(input: $input) { post { id } } }`,
      { input: { content: "fine", media: [{ mediaType: "image", mediaUrl: `https://x/${NUL}` }] } },
    );
    expect(firstError(body)).toEqual({ code: "INVALID_INPUT", field: "mediaUrl" });
  });
});

describe("a negative offset", () => {
  it("on a root connection", async () => {
    const body = await send(`{ posts(first: 5, offset: -1) { nodes { id } } }`, {}, null);
    expect(firstError(body)).toEqual({ code: "INVALID_INPUT", field: "offset" });
    expect(body.errors?.[0]?.message).toBe("`offset` must not be negative (got -1)");
    // zero still pages
    const zero = await send(`{ posts(first: 5, offset: 0) { nodes { id } } }`);
    expect(zero).toEqual({ data: { posts: { nodes: [{ id: post }] } } });
  });

  it("on a nested connection, through a variable", async () => {
    const body = await send(
      `query ($id: UUID!, $o: Int) { user(id: $id) { followers(first: 5, offset: $o) { nodes { id } } } }`,
      { id: ana.id, o: -3 },
    );
    expect(firstError(body)).toEqual({ code: "INVALID_INPUT", field: "offset" });
  });
});

describe("PostgreSQL's refusals, if one ever gets past the guard", () => {
  const mask = createMaskError({ exposeInternalErrors: true, log: testLogger() });
  async function refusalOf(text: string, values: unknown[]): Promise<unknown> {
    const client = new pg.Client({ connectionString: db.ownerUrl });
    await client.connect();
    try {
      await client.query(text, values);
      throw new Error("expected PostgreSQL to refuse");
    } catch (e) {
      const masked = mask(new GraphQLError("x", { originalError: e as Error }));
      return { message: masked.message, extensions: masked.extensions };
    } finally {
      await client.end();
    }
  }

  it("maps NUL in text and in jsonb, and a negative offset or limit, to INVALID_INPUT", async () => {
    const nul = {
      message: "Text must not contain the NUL character (U+0000).",
      extensions: { code: "INVALID_INPUT" },
    };
    expect(await refusalOf(`select $1::text`, [NUL])).toEqual(nul);
    expect(await refusalOf(`select '{"a": "\\u0000"}'::jsonb ->> 'a'`, [])).toEqual(nul);
    expect(await refusalOf(`select 1 offset $1`, [-1])).toEqual({
      message: "`offset` must not be negative.",
      extensions: { code: "INVALID_INPUT" },
    });
    expect(await refusalOf(`select 1 limit $1`, [-1])).toEqual({
      message: "A page size must not be negative.",
      extensions: { code: "INVALID_INPUT" },
    });
  });
});

describe("a database that is restarting or out of reach", () => {
  const mask = createMaskError({ exposeInternalErrors: false, log: testLogger() });
  const masked = (e: unknown): { message: string; extensions: unknown } => {
    const m = mask(new GraphQLError("x", { originalError: e as Error }));
    return { message: m.message, extensions: m.extensions };
  };
  const unavailable = {
    message: "The database is unavailable for a moment; try again shortly.",
    extensions: { code: "SERVICE_UNAVAILABLE" },
  };

  it("a refused connection is SERVICE_UNAVAILABLE, not an internal error", async () => {
    const client = new pg.Client({
      connectionString: `postgres://nobody:nothing@127.0.0.1:${await freePort()}/nothing`,
    });
    const error = await client.connect().then(
      () => null,
      (e: unknown) => e,
    );
    expect(error).not.toBeNull();
    expect(masked(error)).toEqual(unavailable);
  });

  it("a connection the server ends (admin shutdown, 57P01) is SERVICE_UNAVAILABLE", async () => {
    const victim = new pg.Client({ connectionString: db.ownerUrl });
    victim.on("error", () => undefined);
    await victim.connect();
    // (not events.once: it rejects on the "error" the client emits first)
    const ended = new Promise<void>((resolve) => victim.once("end", () => resolve()));
    const { rows } = await victim.query<{ pid: number }>("select pg_backend_pid() as pid");
    const running = victim.query("select pg_sleep(30)").then(
      () => null,
      (e: unknown) => e,
    );
    await withClient(db.superuserUrl, (c) =>
      c.query("select pg_terminate_backend($1)", [rows[0]!.pid]),
    );
    const error = await running;
    expect((error as { code?: string }).code).toBe("57P01");
    expect(masked(error)).toEqual(unavailable);
    // the same client once its connection has closed (before that, a query sent in between
    // fails "Connection terminated unexpectedly", mapped alike): "… is not queryable"
    await ended;
    const after = await victim.query("select 1").then(
      () => null,
      (e: unknown) => e,
    );
    await victim.end().catch(() => undefined);
    expect((after as Error).message).toMatch(/not queryable/);
    expect(masked(after)).toEqual(unavailable);
  });
});
