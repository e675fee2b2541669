/**
 * mking_requests_refused_total{guard}: every guard the API has, tripped once through the real
 * HTTP server (and the websocket upgrade), counted once under its own label and under no other,
 * read from METRICS_PORT before and after.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import WebSocket from "ws";

import { writeTrustedDocuments } from "../../src/trustedDocuments.ts";
import { GUARDS, type Guard } from "../../src/metrics/api.ts";
import { ProcessMetrics } from "../../src/metrics/registry.ts";
import { startMetricsServer, type MetricsServer } from "../../src/metricsServer.ts";
import { registerAccount, type TestAccount } from "../helpers/accounts.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { connect } from "../helpers/realtime.ts";
import { startTestServer, type GraphQLBody, type TestServer } from "../helpers/server.ts";
import { scrape } from "./scrape.ts";

interface Observed {
  server: TestServer;
  metrics: MetricsServer;
}

let db: TestDatabase;
let main: Observed;
let trusted: Observed;
let documents: string;
let ana: TestAccount;
let chat: string;

const ALLOWED_ORIGIN = "https://allowed.example";

async function observed(env: Record<string, string>): Promise<Observed> {
  const metrics = new ProcessMetrics();
  const server = await startTestServer(db, env, { metrics });
  const metricsServer = await startMetricsServer({
    host: "127.0.0.1",
    port: 0,
    ownerUrl: db.ownerUrl,
    heartbeatMs: 1000,
    log: server.log,
    worker: null,
    metrics,
    database: null,
  });
  return { server, metrics: metricsServer };
}

beforeAll(async () => {
  db = await createTestDatabase();
  main = await observed({
    GRAPHQL_MAX_DEPTH: "6",
    GRAPHQL_MAX_COST: "1000",
    GRAPHQL_MAX_TOKENS: "100",
    GRAPHQL_MAX_ALIASES: "3",
    GRAPHQL_MAX_SELECTIONS: "20",
    GRAPHQL_MAX_DIRECTIVES: "1",
    MAX_REQUEST_BYTES: "1000",
    LOGIN_MAX_FAILURES: "1",
    TYPING_MAX_PER_MINUTE: "1",
    CORS_ORIGINS: ALLOWED_ORIGIN,
  });
  documents = await mkdtemp(path.join(tmpdir(), "refusal-documents-"));
  const source = path.join(documents, "me.graphql");
  await writeFile(source, "query Me { currentUser { id } }\n");
  const manifest = path.join(documents, "trusted-documents.json");
  await writeTrustedDocuments({ inputs: [source], out: manifest });
  trusted = await observed({ GRAPHQL_TRUSTED_DOCUMENTS: manifest });

  ana = await registerAccount(main.server);
  const ben = await registerAccount(main.server);
  const created = await main.server.graphql(
    `mutation ($p: [UUID]!) { createGroupConversation(input: { title: "typing", participantIds: $p }) { conversation { id } } }`,
    { p: [ben.id] },
    { token: ana.accessToken },
  );
  const data = created.body.data as {
    createGroupConversation: { conversation: { id: string } };
  };
  chat = data.createGroupConversation.conversation.id;
});
afterAll(async () => {
  for (const o of [main, trusted]) {
    await o?.metrics.close();
    await o?.server.close();
  }
  await rm(documents, { recursive: true, force: true });
  await db.drop();
});

interface Answer {
  status: number;
  code: unknown;
}

async function post(
  to: Observed,
  body: unknown,
  options: { token?: string; headers?: Record<string, string> } = {},
): Promise<Answer> {
  const response = await fetch(`${to.server.url}/graphql`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json",
      ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
      ...options.headers,
    },
    body: JSON.stringify(body),
  });
  const json = (await response.json()) as GraphQLBody;
  return { status: response.status, code: json.errors?.[0]?.extensions?.code };
}

/** A websocket upgrade with this Origin: the HTTP status it was answered with. */
function upgrade(to: Observed, origin: string): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(`${to.server.url.replace(/^http/, "ws")}/graphql`, {
      protocol: "graphql-transport-ws",
      headers: { origin },
    });
    socket.once("unexpected-response", (_request, response) => {
      let text = "";
      response.on("data", (chunk: Buffer) => (text += chunk.toString("utf8")));
      response.on("end", () => {
        const body = JSON.parse(text) as GraphQLBody;
        resolve({ status: response.statusCode ?? 0, code: body.errors?.[0]?.extensions?.code });
      });
    });
    socket.once("open", () => reject(new Error("the upgrade was accepted")));
    socket.once("error", (error) => reject(error));
  });
}

/**
 * A websocket (after its upgrade) sent one frame ws must refuse: the close code the client got,
 * and whether the server still answers (an unhandled 'error' event used to end the process).
 */
function refusedFrame(to: Observed, data: Buffer, binary: boolean): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(
      `${to.server.url.replace(/^http/, "ws")}/graphql`,
      "graphql-transport-ws",
      { headers: { origin: ALLOWED_ORIGIN } },
    );
    socket.once("open", () => socket.send(data, { binary }));
    socket.once("error", () => undefined); // the close below tells what happened
    socket.once("close", (code) => {
      post(to, { query: `{ __typename }` }, { headers: { origin: ALLOWED_ORIGIN } }).then(
        (after) => resolve({ status: code, code: after.status === 200 ? "still serving" : after }),
        reject,
      );
    });
  });
}

let nested = "__typename";
for (let i = 0; i < 8; i++) nested = `currentUser { ${nested} }`;
const SEND_TYPING = `mutation Typing($c: UUID!) { sendTyping(input: { conversationId: $c }) { sent } }`;
const LOGIN = `mutation Login($e: String!, $p: String!) { login(input: { email: $e, password: $p }) { accessToken } }`;

interface Case {
  guard: Guard;
  what: string;
  to: () => Observed;
  /** Sends whatever must come first (not counted), then the request the guard refuses. */
  send: () => Promise<Answer>;
  expected: Answer;
}

const CASES: Case[] = [
  {
    guard: "depth",
    what: "a query nested deeper than GRAPHQL_MAX_DEPTH",
    to: () => main,
    send: () => post(main, { query: `{ ${nested} }` }),
    expected: { status: 200, code: "QUERY_TOO_COMPLEX" },
  },
  {
    guard: "depth",
    what: "a subscription nested deeper than GRAPHQL_MAX_DEPTH, over a websocket",
    to: () => main,
    send: async () => {
      const socket = connect(main.server, { authorization: `Bearer ${ana.accessToken}` });
      try {
        const errors = await socket.subscribe(`subscription { notificationAdded { ${nested} } }`)
          .failed;
        return { status: 101, code: errors?.[0]?.extensions?.code };
      } finally {
        await socket.dispose();
      }
    },
    expected: { status: 101, code: "QUERY_TOO_COMPLEX" },
  },
  {
    guard: "cost",
    what: "pages of pages beyond GRAPHQL_MAX_COST",
    to: () => main,
    send: () =>
      post(main, {
        query: `{ posts(first: 100) { nodes { comments(first: 100) { nodes { id } } } } }`,
      }),
    expected: { status: 200, code: "QUERY_TOO_COMPLEX" },
  },
  {
    guard: "page_size",
    what: "a page larger than GRAPHQL_MAX_PAGE_SIZE",
    to: () => main,
    send: () => post(main, { query: `{ posts(first: 101) { nodes { id } } }` }),
    expected: { status: 200, code: "INVALID_INPUT" },
  },
  {
    guard: "tokens",
    what: "a document longer than GRAPHQL_MAX_TOKENS",
    to: () => main,
    send: () => post(main, { query: `{ ${"a ".repeat(120)}}` }),
    expected: { status: 200, code: "QUERY_TOO_COMPLEX" },
  },
  {
    guard: "aliases",
    what: "more aliases than GRAPHQL_MAX_ALIASES",
    to: () => main,
    send: () =>
      post(main, { query: `{ a: __typename b: __typename c: __typename d: __typename }` }),
    expected: { status: 200, code: "QUERY_TOO_COMPLEX" },
  },
  {
    guard: "selections",
    what: "more selections than GRAPHQL_MAX_SELECTIONS",
    to: () => main,
    send: () => post(main, { query: `{ ${"__typename ".repeat(25)}}` }),
    expected: { status: 200, code: "QUERY_TOO_COMPLEX" },
  },
  {
    guard: "directives",
    what: "more directives than GRAPHQL_MAX_DIRECTIVES",
    to: () => main,
    send: () =>
      post(main, { query: `{ __typename @include(if: true) __typename @skip(if: false) }` }),
    expected: { status: 200, code: "QUERY_TOO_COMPLEX" },
  },
  {
    guard: "nesting",
    what: "brackets nested deeper than the parser can follow",
    to: () => main,
    // compact: this server takes bodies of at most 1,000 bytes
    send: () => post(main, { query: `${"{a".repeat(257)}${"}".repeat(257)}` }),
    expected: { status: 200, code: "QUERY_TOO_COMPLEX" },
  },
  {
    guard: "body_size",
    what: "a body over MAX_REQUEST_BYTES",
    to: () => main,
    send: () => post(main, { query: `{ __typename }`, variables: { pad: "x".repeat(2000) } }),
    expected: { status: 413, code: "PAYLOAD_TOO_LARGE" },
  },
  {
    guard: "body_size",
    what: "a websocket message over MAX_REQUEST_BYTES",
    to: () => main,
    send: () =>
      refusedFrame(
        main,
        Buffer.from(
          JSON.stringify({ type: "connection_init", payload: { pad: "x".repeat(2000) } }),
        ),
        false,
      ),
    expected: { status: 1009, code: "still serving" },
  },
  {
    guard: "transport",
    what: "a websocket text frame that is not UTF-8",
    to: () => main,
    send: () => refusedFrame(main, Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), false),
    expected: { status: 1007, code: "still serving" },
  },
  {
    guard: "rate_limit",
    what: "a sign-in after LOGIN_MAX_FAILURES wrong passwords",
    to: () => main,
    send: async () => {
      const variables = { e: ana.email, p: "wrong password" };
      const first = await post(main, { query: LOGIN, variables });
      expect(first.code).toBe("UNAUTHENTICATED");
      return post(main, { query: LOGIN, variables });
    },
    expected: { status: 200, code: "RATE_LIMITED" },
  },
  {
    guard: "rate_limit",
    what: "typing notices beyond TYPING_MAX_PER_MINUTE",
    to: () => main,
    send: async () => {
      const call = () =>
        post(main, { query: SEND_TYPING, variables: { c: chat } }, { token: ana.accessToken });
      expect((await call()).code).toBeUndefined();
      return call();
    },
    expected: { status: 200, code: "RATE_LIMITED" },
  },
  {
    guard: "transport",
    what: "a batch of operations",
    to: () => main,
    send: () => post(main, [{ query: `{ __typename }` }]),
    expected: { status: 400, code: "BATCH_NOT_SUPPORTED" },
  },
  {
    guard: "origin",
    what: "a request from an origin not on CORS_ORIGINS",
    to: () => main,
    send: () =>
      post(main, { query: `{ __typename }` }, { headers: { origin: "https://evil.example" } }),
    expected: { status: 403, code: "ORIGIN_NOT_ALLOWED" },
  },
  {
    guard: "origin",
    what: "a websocket upgrade from an origin not on CORS_ORIGINS",
    to: () => main,
    send: () => upgrade(main, "https://evil.example"),
    expected: { status: 403, code: "ORIGIN_NOT_ALLOWED" },
  },
  {
    guard: "untrusted_document",
    what: "a document sent as text to a server with GRAPHQL_TRUSTED_DOCUMENTS",
    to: () => trusted,
    send: () => post(trusted, { query: `query Me { currentUser { id } }` }),
    expected: { status: 400, code: "UNTRUSTED_DOCUMENT" },
  },
];

it("has a case for every guard", () => {
  expect([...new Set(CASES.map((c) => c.guard))].sort()).toEqual([...GUARDS].sort());
});

it.each(CASES)(
  "counts $what as $guard, and nothing else",
  async ({ guard, to, send, expected }) => {
    const target = to();
    const before = await scrape(target.metrics.url);
    expect(await send()).toEqual(expected);
    const after = await scrape(target.metrics.url);
    const refused = "mking_requests_refused_total";
    for (const other of GUARDS) {
      expect([other, after.delta(before, refused, { guard: other })]).toEqual([
        other,
        other === guard ? 1 : 0,
      ]);
    }
  },
);
