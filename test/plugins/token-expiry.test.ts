/**
 * AuthPayload.accessTokenExpiresAt is ISO-8601 in the same shape as every other Datetime the API
 * returns (PostgreSQL's `2026-11-30T16:32:07.123456+00:00`), and it is the access token's `exp`.
 */
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { startTestServer, type GraphQLBody, type TestServer } from "../helpers/server.ts";

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

const ISO_8601 = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}[+-]\d{2}:\d{2}$/;
const PAYLOAD = `accessToken refreshToken accessTokenExpiresAt user { account { lastLoginAt createdAt } }`;

interface Payload {
  accessToken: string;
  refreshToken: string;
  accessTokenExpiresAt: string;
  user: { account: { lastLoginAt: string | null; createdAt: string } };
}

function payloadOf(body: GraphQLBody, field: string): Payload {
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data![field] as Payload;
}

/** The token's `exp` claim, in milliseconds. */
function expiryOf(accessToken: string): number {
  const claims = JSON.parse(Buffer.from(accessToken.split(".")[1]!, "base64url").toString()) as {
    exp: number;
  };
  return claims.exp * 1000;
}

/** Digits and the offset's sign blanked: what a format comparison looks at. */
const shape = (datetime: string): string =>
  datetime.replace(/\d/g, "9").replace(/[+-](?=99:99$)/, "±");

function expectDatetimeLikeTheRest(payload: Payload): void {
  expect(payload.accessTokenExpiresAt).toMatch(ISO_8601);
  expect(shape(payload.accessTokenExpiresAt)).toBe(shape(payload.user.account.createdAt));
  expect(Date.parse(payload.accessTokenExpiresAt)).toBe(expiryOf(payload.accessToken));
}

it("is ISO-8601 like every other Datetime, from register, login and refreshToken", async () => {
  const password = "correct horse battery";
  const register = payloadOf(
    (
      await server.graphql(
        `mutation ($input: RegisterInput!) { register(input: $input) { ${PAYLOAD} } }`,
        {
          input: { email: "expiry@example.com", password, username: "expiry_user" },
        },
      )
    ).body,
    "register",
  );
  expectDatetimeLikeTheRest(register);

  const login = payloadOf(
    (
      await server.graphql(
        `mutation ($input: LoginInput!) { login(input: $input) { ${PAYLOAD} } }`,
        {
          input: { email: "expiry@example.com", password },
        },
      )
    ).body,
    "login",
  );
  expectDatetimeLikeTheRest(login);
  expect(shape(login.accessTokenExpiresAt)).toBe(shape(login.user.account.lastLoginAt!));

  const refreshed = payloadOf(
    (
      await server.graphql(
        `mutation ($t: String!) { refreshToken(input: { refreshToken: $t }) { ${PAYLOAD} } }`,
        { t: login.refreshToken },
      )
    ).body,
    "refreshToken",
  );
  expectDatetimeLikeTheRest(refreshed);
});
