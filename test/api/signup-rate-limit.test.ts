/**
 * Sign-ups per client address (SIGNUPS_PER_CLIENT_PER_HOUR): however many `register` calls one
 * address sends at once, at most the limit create accounts in an hour; the rest are told
 * RATE_LIMITED, create nothing, and are audited. Another address (a request through a trusted
 * proxy, TRUST_PROXY) is counted on its own.
 */
import { codeOf } from "../helpers/accounts.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { operationOverSocket } from "../helpers/socketOperation.ts";

const REGISTER = /* GraphQL */ `
  mutation ($input: RegisterInput!) {
    register(input: $input) {
      accessToken
    }
  }
`;
const LIMIT = 5;
const PARALLEL = 12;

let db: TestDatabase;
let server: TestServer;
beforeAll(async () => {
  db = await createTestDatabase();
  server = await startTestServer(db, {
    SIGNUPS_PER_CLIENT_PER_HOUR: String(LIMIT),
    TRUST_PROXY: "true",
  });
});
afterAll(async () => {
  await server.close();
  await db.drop();
});

const sql = <T>(text: string, values: unknown[] = []): Promise<T[]> =>
  withClient(db.ownerUrl, async (c) => (await c.query(text, values)).rows as T[]);

async function signUps(tag: string, n: number, from: string): Promise<Record<string, number>> {
  const bodies = await Promise.all(
    Array.from({ length: n }, async (_, i) => {
      const name = `${tag}${i}`;
      const { body } = await server.graphql(
        REGISTER,
        { input: { email: `${name}@signup.test`, username: name, password: "correct horse 9" } },
        { headers: { "x-forwarded-for": from } },
      );
      return body;
    }),
  );
  const tally: Record<string, number> = {};
  for (const body of bodies) {
    const code = String(codeOf(body) ?? "OK");
    tally[code] = (tally[code] ?? 0) + 1;
  }
  return tally;
}

test("one address creates at most the limit at once; the rest are refused and audited", async () => {
  expect(await signUps("burst", PARALLEL, "203.0.113.7")).toEqual({
    OK: LIMIT,
    RATE_LIMITED: PARALLEL - LIMIT,
  });
  const [accounts] = await sql<{ n: number }>(
    `select count(*)::int as n from app_public.users where email like 'burst%@signup.test'`,
  );
  expect(accounts!.n).toBe(LIMIT);
  const [audited] = await sql<{ n: number }>(
    `select count(*)::int as n from app_private.audit_log
      where action = 'signup_rate_limited' and ip = '203.0.113.7'`,
  );
  expect(audited!.n).toBe(PARALLEL - LIMIT);

  // another address is not held up by that one
  expect(await signUps("other", 2, "198.51.100.9")).toEqual({ OK: 2 });
  // and the first is free again once its hour has passed
  await sql(
    `update app_private.login_attempts set attempted_at = attempted_at - interval '61 minutes'
      where key = 'signup:203.0.113.7'`,
  );
  expect(await signUps("later", 1, "203.0.113.7")).toEqual({ OK: 1 });
});

test("over a websocket behind a trusted proxy, the forwarded address is the one counted", async () => {
  const input = { email: "viaws@signup.test", username: "viaws", password: "correct horse 9" };
  const payload = await operationOverSocket(
    server.url,
    { headers: { "x-forwarded-for": "192.0.2.44, 10.0.0.1" } },
    REGISTER,
    { input },
  );
  expect(payload.errors).toBeUndefined();
  const [row] = await sql<{ ip: string }>(
    `select host(a.ip) as ip from app_private.audit_log a join app_public.users u on u.id = a.user_id
      where a.action = 'register' and u.email = 'viaws@signup.test'`,
  );
  expect(row?.ip).toBe("192.0.2.44");
  const [attempts] = await sql<{ n: number }>(
    `select count(*)::int as n from app_private.login_attempts where key = 'signup:192.0.2.44'`,
  );
  expect(attempts!.n).toBe(1);
});
