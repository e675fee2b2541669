/**
 * Two API processes (the real entry point, `src/main.ts server`) on one database, over real
 * HTTP and websockets, as a load balancer spreads one client's requests (docs/SCALING.md, "Many
 * instances"): a session started on one continues on the other (refresh there, sign-out there
 * is honoured here), a message sent through one reaches a subscriber on the other, and the
 * sign-in failure limit counts the failures of both.
 *
 * (In-process servers test the same parts more finely: test/server/revocation.test.ts,
 * test/realtime/subscriptions.test.ts "many API instances", test/realtime/presence.test.ts.)
 */
import { setTimeout as delay } from "node:timers/promises";

import { codeOf } from "../helpers/accounts.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { startProcess, type RunningProcess } from "../helpers/process.ts";
import { connect, type LiveSocket } from "../helpers/realtime.ts";
import { TEST_JWT_SECRET, type GraphQLBody, type TestServer } from "../helpers/server.ts";

const MAX_FAILURES = 3;
const READY = /GraphQL API ready at (http:\/\/[^/\s"]+)\/graphql/;

const REGISTER = `mutation ($input: RegisterInput!) {
  register(input: $input) { accessToken refreshToken user { id } }
}`;
const LOGIN = `mutation ($email: String!, $password: String!) {
  login(input: { email: $email, password: $password }) { accessToken refreshToken }
}`;
const REFRESH = `mutation ($t: String!) {
  refreshToken(input: { refreshToken: $t }) { accessToken refreshToken }
}`;
const LOGOUT = `mutation ($t: String!) { logout(input: { refreshToken: $t }) { success } }`;
const CURRENT_USER = `{ currentUser { id } }`;

interface Instance {
  readonly url: string;
  readonly proc: RunningProcess;
}
interface Account {
  id: string;
  email: string;
  password: string;
  accessToken: string;
  refreshToken: string;
}

let db: TestDatabase;
let a: Instance;
let b: Instance;
const sockets: LiveSocket[] = [];

async function startInstance(): Promise<Instance> {
  const proc = startProcess(["src/main.ts", "server"], {
    DATABASE_URL: db.ownerUrl,
    AUTH_DATABASE_URL: db.authUrl,
    DATABASE_AUTHENTICATOR_PASSWORD: "unused-in-this-test",
    MIGRATE_ON_START: "false",
    JWT_SECRET: TEST_JWT_SECRET,
    BCRYPT_COST: "4",
    HOST: "127.0.0.1",
    PORT: "0",
    DATA_DIR: "/nonexistent-test-data-dir",
    ACCESS_LOG: "false",
    LOGIN_MAX_FAILURES: String(MAX_FAILURES),
    LOGIN_MAX_FAILURES_PER_CLIENT: "100000",
  });
  const [, url] = await proc.waitFor(READY);
  return { url: url!, proc };
}

async function graphql(
  instance: Instance,
  query: string,
  variables: Record<string, unknown> = {},
  token?: string,
): Promise<{ status: number; body: GraphQLBody }> {
  const response = await fetch(`${instance.url}/graphql`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: (await response.json()) as GraphQLBody };
}

function data<T>(body: GraphQLBody): T {
  if (body.errors) throw new Error(`unexpected errors: ${JSON.stringify(body.errors)}`);
  return body.data as T;
}

let registered = 0;
async function register(instance: Instance): Promise<Account> {
  registered += 1;
  const tag = `multi_${process.pid}_${registered}_${Math.random().toString(36).slice(2, 7)}`;
  const input = { email: `${tag}@example.com`, username: tag, password: "correct horse battery" };
  const { body } = await graphql(instance, REGISTER, { input });
  const r = data<{ register: { accessToken: string; refreshToken: string; user: { id: string } } }>(
    body,
  ).register;
  return { id: r.user.id, email: input.email, password: input.password, ...r };
}

async function currentUser(instance: Instance, token: string) {
  const { status, body } = await graphql(instance, CURRENT_USER, {}, token);
  return { status, id: (body.data?.currentUser as { id: string } | null)?.id ?? null, body };
}

/** Polls `check` until it holds (the other instance hears of an end by NOTIFY). */
async function until(what: string, check: () => Promise<boolean>, timeoutMs = 5000) {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`still waiting after ${timeoutMs} ms: ${what}`);
    await delay(25);
  }
}

beforeAll(async () => {
  db = await createTestDatabase();
  [a, b] = await Promise.all([startInstance(), startInstance()]);
}, 120_000);
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.dispose()));
});
afterAll(async () => {
  for (const instance of [a, b]) {
    if (!instance) continue;
    instance.proc.child.kill("SIGTERM");
    await instance.proc.exited;
  }
  await db?.drop();
});

describe("two API processes on one database", () => {
  it("continues a session started on A on B: refresh on B works on A, sign-out on B is honoured on A", async () => {
    const ana = await register(a);
    const signedIn = data<{ login: { accessToken: string; refreshToken: string } }>(
      (await graphql(a, LOGIN, { email: ana.email, password: ana.password })).body,
    ).login;
    expect(await currentUser(b, signedIn.accessToken)).toMatchObject({ status: 200, id: ana.id });

    // the refresh token A issued is redeemed on B; B's new access token works on A
    const refreshed = data<{ refreshToken: { accessToken: string; refreshToken: string } }>(
      (await graphql(b, REFRESH, { t: signedIn.refreshToken })).body,
    ).refreshToken;
    expect(await currentUser(a, refreshed.accessToken)).toMatchObject({ status: 200, id: ana.id });

    // signing out on B ends the session on A too (A had accepted its token before)
    data((await graphql(b, LOGOUT, { t: refreshed.refreshToken })).body);
    await until("A refuses the signed-out session's token", async () => {
      const { status } = await currentUser(a, refreshed.accessToken);
      return status === 401;
    });
    const refused = await currentUser(a, refreshed.accessToken);
    expect(refused.body.errors?.[0]?.extensions).toMatchObject({
      code: "UNAUTHENTICATED",
      reason: "revoked",
    });
    expect(codeOf((await graphql(a, REFRESH, { t: refreshed.refreshToken })).body)).toBe(
      "UNAUTHENTICATED",
    );
    // her other session (from register) is untouched, on both
    for (const instance of [a, b]) {
      expect(await currentUser(instance, ana.accessToken)).toMatchObject({ id: ana.id });
    }
  });

  it("delivers a message sent through A to a subscriber on B", async () => {
    const [ana, ben] = [await register(a), await register(b)];
    const chat = data<{ createGroupConversation: { conversation: { id: string } } }>(
      (
        await graphql(
          a,
          `
            mutation ($p: [UUID]!) {
              createGroupConversation(input: { title: "across", participantIds: $p }) {
                conversation {
                  id
                }
              }
            }
          `,
          { p: [ben.id] },
          ana.accessToken,
        )
      ).body,
    ).createGroupConversation.conversation.id;
    const socket = connect({ url: b.url } as TestServer, {
      authorization: `Bearer ${ben.accessToken}`,
    });
    sockets.push(socket);
    const sub = socket.subscribe<{ id: string; content: string; sender: { id: string } }>(
      `subscription ($c: UUID!) { messageAdded(conversationId: $c) { id content sender { id } } }`,
      { c: chat },
    );
    // B listens on the conversation's topic (its hub's LISTEN) before the message is sent
    await until(
      "B listens",
      async () =>
        (
          await withClient(db.superuserUrl, (c) =>
            c.query(`select 1 from pg_stat_activity where datname = $1 and query = $2`, [
              db.name,
              `LISTEN "conversation:${chat}"`,
            ]),
          )
        ).rowCount! > 0,
    );
    const sent = data<{ sendMessage: { message: { id: string } } }>(
      (
        await graphql(
          a,
          `
            mutation ($c: UUID!) {
              sendMessage(input: { conversationId: $c, content: "from A" }) {
                message {
                  id
                }
              }
            }
          `,
          { c: chat },
          ana.accessToken,
        )
      ).body,
    ).sendMessage.message.id;
    expect(await sub.event(0)).toEqual({ id: sent, content: "from A", sender: { id: ana.id } });
  });

  it("counts the sign-in failures of both toward one limit", async () => {
    const cat = await register(a);
    const wrong = { email: cat.email, password: "not her password" };
    // alternate: neither instance alone sees MAX_FAILURES failures
    for (let i = 0; i < MAX_FAILURES; i += 1) {
      const { body } = await graphql(i % 2 === 0 ? a : b, LOGIN, wrong);
      expect(codeOf(body)).toBe("UNAUTHENTICATED");
    }
    for (const instance of [b, a]) {
      const { body } = await graphql(instance, LOGIN, { email: cat.email, password: cat.password });
      expect(codeOf(body)).toBe("RATE_LIMITED");
    }
  });
});
