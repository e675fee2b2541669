/**
 * The HTTP transport at /graphql: every refusal before GraphQL runs (method, media type, size,
 * JSON, batch, Accept, unknown paths) is a JSON GraphQL error with a stable code and the right
 * status; subscriptions are refused over HTTP (websockets only), whatever the Accept header and
 * whoever asks, before anything runs. (That the websocket closes when its token expires, 4401,
 * is in test/realtime/subscriptions.test.ts.)
 */
import { registerAccount, type TestAccount } from "../helpers/accounts.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import type { GraphQLBody } from "../helpers/server.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let db: TestDatabase;
let server: TestServer;
let ana: TestAccount;

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startTestServer(db, { MAX_REQUEST_BYTES: "5000" });
  ana = await registerAccount(server);
});
afterAll(async () => {
  await server.close();
  await db.drop();
});

interface Answer {
  status: number;
  headers: Headers;
  text: string;
  body: GraphQLBody;
}

async function send(init: RequestInit & { path?: string; base?: string }): Promise<Answer> {
  const response = await fetch(`${init.base ?? server.url}${init.path ?? "/graphql"}`, init);
  const text = await response.text();
  let body: GraphQLBody = {};
  try {
    body = JSON.parse(text) as GraphQLBody;
  } catch {
    // not JSON: the assertions on `text` say what it was
  }
  return { status: response.status, headers: response.headers, text, body };
}

const post = (body: string, headers: Record<string, string> = {}): Promise<Answer> =>
  send({
    method: "POST",
    headers: { "content-type": "application/json", accept: "application/json", ...headers },
    body,
  });

/** The answer is exactly one JSON GraphQL error with this status and code, no internals. */
function expectRefusal(answer: Answer, status: number, code: string): void {
  expect({ status: answer.status, code: answer.body.errors?.[0]?.extensions?.code }).toEqual({
    status,
    code,
  });
  expect(answer.headers.get("content-type")).toMatch(/^application\/json/);
  expect(answer.body).toEqual({
    errors: [{ message: expect.any(String), extensions: { code } }],
  });
  expect(answer.text).not.toMatch(/<html|<pre>|\bat .+:\d+:\d+|node_modules/i);
}

describe("transport refusals", () => {
  it("refuses GET and other methods with 405 METHOD_NOT_ALLOWED and an Allow header", async () => {
    for (const method of ["GET", "PUT", "DELETE", "PATCH"]) {
      const answer = await send({ method, headers: { accept: "application/json" } });
      expectRefusal(answer, 405, "METHOD_NOT_ALLOWED");
      expect(answer.headers.get("allow")).toBe("POST, OPTIONS");
    }
    const get = await send({ path: "/graphql?query=%7Busers%7BtotalCount%7D%7D" });
    expectRefusal(get, 405, "METHOD_NOT_ALLOWED");
  });

  it("refuses a body that is not JSON by its Content-Type with 415 UNSUPPORTED_MEDIA_TYPE", async () => {
    const query = JSON.stringify({ query: "{ users { totalCount } }" });
    for (const type of ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data"]) {
      expectRefusal(await post(query, { "content-type": type }), 415, "UNSUPPORTED_MEDIA_TYPE");
    }
    const untyped = await send({ method: "POST", body: new Blob([query]) });
    expectRefusal(untyped, 415, "UNSUPPORTED_MEDIA_TYPE");
  });

  it("refuses a body over MAX_REQUEST_BYTES with 413 PAYLOAD_TOO_LARGE", async () => {
    const big = JSON.stringify({
      query: "{ users { totalCount } }",
      variables: { pad: "x".repeat(6000) },
    });
    expectRefusal(await post(big), 413, "PAYLOAD_TOO_LARGE");
  });

  it("refuses malformed JSON with 400 MALFORMED_JSON", async () => {
    expectRefusal(await post(`{"query": "{ users { totalCount } }"`), 400, "MALFORMED_JSON");
    expectRefusal(await post(`query=1`), 400, "MALFORMED_JSON");
  });

  it("refuses a batch (an array of operations) with 400 BATCH_NOT_SUPPORTED", async () => {
    const batch = JSON.stringify([
      { query: "{ users { totalCount } }" },
      { query: "{ posts { totalCount } }" },
    ]);
    expectRefusal(await post(batch), 400, "BATCH_NOT_SUPPORTED");
  });

  it("refuses a body that is not one operation with 400 BAD_REQUEST", async () => {
    for (const body of [
      `{}`,
      `"{ users { totalCount } }"`,
      `{"query": 1}`,
      `{"query": "{ users { totalCount } }", "variables": [1]}`,
      `{"query": "{ users { totalCount } }", "operationName": 5}`,
    ]) {
      expectRefusal(await post(body), 400, "BAD_REQUEST");
    }
    expectRefusal(await post(""), 400, "BAD_REQUEST");
  });

  it("refuses variables nested deeper than the coercion can follow with 400 BAD_REQUEST, not a 500", async () => {
    // A passkey answer (a JSON! argument anyone may send) nested 20,000 levels, 40 kB, overflowed
    // the stack of the code that coerces it: a 500 "Maximum call stack size exceeded". On a
    // server that takes bodies of the default 100 kB:
    const roomy = await startTestServer(db, {});
    const postTo = (body: string): Promise<Answer> =>
      send({
        base: roomy.url,
        method: "POST",
        headers: { "content-type": "application/json", accept: "application/json" },
        body,
      });
    try {
      const finish = `mutation ($r: JSON!) { finishPasskeySignIn(input: { response: $r, token: "x" }) { accessToken } }`;
      const deep = (levels: number): string => `${"[".repeat(levels)}${"]".repeat(levels)}`;
      const answer = await postTo(
        `{"query": ${JSON.stringify(finish)}, "variables": {"r": ${deep(20_000)}}}`,
      );
      expectRefusal(answer, 400, "BAD_REQUEST");
      expect(answer.body.errors?.[0]?.message).toMatch(/at most 64 levels/);
      expectRefusal(
        await postTo(`{"query": "{ __typename }", "extensions": {"x": ${deep(65)}}}`),
        400,
        "BAD_REQUEST",
      );
      // 64 levels (the variables object included) are taken, and reach the mutation itself
      const within = await postTo(
        `{"query": ${JSON.stringify(finish)}, "variables": {"r": ${deep(63)}}}`,
      );
      expect(within.status).toBe(200);
      expect(within.body.errors?.[0]?.extensions?.code).toBe("CHALLENGE_INVALID");
    } finally {
      await roomy.close();
    }
  });

  it("refuses an Accept header without a GraphQL response type with 406 NOT_ACCEPTABLE", async () => {
    const query = JSON.stringify({ query: "{ users { totalCount } }" });
    expectRefusal(await post(query, { accept: "text/html" }), 406, "NOT_ACCEPTABLE");
  });

  it("answers paths nobody serves with a JSON 404 NOT_FOUND, not Express's HTML", async () => {
    for (const path of ["/nope", "/graphql/extra", "/graphiql/../etc"]) {
      expectRefusal(await send({ path }), 404, "NOT_FOUND");
    }
    expectRefusal(await send({ path: "/nope", method: "POST" }), 404, "NOT_FOUND");
  });
});

describe("subscriptions over HTTP", () => {
  const NOTIFICATIONS = "subscription { notificationAdded { unreadCount } }";

  it("are refused with SUBSCRIPTIONS_REQUIRE_WEBSOCKET whatever the Accept header, before anything runs", async () => {
    const before = server.log.lines.length;
    for (const accept of [
      "application/json",
      "application/graphql-response+json",
      "text/event-stream",
      "multipart/mixed",
      "multipart/mixed; deferSpec=20220824, application/json",
      "*/*",
    ]) {
      for (const token of [ana.accessToken, null]) {
        const answer = await post(JSON.stringify({ query: NOTIFICATIONS }), {
          accept,
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        });
        expectRefusal(answer, 400, "SUBSCRIPTIONS_REQUIRE_WEBSOCKET");
      }
    }
    const asGraphQL = await post(NOTIFICATIONS, {
      "content-type": "application/graphql",
      authorization: `Bearer ${ana.accessToken}`,
    });
    expectRefusal(asGraphQL, 400, "SUBSCRIPTIONS_REQUIRE_WEBSOCKET");
    // Nothing listened: no subscription went live, nothing was planned.
    expect(server.log.lines.slice(before).filter((l) => /realtime/.test(l))).toEqual([]);
  });

  it("refuses only subscriptions: a document's selected subscription, not its queries", async () => {
    const query = `query Count { users { totalCount } } ${NOTIFICATIONS.replace("subscription", "subscription Live")}`;
    const headers = { authorization: `Bearer ${ana.accessToken}` };
    expectRefusal(
      await post(JSON.stringify({ query, operationName: "Live" }), headers),
      400,
      "SUBSCRIPTIONS_REQUIRE_WEBSOCKET",
    );
    const served = [
      await post(JSON.stringify({ query, operationName: "Count" }), headers),
      await post(JSON.stringify({ query: "query subscription { users { totalCount } }" })),
      await post("{ users { totalCount } }", { "content-type": "application/graphql" }),
    ];
    expect(served.map((a) => ({ status: a.status, body: a.body }))).toEqual(
      Array(3).fill({ status: 200, body: { data: { users: { totalCount: 1 } } } }),
    );
  });
});
