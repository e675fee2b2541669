/**
 * Document shape limits (tokens, aliases, selections, directives), checked before validation
 * and planning, over HTTP and websockets; and trusted documents mode.
 */
import { mkdtemp, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { getIntrospectionQuery } from "postgraphile/graphql";

import { SCENARIOS } from "../../bench/scenarios.ts";
import { MAX_NESTING, nestingOf, parseWithinLimits } from "../../src/graphql/shape.ts";
import { documentHash, parseTrustedDocuments } from "../../src/graphql/trustedDocuments.ts";
import { writeTrustedDocuments } from "../../src/trustedDocuments.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { connect } from "../helpers/realtime.ts";
import {
  startTestServer,
  testConfig,
  type GraphQLBody,
  type GraphQLResponse,
  type TestServer,
} from "../helpers/server.ts";

let db: TestDatabase;
let server: TestServer;

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startTestServer(db);
});
afterAll(async () => {
  await server?.close();
  await db?.drop();
});

/** `{ a0: field a1: field ... }` */
const aliased = (count: number, field: string): string =>
  `{ ${Array.from({ length: count }, (_, i) => `a${i}: ${field}`).join(" ")} }`;

/** A fragment chain where each fragment spreads the previous one twice: 2^depth fields. */
function fragmentDoubling(depth: number): string {
  const fragments = [`fragment F0 on Query { __typename }`];
  for (let i = 1; i <= depth; i++) {
    fragments.push(`fragment F${i} on Query { ...F${i - 1} ... on Query { ...F${i - 1} } }`);
  }
  return `{ ...F${depth} } ${fragments.join(" ")}`;
}

const limitOf = (body: GraphQLBody): unknown => body.errors?.[0]?.extensions?.limit;

describe("document shape limits", () => {
  it("refuses the 5,000-alias document quickly, before validation, and /healthz still answers", async () => {
    const bomb = aliased(5000, "__typename");
    expect(bomb.length).toBeLessThan(testConfig().api.maxRequestBytes);
    const started = performance.now();
    const [response, health] = await Promise.all([
      server.graphql(bomb),
      fetch(`${server.url}/healthz`),
    ]);
    const elapsed = performance.now() - started;
    expect(health.status).toBe(200);
    expect(response.body.data).toBeUndefined();
    expect(response.body.errors?.[0]?.extensions).toMatchObject({
      code: "QUERY_TOO_COMPLEX",
      limit: "tokens",
      max: 5000,
    });
    // Unguarded, this document took 1.6–2.5 s; refused at parse time it takes milliseconds.
    expect(elapsed).toBeLessThan(1000);
  });

  it("refuses too many aliases before validation (unknown fields are not even looked at)", async () => {
    const { body } = await server.graphql(aliased(31, "noSuchField"));
    expect(body.errors).toHaveLength(1);
    expect(body.errors?.[0]).toMatchObject({
      message:
        "The document has 31 aliased fields (counting fragments where they are spread); at most 30 are allowed",
      extensions: { code: "QUERY_TOO_COMPLEX", limit: "aliases", max: 30 },
    });
    // The same document with fewer aliases gets as far as validation.
    const valid = await server.graphql(aliased(30, "noSuchField"));
    expect(valid.body.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
  });

  it("counts fragments where they are spread: an exponential fragment chain is refused", async () => {
    const doc = fragmentDoubling(12); // 4,096 selections from a ~1 kB document
    const { body } = await server.graphql(doc);
    expect(body.errors?.[0]?.extensions).toMatchObject({
      code: "QUERY_TOO_COMPLEX",
      limit: "selections",
      max: 1000,
    });
    const small = await server.graphql(fragmentDoubling(9)); // 512
    expect(small.body.errors).toBeUndefined();
    expect(small.body.data).toEqual({ __typename: "Query" });
  });

  it("refuses too many selections without aliases or fragments", async () => {
    const { body } = await server.graphql(`{ ${"__typename ".repeat(1001)} }`);
    expect(limitOf(body)).toBe("selections");
    // At the limit, the document goes on to validation (where graphql-js's own budget for
    // comparing identical fields happens to stop this one).
    const atLimit = await server.graphql(`{ ${"__typename ".repeat(1000)} }`);
    expect(atLimit.body.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
  });

  it("refuses too many directives", async () => {
    const field = (n: number): string => `{ __typename ${"@include(if: true) ".repeat(n)} }`;
    const { body } = await server.graphql(field(51));
    expect(limitOf(body)).toBe("directives");
    // Within the limit, the repeated directive reaches validation (it is not repeatable).
    const within = await server.graphql(field(50));
    expect(within.body.errors?.[0]?.extensions?.code).toBe("GRAPHQL_VALIDATION_FAILED");
  });

  it("refuses brackets nested deeper than the parser can follow, with a code, not a 500", async () => {
    // within the token limit: 2,000 levels of a list literal overflowed graphql-js's parser
    const deepList = `{ searchPosts(query: ${"[".repeat(2000)}"x"${"]".repeat(2000)}) { nodes { id } } }`;
    const { status, body } = await server.graphql(deepList);
    expect(status).toBe(200);
    expect(body.errors?.[0]?.extensions).toEqual({
      code: "QUERY_TOO_COMPLEX",
      limit: "nesting",
      max: MAX_NESTING,
    });
    // the same for selections; at the limit the document is parsed, and its depth refused by
    // the ordinary depth limit (GRAPHQL_MAX_DEPTH)
    const selections = (n: number): string => `${"{ a ".repeat(n)}${"}".repeat(n)}`;
    expect(limitOf((await server.graphql(selections(MAX_NESTING + 1))).body)).toBe("nesting");
    expect(limitOf((await server.graphql(selections(MAX_NESTING))).body)).toBe("depth");
  });

  it("counts nesting outside strings and comments only", () => {
    expect(nestingOf(`{ a(b: [{ c: 1 }]) }`, 10)).toBe(4);
    expect(nestingOf(`{ a(s: "{[({[(") }`, 10)).toBe(2);
    expect(nestingOf(`{ a(s: "\\"{{{") }`, 10)).toBe(2); // an escaped quote does not end it
    expect(nestingOf(`{ a(s: """ {{{ \\""" {{{ """) }`, 10)).toBe(2);
    expect(nestingOf(`# {{{{\n{ a }`, 10)).toBe(1);
    expect(nestingOf(`${"{".repeat(50)}`, 10)).toBe(11); // stops past the limit
  });

  it("leaves syntax errors to the parser's own error", async () => {
    const { body } = await server.graphql(`{ posts { `);
    expect(body.errors?.[0]?.extensions?.code).toBe("GRAPHQL_PARSE_FAILED");
  });

  it("lets every benchmark operation and GraphiQL's introspection through with the defaults", async () => {
    const { api } = testConfig();
    const documents = [
      ...SCENARIOS.map((s) => s.graphql.query),
      getIntrospectionQuery({
        descriptions: true,
        specifiedByUrl: true,
        inputValueDeprecation: true,
      }),
    ];
    for (const query of documents) {
      const parsed = parseWithinLimits(query, api);
      expect(parsed.ok ? "ok" : parsed.error.message).toBe("ok");
    }
    const introspection = await server.graphql(getIntrospectionQuery());
    expect(introspection.body.errors).toBeUndefined();
    expect(introspection.body.data?.__schema).toBeDefined();
  });

  it("refuses variables nested more than 64 levels over websockets too", async () => {
    const socket = connect(server);
    try {
      let deep: unknown = [];
      for (let i = 0; i < 100; i++) deep = [deep];
      const refused = socket.subscribe(`query ($r: JSON!) { __typename }`, { r: deep });
      expect((await refused.failed)?.[0]?.extensions).toEqual({ code: "BAD_REQUEST" });
    } finally {
      await socket.dispose();
    }
  });

  it("applies over websockets too", async () => {
    const socket = connect(server);
    try {
      const subscription = socket.subscribe(aliased(31, "__typename"));
      const errors = await subscription.failed;
      expect(errors?.[0]?.extensions).toMatchObject({
        code: "QUERY_TOO_COMPLEX",
        limit: "aliases",
      });
    } finally {
      await socket.dispose();
    }
  });
});

describe("trusted documents", () => {
  const ME = "query Me { currentUser { id } }\n";
  const SUBSCRIPTION = "subscription Notes { notificationAdded { unreadCount } }\n";
  const THREE_ALIASES = "query Three { a: __typename b: __typename c: __typename }\n";
  let dir: string;
  let manifest: string;
  let trusted: TestServer;

  async function post(body: Record<string, unknown>): Promise<GraphQLResponse> {
    const response = await fetch(`${trusted.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", accept: "application/json" },
      body: JSON.stringify(body),
    });
    return { status: response.status, body: (await response.json()) as GraphQLBody };
  }

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "trusted-documents-"));
    await mkdir(path.join(dir, "client", "nested"), { recursive: true });
    await writeFile(path.join(dir, "client", "me.graphql"), ME);
    await writeFile(path.join(dir, "client", "three.graphql"), THREE_ALIASES);
    await writeFile(path.join(dir, "client", "nested", "typing.gql"), SUBSCRIPTION);
    manifest = path.join(dir, "trusted-documents.json");
    const registered = await writeTrustedDocuments({
      inputs: [path.join(dir, "client")],
      out: manifest,
    });
    expect(registered.map((r) => [r.hash, r.operations])).toEqual([
      [documentHash(ME), ["Me"]],
      [documentHash(SUBSCRIPTION), ["Notes"]],
      [documentHash(THREE_ALIASES), ["Three"]],
    ]);
    trusted = await startTestServer(db, {
      GRAPHQL_TRUSTED_DOCUMENTS: manifest,
      GRAPHQL_MAX_ALIASES: "2",
    });
  });
  afterAll(async () => {
    await trusted?.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("runs a registered document by its hash (documentId or Apollo's persistedQuery)", async () => {
    const byId = await post({ documentId: `sha256:${documentHash(ME)}` });
    expect(byId).toEqual({ status: 200, body: { data: { currentUser: null } } });
    const bare = await post({ documentId: documentHash(ME) });
    expect(bare.body).toEqual({ data: { currentUser: null } });
    const apollo = await post({
      extensions: { persistedQuery: { version: 1, sha256Hash: documentHash(ME) } },
    });
    expect(apollo.body).toEqual({ data: { currentUser: null } });
  });

  it("refuses a document sent as text, even a registered one, and an unknown hash", async () => {
    for (const body of [
      { query: ME },
      { query: "{ currentUser { id } }" },
      { documentId: `sha256:${"0".repeat(64)}` },
      { documentId: "constructor" },
    ]) {
      const response = await post(body);
      expect(response.status).toBe(400);
      expect(response.body.data).toBeUndefined();
      expect(response.body.errors?.[0]?.extensions?.code).toBe("UNTRUSTED_DOCUMENT");
    }
  });

  it("keeps the manifest's entries when documents are added", async () => {
    const extra = path.join(dir, "extra.graphql");
    await writeFile(extra, "query Posts { posts(first: 1) { totalCount } }\n");
    await writeTrustedDocuments({ inputs: [extra], out: manifest });
    const documents = parseTrustedDocuments(await readFile(manifest, "utf8"), manifest);
    expect([...documents.keys()].sort()).toEqual(
      [ME, SUBSCRIPTION, THREE_ALIASES, await readFile(extra, "utf8")].map(documentHash).sort(),
    );
  });

  it("over websockets, runs a registered subscription by its hash and refuses text", async () => {
    const socket = connect(trusted);
    try {
      const byHash = await new Promise<unknown>((resolve) => {
        socket.client.subscribe(
          { query: "", extensions: { persistedQuery: { sha256Hash: documentHash(SUBSCRIPTION) } } },
          { next: (result) => resolve(result.errors), error: resolve, complete: () => undefined },
        );
      });
      // It ran: signed out, the subscription itself says who may listen.
      expect((byHash as GraphQLBody["errors"])?.[0]?.extensions?.code).toBe("UNAUTHENTICATED");
      const errors = await socket.subscribe(SUBSCRIPTION).failed;
      expect(errors?.[0]?.extensions?.code).toBe("UNTRUSTED_DOCUMENT");
    } finally {
      await socket.dispose();
    }
  });

  it("refuses a registered subscription by hash over HTTP: websockets only", async () => {
    const response = await post({ documentId: documentHash(SUBSCRIPTION) });
    expect(response.status).toBe(400);
    expect(response.body.errors?.[0]?.extensions?.code).toBe("SUBSCRIPTIONS_REQUIRE_WEBSOCKET");
  });

  it("applies the shape limits (read from the environment) to registered documents too", async () => {
    const { body } = await post({ documentId: documentHash(THREE_ALIASES) });
    expect(body.errors?.[0]?.extensions).toMatchObject({
      code: "QUERY_TOO_COMPLEX",
      limit: "aliases",
      max: 2,
    });
  });
});
