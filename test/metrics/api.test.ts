/**
 * The API's metrics and access log, scraped from METRICS_PORT after known actions: operations by
 * name and type, responses by code, refusals by guard, websockets, subscriptions, realtime
 * events (delivered and dropped), the LISTEN connection and the pg pools.
 */
import { randomUUID } from "node:crypto";

import { ProcessMetrics } from "../../src/metrics/registry.ts";
import { startMetricsServer, type MetricsServer } from "../../src/metricsServer.ts";
import { registerAccount, type TestAccount } from "../helpers/accounts.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { connect, type LiveSocket } from "../helpers/realtime.ts";
import { startTestServer, type GraphQLBody, type TestServer } from "../helpers/server.ts";
import { scrape, type Samples } from "./scrape.ts";

let db: TestDatabase;
let server: TestServer;
let metricsServer: MetricsServer;
let ana: TestAccount;
let ben: TestAccount;
const sockets: LiveSocket[] = [];

beforeAll(async () => {
  db = await createTestDatabase();
  const metrics = new ProcessMetrics();
  server = await startTestServer(
    db,
    {
      GRAPHQL_MAX_ALIASES: "3",
      MAX_REQUEST_BYTES: "10000",
      REALTIME_MAX_QUEUED_EVENTS: "3",
      ACCESS_LOG_SALT: "test-salt",
    },
    { metrics },
  );
  metricsServer = await startMetricsServer({
    host: "127.0.0.1",
    port: 0,
    ownerUrl: db.ownerUrl,
    heartbeatMs: 1000,
    log: server.log,
    worker: null,
    metrics,
    database: null,
  });
  ana = await registerAccount(server);
  ben = await registerAccount(server);
});
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.dispose()));
});
afterAll(async () => {
  await metricsServer.close();
  await server.close();
  await db.drop();
});

const read = (): Promise<Samples> => scrape(metricsServer.url);

async function post(
  body: unknown,
  token?: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; body: GraphQLBody; requestId: string | null }> {
  const response = await fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: JSON.stringify(body),
  });
  return {
    status: response.status,
    body: (await response.json()) as GraphQLBody,
    requestId: response.headers.get("x-request-id"),
  };
}

async function groupChat(owner: TestAccount, others: TestAccount[]): Promise<string> {
  const { body } = await post(
    {
      query: `mutation CreateChat($t: String!, $p: [UUID]!) { createGroupConversation(input: { title: $t, participantIds: $p }) { conversation { id } } }`,
      variables: { t: `chat ${randomUUID().slice(0, 6)}`, p: others.map((o) => o.id) },
    },
    owner.accessToken,
  );
  const data = body.data as { createGroupConversation: { conversation: { id: string } } };
  return data.createGroupConversation.conversation.id;
}

function open(account: TestAccount): LiveSocket {
  const socket = connect(server, { authorization: `Bearer ${account.accessToken}` });
  sockets.push(socket);
  return socket;
}

const MESSAGE_ADDED = `subscription Messages($c: UUID!) { messageAdded(conversationId: $c) { id content } }`;

describe("HTTP operations", () => {
  it("time each operation by name and type and count its response by code", async () => {
    const before = await read();
    await post({ query: `query Ping { __typename }` });
    await groupChat(ana, [ben]);
    await post({ query: `query Broken { noSuchField }` });
    const after = await read();

    const count = "mking_graphql_request_duration_seconds_count";
    expect(after.delta(before, count, { operation_name: "Ping", operation_type: "query" })).toBe(1);
    expect(
      after.delta(before, count, { operation_name: "CreateChat", operation_type: "mutation" }),
    ).toBe(1);
    const responses = "mking_graphql_responses_total";
    expect(after.delta(before, responses, { operation_type: "query", code: "OK" })).toBe(1);
    expect(after.delta(before, responses, { operation_type: "mutation", code: "OK" })).toBe(1);
    expect(
      after.delta(before, responses, {
        operation_type: "unknown",
        code: "GRAPHQL_VALIDATION_FAILED",
      }),
    ).toBe(1);
    expect(after.value("mking_http_requests_in_flight")).toBe(0);
  });

  it("count an operation that failed as it ran by the code its client got, and a field aliased errors as OK", async () => {
    const before = await read();
    const failed = await post(
      {
        query: `mutation Send($c: UUID!) { sendMessage(input: { conversationId: $c, content: "hi" }) { message { id } } }`,
        variables: { c: randomUUID() },
      },
      ana.accessToken,
    );
    const code = failed.body.errors?.[0]?.extensions?.code;
    expect(failed.status).toBe(200);
    expect(typeof code).toBe("string");
    expect(code).not.toBe("INTERNAL_SERVER_ERROR");
    const aliased = await post({ query: `query Aliased { errors: __typename }` });
    expect(aliased.body.errors).toBeUndefined();
    const after = await read();

    const responses = "mking_graphql_responses_total";
    expect(after.delta(before, responses, { operation_type: "mutation", code: String(code) })).toBe(
      1,
    );
    expect(after.delta(before, responses, { operation_type: "query", code: "OK" })).toBe(1);
    expect(
      after.delta(before, "mking_graphql_request_duration_seconds_count", {
        operation_name: "Send",
        operation_type: "mutation",
      }),
    ).toBe(1);
  });

  it("count refusals by guard: document shape, depth, body size, transport", async () => {
    const before = await read();
    const aliases = await post({
      query: `{ a: __typename b: __typename c: __typename d: __typename }`,
    });
    expect(aliases.body.errors?.[0]?.extensions).toMatchObject({
      code: "QUERY_TOO_COMPLEX",
      limit: "aliases",
    });
    let deep = "__typename";
    for (let i = 0; i < 14; i++) deep = `currentUser { ${deep} }`;
    await post({ query: `{ ${deep} }` });
    const large = await post({ query: `{ __typename }`, variables: { pad: "x".repeat(20_000) } });
    expect(large.status).toBe(413);
    const batch = await post([{ query: `{ __typename }` }]);
    expect(batch.status).toBe(400);
    const after = await read();

    const refused = "mking_requests_refused_total";
    expect(after.delta(before, refused, { guard: "aliases" })).toBe(1);
    expect(after.delta(before, refused, { guard: "depth" })).toBe(1);
    expect(after.delta(before, refused, { guard: "body_size" })).toBe(1);
    expect(after.delta(before, refused, { guard: "transport" })).toBe(1);
    expect(after.delta(before, refused, { guard: "cost" })).toBe(0);
    expect(
      after.delta(before, "mking_graphql_responses_total", {
        operation_type: "unknown",
        code: "PAYLOAD_TOO_LARGE",
      }),
    ).toBe(1);
  });

  it("write one access log line per request: id, operation, duration, code, user hash; never the token or variables", async () => {
    const secret = `secret-${randomUUID()}`;
    const { requestId } = await post(
      {
        query: `query Mine($s: String!) { userProfileByUsername(username: $s) { id } }`,
        variables: { s: secret },
      },
      ana.accessToken,
    );
    expect(requestId).toMatch(/^[0-9a-f-]{36}$/);
    const line = server.log.lines.find((l) => l.includes(`requestId=${requestId}`));
    expect(line).toMatch(/^info {2}request /);
    expect(line).toContain("component=access");
    expect(line).toContain("operation=Mine type=query");
    expect(line).toMatch(/ ms=\d+(\.\d+)? /);
    expect(line).toContain("status=200 code=OK");
    expect(line).toMatch(/ user=[0-9a-f]{16}$/);
    expect(line).not.toContain(secret);
    expect(line).not.toContain(ana.accessToken);
    expect(line).not.toContain(ana.id);

    const given = await post({ query: `{ __typename }` }, undefined, {
      "x-request-id": "req-42.a",
    });
    expect(given.requestId).toBe("req-42.a");
    const bad = await post({ query: `{ __typename }` }, undefined, { "x-request-id": "a b\u00e9" });
    expect(bad.requestId).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("report the pools of the API", async () => {
    const samples = await read();
    expect(
      samples.value("mking_pg_pool_connections", { pool: "api", state: "total" }),
    ).toBeGreaterThan(0);
    expect(samples.value("mking_pg_pool_connections", { pool: "api", state: "waiting" })).toBe(0);
    expect(
      samples.value("mking_pg_pool_connections", { pool: "api_health", state: "idle" }),
    ).toBeGreaterThanOrEqual(0);
  });
});

describe("websockets and realtime", () => {
  it("count sockets and subscriptions while they run, and the events delivered", async () => {
    const chat = await groupChat(ana, [ben]);
    const before = await read();
    const socket = open(ana);
    const listening = server.log.next(/realtime: subscription live/);
    const subscription = socket.subscribe<{ content: string }>(MESSAGE_ADDED, {
      c: chat,
    });
    await listening;
    const during = await read();
    expect(during.value("mking_websocket_connections")).toBe(
      before.value("mking_websocket_connections") + 1,
    );
    expect(during.value("mking_subscriptions_running")).toBe(
      before.value("mking_subscriptions_running") + 1,
    );
    expect(during.value("mking_realtime_listen_connected")).toBe(1);
    expect(
      during.delta(before, "mking_graphql_request_duration_seconds_count", {
        operation_name: "Messages",
        operation_type: "subscription",
      }),
    ).toBe(1);

    await post(
      {
        query: `mutation Send($c: UUID!) { sendMessage(input: { conversationId: $c, content: "hello" }) { message { id } } }`,
        variables: { c: chat },
      },
      ben.accessToken,
    );
    expect(await subscription.event(0)).toMatchObject({ content: "hello" });
    const delivered = await read();
    expect(
      delivered.delta(before, "mking_realtime_events_delivered_total", {
        subscription: "messageAdded",
      }),
    ).toBe(1);

    const closed = socket.closed;
    await socket.dispose();
    await closed;
    const after = await read();
    expect(after.value("mking_websocket_connections")).toBe(
      before.value("mking_websocket_connections"),
    );
    expect(after.value("mking_subscriptions_running")).toBe(
      before.value("mking_subscriptions_running"),
    );
  });

  it("count the events dropped when a client falls too far behind", async () => {
    const chat = await groupChat(ana, [ben]);
    const before = await read();
    const listening = server.log.next(/realtime: subscription live/);
    const flooded = open(ana).subscribe(MESSAGE_ADDED, { c: chat });
    await listening;
    await withClient(db.ownerUrl, (c) =>
      c.query(
        `insert into app_public.messages (conversation_id, sender_id, content)
         select $1, $2, 'burst ' || i from generate_series(1, 30) i`,
        [chat, ben.id],
      ),
    );
    expect((await flooded.failed)?.[0]?.extensions).toMatchObject({ code: "CLIENT_TOO_SLOW" });
    const after = await read();
    expect(
      after.delta(before, "mking_realtime_events_dropped_total", { reason: "slow_client" }),
    ).toBeGreaterThanOrEqual(4);
  });
});
