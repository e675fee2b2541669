/**
 * Mutations per signed-in user per minute (MUTATIONS_PER_MINUTE_PER_USER, plugins/mutationRate.ts):
 * a burst from one account gets exactly the limit through, the rest RATE_LIMITED with
 * retryAfterSeconds and nothing written; other users and queries are not counted; a websocket
 * is held to the same count; anonymous mutations are counted per client address.
 */
import { codeOf, registerAccount, type TestAccount } from "../helpers/accounts.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { operationOverSocket } from "../helpers/socketOperation.ts";

const LIMIT = 5;
const PUBLISH = `mutation ($c: String!) { publishPost(input: { content: $c, privacyLevel: "public" }) { post { id } } }`;

let db: TestDatabase;
let server: TestServer;
let ana: TestAccount;
let ben: TestAccount;
beforeAll(async () => {
  db = await createTestDatabase();
  server = await startTestServer(db, {
    MUTATIONS_PER_MINUTE_PER_USER: String(LIMIT),
    // anonymous callers are told apart by the address a proxy forwards
    TRUST_PROXY: "true",
  });
  // registering is anonymous: counted for 127.0.0.1, not for the accounts it creates
  ana = await registerAccount(server);
  ben = await registerAccount(server);
});
afterAll(async () => {
  await server.close();
  await db.drop();
});

const postsBy = async (id: string): Promise<number> =>
  withClient(db.ownerUrl, async (c) =>
    Number(
      (
        await c.query<{ n: string }>(
          `select count(*) as n from app_public.posts where author_id = $1`,
          [id],
        )
      ).rows[0]!.n,
    ),
  );

test("one account's burst gets the limit through; the rest are refused and write nothing", async () => {
  const bodies = await Promise.all(
    Array.from(
      { length: LIMIT + 3 },
      async (_, i) =>
        (await server.graphql(PUBLISH, { c: `burst ${i}` }, { token: ana.accessToken })).body,
    ),
  );
  const codes = bodies.map((b) => String(codeOf(b) ?? "OK")).sort();
  expect(codes).toEqual(
    [...Array<string>(LIMIT).fill("OK"), ...Array<string>(3).fill("RATE_LIMITED")].sort(),
  );
  const refused = bodies.find((b) => codeOf(b) === "RATE_LIMITED")!;
  const retry = refused.errors?.[0]?.extensions?.retryAfterSeconds;
  expect(retry).toBeGreaterThan(0);
  expect(retry).toBeLessThanOrEqual(60);
  expect(await postsBy(ana.id)).toBe(LIMIT);

  // queries are not counted, nor is anyone else
  const me = await server.graphql(`{ currentUser { id } }`, {}, { token: ana.accessToken });
  expect(me.body.errors).toBeUndefined();
  const other = await server.graphql(PUBLISH, { c: "ben's" }, { token: ben.accessToken });
  expect(other.body.errors).toBeUndefined();

  // a websocket is the same account, the same count
  const viaSocket = await operationOverSocket(server.url, { token: ana.accessToken }, PUBLISH, {
    c: "over a socket",
  });
  expect(codeOf(viaSocket)).toBe("RATE_LIMITED");
  expect(await postsBy(ana.id)).toBe(LIMIT);
});

test("anonymous mutations are counted per client address", async () => {
  const RESET = `mutation ($e: String!) { requestPasswordReset(input: { email: $e }) { success } }`;
  const from = (address: string) => ({ headers: { "x-forwarded-for": address } });
  const bodies = await Promise.all(
    Array.from(
      { length: LIMIT + 2 },
      async (_, i) =>
        (await server.graphql(RESET, { e: `nobody${i}@example.com` }, from("203.0.113.50"))).body,
    ),
  );
  const codes = bodies.map((b) => String(codeOf(b) ?? "OK")).sort();
  expect(codes).toEqual(
    [...Array<string>(LIMIT).fill("OK"), ...Array<string>(2).fill("RATE_LIMITED")].sort(),
  );
  const elsewhere = await server.graphql(RESET, { e: "nobody@example.com" }, from("198.51.100.20"));
  expect(elsewhere.body.errors).toBeUndefined();
  // refreshing a session is not counted per address (it proves a session; a carrier's NAT puts
  // thousands of refreshing clients behind one address): judged on its token alone
  const refresh = await server.graphql(
    `mutation ($t: String!) { refreshToken(input: { refreshToken: $t }) { accessToken } }`,
    { t: "not-a-refresh-token" },
    from("203.0.113.50"),
  );
  expect(codeOf(refresh.body)).toBe("UNAUTHENTICATED");
});
