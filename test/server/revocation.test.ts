/**
 * Immediate sign-out: when a session ends — logout, logoutEverywhere, a password change or
 * reset, refresh-token reuse, a suspension, an account deletion — its access tokens get 401
 * UNAUTHENTICATED (reason `revoked`) within a second on every API instance (two servers on one
 * database here), though both had already accepted them. A correctly signed token of a session
 * or account that does not exist is refused the same way.
 */
import { randomUUID } from "node:crypto";

import jwt from "jsonwebtoken";
import type pg from "pg";

import { SESSION_ENDED_MESSAGE } from "../../src/auth/tokens.ts";
import { registerAccount, type TestAccount } from "../helpers/accounts.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { startTestServer, TEST_JWT_SECRET, type TestServer } from "../helpers/server.ts";

let db: TestDatabase;
let first: TestServer;
let second: TestServer;

beforeAll(async () => {
  db = await createTestDatabase();
  [first, second] = await Promise.all([startTestServer(db), startTestServer(db)]);
});
afterAll(async () => {
  await Promise.all([first.close(), second.close()]);
  await db.drop();
});

const asOwner = <T extends pg.QueryResultRow>(text: string, values: unknown[] = []) =>
  withClient(db.ownerUrl, async (c) => (await c.query<T>(text, values)).rows);

const CURRENT_USER = `{ currentUser { id } }`;
const LOGIN = `mutation ($email: String!, $password: String!) {
  login(input: { email: $email, password: $password }) { accessToken refreshToken }
}`;
const REFRESH = `mutation ($t: String!) { refreshToken(input: { refreshToken: $t }) { accessToken } }`;

interface Session {
  accessToken: string;
  refreshToken: string;
  id: string;
}

function sessionIdOf(accessToken: string): string {
  const claims = jwt.decode(accessToken) as { sid: string };
  return claims.sid;
}

function sessionOf(account: TestAccount): Session {
  return { ...account, id: sessionIdOf(account.accessToken) };
}

/** A second sign-in of the account: another session. */
async function signInAgain(account: TestAccount): Promise<Session> {
  const { body } = await first.graphql(LOGIN, { email: account.email, password: account.password });
  const payload = body.data?.login as { accessToken: string; refreshToken: string } | undefined;
  if (!payload) throw new Error(`login failed: ${JSON.stringify(body.errors)}`);
  return { ...payload, id: sessionIdOf(payload.accessToken) };
}

async function expectAccepted(token: string, userId: string): Promise<void> {
  for (const server of [first, second]) {
    const response = await server.graphql(CURRENT_USER, {}, { token });
    expect(response.status).toBe(200);
    expect(response.body.data).toEqual({ currentUser: { id: userId } });
  }
}

async function expectRefused(server: TestServer, token: string): Promise<void> {
  const response = await server.graphql(CURRENT_USER, {}, { token });
  expect(response.status).toBe(401);
  expect(response.body).toEqual({
    errors: [
      {
        message: SESSION_ENDED_MESSAGE,
        extensions: { code: "UNAUTHENTICATED", reason: "revoked" },
      },
    ],
  });
}

/**
 * Resolves when both servers have heard that the session ended, rejecting if that takes more
 * than `withinMs` after `started()` is called (call this before the action, `started` right
 * after it).
 */
function endHeard(sessionId: string, withinMs = 1000) {
  let startedAt = 0;
  let startTimer!: () => void;
  const timerStarted = new Promise<void>((resolve) => (startTimer = resolve));
  const heard = Promise.all(
    [first, second].map(
      (server) =>
        new Promise<number>((resolve) => {
          const stop = server.sessions.onEnded((ended) => {
            if (ended !== sessionId) return;
            stop();
            resolve(Date.now());
          });
        }),
    ),
  );
  const within = (async () => {
    await timerStarted;
    let timer!: NodeJS.Timeout;
    const timeout = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () => reject(new Error(`session ${sessionId} not ended everywhere within ${withinMs} ms`)),
        withinMs,
      );
    });
    try {
      const times = await Promise.race([heard, timeout]);
      return Math.max(...times) - startedAt;
    } finally {
      clearTimeout(timer);
    }
  })();
  return {
    started(): void {
      startedAt = Date.now();
      startTimer();
    },
    within,
  };
}

/** The action ends `ended` sessions (and not `kept`): checked on both servers within 1 s. */
async function expectEnds(
  account: TestAccount,
  ended: Session[],
  action: () => Promise<unknown>,
  kept: Session[] = [],
): Promise<void> {
  for (const s of [...ended, ...kept]) await expectAccepted(s.accessToken, account.id);
  const heard = ended.map((s) => endHeard(s.id));
  await action();
  for (const h of heard) h.started();
  for (const h of heard) expect(await h.within).toBeLessThanOrEqual(1000);
  for (const s of ended) {
    for (const server of [first, second]) await expectRefused(server, s.accessToken);
  }
  for (const s of kept) await expectAccepted(s.accessToken, account.id);
}

async function ok(response: Promise<{ body: { errors?: unknown } }>): Promise<void> {
  const { body } = await response;
  expect(body.errors).toBeUndefined();
}

describe("a session that ends stops its access tokens within a second, on every instance", () => {
  it("logout: that session only", async () => {
    const ana = await registerAccount(first);
    const [one, two] = [sessionOf(ana), await signInAgain(ana)];
    await expectEnds(
      ana,
      [one],
      () =>
        ok(
          second.graphql(
            `mutation ($t: String!) { logout(input: { refreshToken: $t }) { success } }`,
            { t: one.refreshToken },
          ),
        ),
      [two],
    );
  });

  it("logoutEverywhere: every session of the caller", async () => {
    const ana = await registerAccount(first);
    const [one, two] = [sessionOf(ana), await signInAgain(ana)];
    const ben = sessionOf(await registerAccount(first));
    await expectEnds(ana, [one, two], () =>
      ok(
        first.graphql(`mutation { logoutEverywhere { success } }`, {}, { token: one.accessToken }),
      ),
    );
    // someone else's session is untouched
    const response = await second.graphql(CURRENT_USER, {}, { token: ben.accessToken });
    expect(response.status).toBe(200);
  });

  it("changePassword: the other sessions, not the one that changed it", async () => {
    const ana = await registerAccount(first);
    const [one, two] = [sessionOf(ana), await signInAgain(ana)];
    await expectEnds(
      ana,
      [two],
      () =>
        ok(
          first.graphql(
            `mutation ($o: String!, $n: String!) { changePassword(input: { oldPassword: $o, newPassword: $n }) { success } }`,
            { o: ana.password, n: "a brand new password" },
            { token: one.accessToken },
          ),
        ),
      [one],
    );
  });

  it("resetPassword: every session", async () => {
    const ana = await registerAccount(first);
    const [one, two] = [sessionOf(ana), await signInAgain(ana)];
    const [minted] = await asOwner<{ token: string }>(
      `select app_private.mint_user_token($1, 'password_reset', interval '1 hour') as token`,
      [ana.id],
    );
    await expectEnds(ana, [one, two], () =>
      ok(
        second.graphql(
          `mutation ($t: String!, $p: String!) { resetPassword(input: { token: $t, newPassword: $p }) { success } }`,
          { t: minted!.token, p: "my reset password" },
        ),
      ),
    );
  });

  it("refresh-token reuse: the whole session", async () => {
    const ana = await registerAccount(first);
    const one = sessionOf(ana);
    await ok(first.graphql(REFRESH, { t: one.refreshToken }));
    await expectEnds(ana, [one], () => first.graphql(REFRESH, { t: one.refreshToken }));
  });

  it("suspension, however the status is changed: every session", async () => {
    const ana = await registerAccount(first);
    const [one, two] = [sessionOf(ana), await signInAgain(ana)];
    await expectEnds(ana, [one, two], () =>
      asOwner(`update app_public.users set status = 'suspended' where id = $1`, [ana.id]),
    );
  });

  it("account deletion: every session", async () => {
    const ana = await registerAccount(first);
    const [one, two] = [sessionOf(ana), await signInAgain(ana)];
    await expectEnds(ana, [one, two], () =>
      ok(
        first.graphql(
          `mutation ($p: String!) { requestAccountDeletion(input: { password: $p }) { success } }`,
          { p: ana.password },
          { token: one.accessToken },
        ),
      ),
    );
    // a write with the old token is refused at the door, not with "A referenced record does not exist"
    const write = await second.graphql(
      `mutation { createGroup(input: { name: "ghost group" }) { group { id } } }`,
      {},
      { token: two.accessToken },
    );
    expect(write.status).toBe(401);
  });
});

describe("correctly signed tokens of sessions that do not exist", () => {
  const forge = (userId: string, sessionId: string): string =>
    jwt.sign({ role: "authenticated", sid: sessionId }, TEST_JWT_SECRET, {
      algorithm: "HS256",
      subject: userId,
      audience: "mking-friend",
      issuer: "mking-friend",
      expiresIn: 60,
    });

  it("refuses a random account with a random session", async () => {
    await expectRefused(first, forge(randomUUID(), randomUUID()));
  });

  it("refuses a real account with a session that is not its own or does not exist", async () => {
    const ana = await registerAccount(first);
    const ben = sessionOf(await registerAccount(first));
    await expectRefused(first, forge(ana.id, randomUUID()));
    // ben's live session, claimed for ana; asked first and then from the cache
    await expectRefused(second, forge(ana.id, ben.id));
    await expectAccepted(ben.accessToken, (jwt.decode(ben.accessToken) as { sub: string }).sub);
    await expectRefused(second, forge(ana.id, ben.id));
  });

  it("refuses the token of a deleted account on an instance that never saw it", async () => {
    const ana = await registerAccount(first);
    await asOwner(`delete from app_public.users where id = $1`, [ana.id]);
    const third = await startTestServer(db);
    try {
      await expectRefused(third, ana.accessToken);
      const write = await third.graphql(
        `mutation { createGroup(input: { name: "ghost group" }) { group { id } } }`,
        {},
        { token: ana.accessToken },
      );
      expect(write.status).toBe(401);
      expect(write.body.errors?.[0]?.extensions).toEqual({
        code: "UNAUTHENTICATED",
        reason: "revoked",
      });
    } finally {
      await third.close();
    }
  });
});

describe("the feed of ended sessions", () => {
  it("comes back after its connection is lost, and hears ends again", async () => {
    const ana = await registerAccount(first);
    const one = sessionOf(ana);
    await expectAccepted(one.accessToken, ana.id);
    const back = Promise.all(
      [first, second].map((server) => server.log.next(/session feed listening again/)),
    );
    await withClient(db.superuserUrl, (c) =>
      c.query(
        `select pg_terminate_backend(pid, 5000) from pg_stat_activity
          where datname = current_database() and application_name = 'mking-friend-sessions'
            and query ilike 'listen%'`,
      ),
    );
    await back;
    expect([first.sessions.listening, second.sessions.listening]).toEqual([true, true]);
    await expectEnds(ana, [one], () => asOwner(`select app_private.revoke_sessions($1)`, [ana.id]));
  });
});
