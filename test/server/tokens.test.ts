/**
 * Access tokens at the door: every token that is not exactly right gets a 401 with an
 * UNAUTHENTICATED error — never a silent downgrade to anonymous.
 */
import { generateKeyPairSync, randomUUID } from "node:crypto";

import jwt from "jsonwebtoken";

import { registerAccount, type TestAccount } from "../helpers/accounts.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { startTestServer, TEST_JWT_SECRET, type TestServer } from "../helpers/server.ts";

let db: TestDatabase;
let server: TestServer;
let ana: TestAccount;

const CURRENT_USER = `{ currentUser { id } }`;
const base = { audience: "mking-friend", issuer: "mking-friend" };

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startTestServer(db, { ACCESS_TOKEN_TTL_SECONDS: "60" });
  ana = await registerAccount(server);
});
afterAll(async () => {
  await server.close();
  await db.drop();
});

/** Signs with the server's own secret unless told otherwise, for ana's live session. */
function forge(
  payload: Record<string, unknown>,
  options: jwt.SignOptions = {},
  key: jwt.Secret = TEST_JWT_SECRET,
): string {
  const sid = (jwt.decode(ana.accessToken) as { sid: string }).sid;
  return jwt.sign({ role: "authenticated", sid, ...payload }, key, {
    algorithm: "HS256",
    subject: ana.id,
    expiresIn: 60,
    ...base,
    ...options,
  });
}

async function expectRefused(token: string, reason: "expired" | "invalid"): Promise<void> {
  const response = await server.graphql(CURRENT_USER, {}, { token });
  expect(response.status).toBe(401);
  expect(response.body).toEqual({
    errors: [{ message: expect.any(String), extensions: { code: "UNAUTHENTICATED", reason } }],
  });
}

describe("access tokens", () => {
  it("a token issued by login identifies the user", async () => {
    const response = await server.graphql(CURRENT_USER, {}, { token: ana.accessToken });
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual({ currentUser: { id: ana.id } });
  });

  it("a well-formed token signed with our secret is accepted (the forging helper is faithful)", async () => {
    const response = await server.graphql(CURRENT_USER, {}, { token: forge({}) });
    expect(response.body.data).toEqual({ currentUser: { id: ana.id } });
  });

  it("refuses an expired token, saying it expired", async () => {
    const past = Math.floor(Date.now() / 1000) - 120;
    // issued two minutes ago, valid for one
    await expectRefused(forge({ iat: past }), "expired");
  });

  it("refuses a wrong signature", async () => {
    await expectRefused(forge({}, {}, "another-secret-another-secret-another-secret"), "invalid");
  });

  it("refuses alg: none", async () => {
    const header = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url");
    const now = Math.floor(Date.now() / 1000);
    const body = Buffer.from(
      JSON.stringify({
        sub: ana.id,
        role: "authenticated",
        sid: randomUUID(),
        iat: now,
        exp: now + 60,
        ...{ aud: "mking-friend", iss: "mking-friend" },
      }),
    ).toString("base64url");
    await expectRefused(`${header}.${body}.`, "invalid");
  });

  it("refuses the wrong audience and the wrong issuer", async () => {
    await expectRefused(forge({}, { audience: "another-app" }), "invalid");
    await expectRefused(forge({}, { issuer: "someone-else" }), "invalid");
  });

  it("refuses tampered claims (a changed subject, same signature)", async () => {
    const [header, payload, signature] = ana.accessToken.split(".");
    const claims = JSON.parse(Buffer.from(payload!, "base64url").toString("utf8")) as Record<
      string,
      unknown
    >;
    const tampered = Buffer.from(JSON.stringify({ ...claims, sub: randomUUID() })).toString(
      "base64url",
    );
    await expectRefused(`${header}.${tampered}.${signature}`, "invalid");
  });

  it("refuses any role but authenticated, even correctly signed", async () => {
    await expectRefused(forge({ role: "postgres" }), "invalid");
    await expectRefused(forge({ role: "mking_owner" }), "invalid");
  });

  it("refuses a malformed Authorization header", async () => {
    const response = await fetch(`${server.url}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Token ${ana.accessToken}` },
      body: JSON.stringify({ query: CURRENT_USER }),
    });
    expect(response.status).toBe(401);
    expect(response.headers.get("www-authenticate")).toContain("invalid_token");
  });
});

describe("with RS256", () => {
  let rsServer: TestServer;
  const { privateKey, publicKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
  const privatePem = privateKey.export({ type: "pkcs8", format: "pem" }).toString();
  const publicPem = publicKey.export({ type: "spki", format: "pem" }).toString();

  beforeAll(async () => {
    rsServer = await startTestServer(db, {
      JWT_ALGORITHM: "RS256",
      JWT_PRIVATE_KEY: privatePem.replace(/\n/g, "\\n"),
      JWT_PUBLIC_KEY: publicPem,
    });
  });
  afterAll(() => rsServer.close());

  it("signs and verifies with the key pair", async () => {
    const login = await rsServer.graphql(
      `mutation ($e: String!, $p: String!) { login(input: { email: $e, password: $p }) { accessToken } }`,
      { e: ana.email, p: ana.password },
    );
    const token = (login.body.data!.login as { accessToken: string }).accessToken;
    expect(
      JSON.parse(Buffer.from(token.split(".")[0]!, "base64url").toString("utf8")),
    ).toMatchObject({ alg: "RS256" });
    const me = await rsServer.graphql(CURRENT_USER, {}, { token });
    expect(me.body.data).toEqual({ currentUser: { id: ana.id } });
  });

  it("refuses an HS256 token signed with the public key as the secret (algorithm confusion)", async () => {
    const confused = jwt.sign({ role: "authenticated", sid: randomUUID() }, publicPem, {
      algorithm: "HS256",
      subject: ana.id,
      expiresIn: 60,
      ...base,
    });
    const response = await rsServer.graphql(CURRENT_USER, {}, { token: confused });
    expect(response.status).toBe(401);
  });
});
