/**
 * CORS with real preflights: the origins on CORS_ORIGINS (localhost in development, nothing by
 * default in production) may call /graphql and open its websocket; any other origin gets 403
 * ORIGIN_NOT_ALLOWED and no Access-Control-Allow-Origin; requests without an Origin header
 * (non-browser clients) pass.
 */
import WebSocket from "ws";

import { ConfigError, loadConfig } from "../../src/config.ts";
import { DEVELOPMENT_ORIGINS } from "../../src/http/origins.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { startTestServer, testConfig, type TestServer } from "../helpers/server.ts";

let db: TestDatabase;
/** Development defaults. */
let dev: TestServer;
/** Production with an explicit list. */
let prod: TestServer;

const PRODUCTION = {
  NODE_ENV: "production",
  DATABASE_AUTHENTICATOR_PASSWORD: "x",
  BCRYPT_COST: "10",
};

beforeAll(async () => {
  db = await createTestDatabase();
  dev = await startTestServer(db);
  prod = await startTestServer(db, {
    ...PRODUCTION,
    DATABASE_URL: db.ownerUrl,
    CORS_ORIGINS: "https://app.example.com, https://*.partner.example",
  });
});
afterAll(async () => {
  await Promise.all([dev?.close(), prod?.close()]);
  await db.drop();
});

function preflight(server: TestServer, origin: string): Promise<Response> {
  return fetch(`${server.url}/graphql`, {
    method: "OPTIONS",
    headers: {
      origin,
      "access-control-request-method": "POST",
      "access-control-request-headers": "authorization, content-type",
    },
  });
}

function query(server: TestServer, origin?: string): Promise<Response> {
  return fetch(`${server.url}/graphql`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json",
      ...(origin ? { origin } : {}),
    },
    body: JSON.stringify({ query: "{ users { totalCount } }" }),
  });
}

async function expectAllowedPreflight(server: TestServer, origin: string): Promise<void> {
  const response = await preflight(server, origin);
  const h = response.headers;
  expect({
    status: response.status,
    origin: h.get("access-control-allow-origin"),
    vary: h.get("vary"),
    methods: h.get("access-control-allow-methods"),
    headers: h.get("access-control-allow-headers")?.toLowerCase(),
    maxAge: h.get("access-control-max-age"),
    credentials: h.get("access-control-allow-credentials"),
  }).toEqual({
    status: 204,
    origin,
    vary: expect.stringMatching(/\bOrigin\b/),
    methods: expect.stringMatching(/^(?=.*\bPOST\b)(?=.*\bOPTIONS\b)/),
    headers: expect.stringMatching(/^(?=.*\bauthorization\b)(?=.*\bcontent-type\b)/),
    maxAge: "600",
    credentials: null,
  });
}

async function expectRefusedPreflight(server: TestServer, origin: string): Promise<void> {
  const response = await preflight(server, origin);
  expect({
    status: response.status,
    origin: response.headers.get("access-control-allow-origin"),
    methods: response.headers.get("access-control-allow-methods"),
    vary: response.headers.get("vary"),
    body: await response.json(),
  }).toEqual({
    status: 403,
    origin: null,
    methods: null,
    vary: expect.stringMatching(/\bOrigin\b/),
    body: { errors: [{ message: expect.any(String), extensions: { code: "ORIGIN_NOT_ALLOWED" } }] },
  });
}

describe("preflight", () => {
  it("allows localhost on any port in development, and nothing else", async () => {
    for (const origin of ["http://localhost:5173", "http://127.0.0.1:8080", "http://localhost"]) {
      await expectAllowedPreflight(dev, origin);
    }
    for (const origin of [
      "https://app.example.com",
      "http://localhost.evil.example",
      "https://localhost:5173",
      "null",
    ]) {
      await expectRefusedPreflight(dev, origin);
    }
  });

  it("allows exactly CORS_ORIGINS in production: listed origins and subdomain patterns", async () => {
    await expectAllowedPreflight(prod, "https://app.example.com");
    await expectAllowedPreflight(prod, "https://shop.partner.example");
    for (const origin of [
      "http://app.example.com",
      "https://app.example.com:8443",
      "https://evil.example.com",
      "https://partner.example",
      "https://app.example.com.evil.example",
      "http://localhost:5173",
    ]) {
      await expectRefusedPreflight(prod, origin);
    }
  });
});

describe("media (signed uploads and downloads)", () => {
  it("lets an allowed origin PUT an upload's bytes and read media headers; refuses others", async () => {
    const response = await fetch(`${dev.url}/media/u/anything`, {
      method: "OPTIONS",
      headers: {
        origin: "http://localhost:5173",
        "access-control-request-method": "PUT",
        "access-control-request-headers": "content-type",
      },
    });
    expect({
      status: response.status,
      origin: response.headers.get("access-control-allow-origin"),
      methods: response.headers.get("access-control-allow-methods"),
      headers: response.headers.get("access-control-allow-headers")?.toLowerCase(),
      expose: response.headers.get("access-control-expose-headers"),
    }).toEqual({
      status: 204,
      origin: "http://localhost:5173",
      methods: expect.stringMatching(/^(?=.*\bPUT\b)(?=.*\bGET\b)/),
      headers: expect.stringContaining("content-type"),
      expose: expect.stringContaining("ETag"),
    });
    const refused = await fetch(`${prod.url}/media/u/anything`, {
      method: "OPTIONS",
      headers: { origin: "https://evil.example.com", "access-control-request-method": "PUT" },
    });
    expect(refused.status).toBe(403);
    expect(refused.headers.get("access-control-allow-origin")).toBeNull();
  });
});

describe("requests", () => {
  it("marks an allowed origin's response with its origin and Vary: Origin", async () => {
    const response = await query(prod, "https://app.example.com");
    expect(response.status).toBe(200);
    expect(response.headers.get("access-control-allow-origin")).toBe("https://app.example.com");
    expect(response.headers.get("vary")).toMatch(/\bOrigin\b/);
    expect(await response.json()).toEqual({ data: { users: { totalCount: 0 } } });
  });

  it("refuses a disallowed origin's request with 403 ORIGIN_NOT_ALLOWED, and lets the others through", async () => {
    const response = await query(prod, "https://evil.example");
    expect(response.status).toBe(403);
    expect(response.headers.get("access-control-allow-origin")).toBeNull();
    expect(await response.json()).toEqual({
      errors: [{ message: expect.any(String), extensions: { code: "ORIGIN_NOT_ALLOWED" } }],
    });
    // Non-browser clients send no Origin; the server's own pages (Ruru) send its origin.
    const plain = await query(prod);
    expect(plain.status).toBe(200);
    expect(plain.headers.get("access-control-allow-origin")).toBeNull();
    expect((await query(prod, prod.url)).status).toBe(200);
  });
});

describe("websocket upgrade", () => {
  /** Opens a websocket with this Origin: "open", or the HTTP status and body it was refused with. */
  function upgrade(
    server: TestServer,
    origin?: string,
  ): Promise<"open" | { status: number; body: unknown }> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(
        `${server.url.replace(/^http/, "ws")}/graphql`,
        "graphql-transport-ws",
        origin ? { origin } : {},
      );
      socket.once("open", () => {
        socket.close();
        resolve("open");
      });
      socket.once("unexpected-response", (_req, res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (chunk: string) => (text += chunk));
        res.on("end", () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
      });
      socket.once("error", reject);
    });
  }

  it("refuses a disallowed Origin with 403 ORIGIN_NOT_ALLOWED before the upgrade, upgrades the others", async () => {
    for (const [server, origin] of [
      [prod, "https://evil.example"],
      [prod, "http://localhost:5173"],
      [dev, "https://app.example.com"],
    ] as const) {
      expect(await upgrade(server, origin)).toEqual({
        status: 403,
        body: {
          errors: [{ message: expect.any(String), extensions: { code: "ORIGIN_NOT_ALLOWED" } }],
        },
      });
    }
    expect(await upgrade(prod, "https://app.example.com")).toBe("open");
    expect(await upgrade(prod, "https://a.partner.example")).toBe("open");
    expect(await upgrade(prod, prod.url)).toBe("open");
    expect(await upgrade(prod)).toBe("open");
    expect(await upgrade(dev, "http://localhost:3001")).toBe("open");
  });
});

describe("CORS_ORIGINS", () => {
  it("defaults to localhost in development and to nothing in production", () => {
    expect(testConfig().http.corsOrigins).toEqual(DEVELOPMENT_ORIGINS);
    expect(
      testConfig({ ...PRODUCTION, DATABASE_URL: "postgres://u:p@h/db" }).http.corsOrigins,
    ).toEqual([]);
  });

  it("stops start-up naming each entry that is not an origin", () => {
    let error: unknown;
    try {
      loadConfig({
        CORS_ORIGINS:
          "https://ok.example,https://app.example.com/,*,ftp://x.example,http://a:99999",
      });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).problems).toEqual([
      expect.stringMatching(/^CORS_ORIGINS: "https:\/\/app\.example\.com\/" is not an origin/),
      expect.stringMatching(/^CORS_ORIGINS: "\*" is not an origin/),
      expect.stringMatching(/^CORS_ORIGINS: "ftp:\/\/x\.example" is not an origin/),
      expect.stringMatching(/^CORS_ORIGINS: "http:\/\/a:99999" has a port above 65535/),
    ]);
  });
});
