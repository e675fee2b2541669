/**
 * Accounts and sessions through the real HTTP server and the real worker (plugins/auth.ts over
 * app_hidden.* in migrations/committed/000002.sql).
 */
import type pg from "pg";

import { codeOf, registerAccount, type TestAccount } from "../helpers/accounts.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { startTestWorker, type TestWorker } from "../helpers/worker.ts";

let db: TestDatabase;
let server: TestServer;
let worker: TestWorker;

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startTestServer(db, {
    LOGIN_MAX_FAILURES: "4",
    LOGIN_MAX_FAILURES_PER_CLIENT: "6",
  });
  worker = await startTestWorker(db);
});
afterAll(async () => {
  await worker.close();
  await server.close();
  await db.drop();
});

const asOwner = <T extends pg.QueryResultRow>(text: string, values: unknown[] = []) =>
  withClient(db.ownerUrl, async (c) => (await c.query<T>(text, values)).rows);

const LOGIN = `mutation ($email: String!, $password: String!) {
  login(input: { email: $email, password: $password }) {
    accessToken refreshToken accessTokenExpiresAt user { id username account { loginCount lastLoginAt } }
  }
}`;
const REFRESH = `mutation ($t: String!) { refreshToken(input: { refreshToken: $t }) { accessToken refreshToken user { id } } }`;
const CURRENT_USER = `{ currentUser { id username account { email emailVerified } } }`;

async function login(email: string, password: string) {
  return server.graphql(LOGIN, { email, password });
}

async function auditActions(userId: string): Promise<string[]> {
  const rows = await asOwner<{ action: string }>(
    `select action from app_private.audit_log where user_id = $1 order by id`,
    [userId],
  );
  return rows.map((r) => r.action);
}

/** The token in the `index`-th e-mail sent to `email` (waiting for the worker to send it). */
async function tokenFromEmail(email: string, index: number): Promise<string> {
  const message = await worker.message(email, index);
  const token = /token=([A-Za-z0-9_%-]+)/.exec(message.text)?.[1];
  if (!token) throw new Error(`no token in e-mail:\n${message.text}`);
  return decodeURIComponent(token);
}

describe("register", () => {
  it("creates the account and profile, signs in, and normalises the e-mail", async () => {
    const { body } = await server.graphql(
      `mutation { register(input: { email: "  Ana.Lima@Example.COM ", password: "a good password", username: "ana_lima", displayName: "Ana" }) {
        accessToken refreshToken accessTokenExpiresAt user { id username displayName account { email emailVerified loginCount } }
      } }`,
    );
    expect(body.errors).toBeUndefined();
    const payload = body.data!.register as Record<string, unknown> & {
      user: Record<string, unknown>;
    };
    expect(payload.user).toMatchObject({
      username: "ana_lima",
      displayName: "Ana",
      account: { email: "ana.lima@example.com", emailVerified: false, loginCount: 0 },
    });
    expect(typeof payload.accessToken).toBe("string");
    expect(new Date(payload.accessTokenExpiresAt as string).getTime()).toBeGreaterThan(Date.now());
    // the refresh token is stored only as a hash
    const stored = await asOwner<{ token_hash: string }>(
      `select token_hash from app_private.refresh_tokens where user_id = $1`,
      [payload.user.id],
    );
    expect(stored).toHaveLength(1);
    expect(stored[0]!.token_hash).not.toContain(payload.refreshToken as string);
    expect(await auditActions(payload.user.id as string)).toEqual(["register"]);
  });

  it("refuses an e-mail already taken, whatever its case, with CONFLICT on email", async () => {
    const ana = await registerAccount(server);
    const { body } = await server.graphql(
      `mutation ($e: String!) { register(input: { email: $e, password: "a good password", username: "someone_else" }) { accessToken } }`,
      { e: ana.email.toUpperCase() },
    );
    expect(body.errors?.[0]?.extensions).toEqual({ code: "CONFLICT", field: "email" });
  });

  it("refuses a username taken in another case, with CONFLICT on username", async () => {
    const ana = await registerAccount(server);
    const { body } = await server.graphql(
      `mutation ($u: String!) { register(input: { email: "fresh_${Date.now()}@example.com", password: "a good password", username: $u }) { accessToken } }`,
      { u: ana.username.toUpperCase() },
    );
    expect(body.errors?.[0]?.extensions).toEqual({ code: "CONFLICT", field: "username" });
  });

  it.each([
    ["too short", "short", "at least 8 characters"],
    ["over bcrypt's 72 bytes", "é".repeat(37), "at most 72 bytes"],
  ])("refuses a password %s with INVALID_INPUT on password", async (_label, password, message) => {
    const { body } = await server.graphql(
      `mutation ($p: String!) { register(input: { email: "pw_${Math.random()}@example.com", password: $p, username: "pw_${Date.now() % 100000}" }) { accessToken } }`,
      { p: password },
    );
    expect(body.errors?.[0]).toMatchObject({
      message: expect.stringContaining(message),
      extensions: { code: "INVALID_INPUT", field: "password" },
    });
  });

  it("refuses a malformed e-mail and username with INVALID_INPUT naming the field", async () => {
    const bad = (email: string, username: string) =>
      server.graphql(
        `mutation ($e: String!, $u: String!) { register(input: { email: $e, password: "a good password", username: $u }) { accessToken } }`,
        { e: email, u: username },
      );
    expect((await bad("not-an-email", "valid_name")).body.errors?.[0]?.extensions).toEqual({
      code: "INVALID_INPUT",
      field: "email",
    });
    expect((await bad("x@example.com", "no spaces allowed")).body.errors?.[0]?.extensions).toEqual({
      code: "INVALID_INPUT",
      field: "username",
    });
  });
});

describe("login", () => {
  it("signs in, counting the login synchronously", async () => {
    const ana = await registerAccount(server);
    const { body } = await login(ana.email, ana.password);
    expect(body.errors).toBeUndefined();
    const user = (
      body.data!.login as {
        user: { id: string; account: { loginCount: number; lastLoginAt: string } };
      }
    ).user;
    expect(user.id).toBe(ana.id);
    expect(user.account.loginCount).toBe(1);
    expect(Date.now() - new Date(user.account.lastLoginAt).getTime()).toBeLessThan(60_000);
    expect(await auditActions(ana.id)).toEqual(["register", "login_success"]);
  });

  it("answers a wrong password and an unknown e-mail the same way", async () => {
    const ana = await registerAccount(server);
    const wrong = (await login(ana.email, "not the password")).body;
    const unknown = (await login("nobody@example.com", "whatever password")).body;
    expect(wrong.data?.login).toBeNull();
    expect(wrong.errors?.[0]).toMatchObject({
      message: "Incorrect e-mail or password",
      extensions: { code: "UNAUTHENTICATED", reason: "bad_credentials" },
    });
    expect(unknown.errors?.[0]?.message).toBe(wrong.errors?.[0]?.message);
    expect(unknown.errors?.[0]?.extensions).toEqual(wrong.errors?.[0]?.extensions);
    expect(await auditActions(ana.id)).toEqual(["register", "login_failure"]);
  });

  it.each(["suspended", "deleted"])("refuses a %s account with a clear error", async (status) => {
    const ana = await registerAccount(server);
    await asOwner(`update app_public.users set status = $2 where id = $1`, [ana.id, status]);
    const { body } = await login(ana.email, ana.password);
    expect(body.errors?.[0]).toMatchObject({ extensions: { code: "FORBIDDEN", reason: status } });
  });

  it("refuses password sign-in for an account without a password (external identity)", async () => {
    const ana = await registerAccount(server);
    await asOwner(`update app_public.users set password_hash = null where id = $1`, [ana.id]);
    await asOwner(
      `insert into app_private.user_authentications (user_id, service, identifier) values ($1, 'github', '123')`,
      [ana.id],
    );
    const { body } = await login(ana.email, ana.password);
    expect(body.errors?.[0]).toMatchObject({
      extensions: { code: "UNAUTHENTICATED", reason: "no_password" },
    });
  });
});

describe("rate limiting of failed sign-ins", () => {
  // every test request comes from 127.0.0.1: start each case with clean counters
  beforeEach(() => asOwner(`delete from app_private.login_attempts`));

  it("blocks an e-mail after too many failures, even with the right password, and forgets after the window", async () => {
    const ana = await registerAccount(server);
    for (let i = 0; i < 4; i++)
      expect(codeOf((await login(ana.email, `wrong ${i}`)).body)).toBe("UNAUTHENTICATED");
    const limited = (await login(ana.email, ana.password)).body;
    expect(limited.errors?.[0]).toMatchObject({ extensions: { code: "RATE_LIMITED" } });
    // the counters live in Postgres: age them past the window, as time would
    await asOwner(
      `update app_private.login_attempts set attempted_at = now() - interval '16 minutes'`,
    );
    expect((await login(ana.email, ana.password)).body.errors).toBeUndefined();
  });

  it("blocks a client address that fails across many e-mails", async () => {
    for (let i = 0; i < 6; i++) await login(`someone_${i}@example.com`, "wrong password");
    const ana = await registerAccount(server);
    expect(codeOf((await login(ana.email, ana.password)).body)).toBe("RATE_LIMITED");
    await asOwner(`delete from app_private.login_attempts`);
  });
});

describe("access tokens", () => {
  let ana: TestAccount;
  beforeAll(async () => {
    ana = await registerAccount(server);
  });

  it("identify the caller: currentUser is them with a token, null without", async () => {
    const signedIn = await server.graphql(CURRENT_USER, {}, { token: ana.accessToken });
    expect(signedIn.body.data?.currentUser).toMatchObject({
      id: ana.id,
      account: { email: ana.email },
    });
    const anonymous = await server.graphql(CURRENT_USER);
    expect(anonymous.body).toEqual({ data: { currentUser: null } });
  });

  it("never expose the password hash: no field for it, and no column privilege", async () => {
    const { body } = await server.graphql(
      `{ currentUser { account { passwordHash } } }`,
      {},
      { token: ana.accessToken },
    );
    expect(codeOf(body)).toBe("GRAPHQL_VALIDATION_FAILED");
    await expect(
      withClient(db.authUrl, async (c) => {
        await c.query("begin");
        await c.query(
          `select set_config('role', 'authenticated', true), set_config('jwt.claims.user_id', $1, true)`,
          [ana.id],
        );
        return c.query(`select password_hash from app_public.users`);
      }),
    ).rejects.toMatchObject({ code: "42501" });
  });
});

describe("refresh tokens", () => {
  it("rotate: each is single use, and reuse of a spent one ends the whole session", async () => {
    const ana = await registerAccount(server);
    const first = await server.graphql(REFRESH, { t: ana.refreshToken });
    expect(first.body.errors).toBeUndefined();
    const next = first.body.data!.refreshToken as {
      refreshToken: string;
      accessToken: string;
      user: { id: string };
    };
    expect(next.user.id).toBe(ana.id);
    expect(next.refreshToken).not.toBe(ana.refreshToken);

    const reuse = await server.graphql(REFRESH, { t: ana.refreshToken });
    expect(reuse.body.errors?.[0]).toMatchObject({
      extensions: { code: "UNAUTHENTICATED", reason: "refresh_token_reused" },
    });
    // theft detection: the legitimate newer token of that family is revoked too
    const after = await server.graphql(REFRESH, { t: next.refreshToken });
    expect(after.body.errors?.[0]).toMatchObject({
      extensions: { code: "UNAUTHENTICATED", reason: "invalid" },
    });
    expect(await auditActions(ana.id)).toContain("refresh_token_reuse");
  });

  it("are refused when unknown or expired", async () => {
    const ana = await registerAccount(server);
    expect(
      (await server.graphql(REFRESH, { t: "made-up" })).body.errors?.[0]?.extensions,
    ).toMatchObject({ reason: "invalid" });
    await asOwner(
      `update app_private.refresh_tokens set expires_at = now() - interval '1 second' where user_id = $1`,
      [ana.id],
    );
    expect(
      (await server.graphql(REFRESH, { t: ana.refreshToken })).body.errors?.[0]?.extensions,
    ).toMatchObject({
      reason: "expired",
    });
  });
});

describe("logout", () => {
  it("ends the session of that refresh token only", async () => {
    const ana = await registerAccount(server);
    const other = (await login(ana.email, ana.password)).body.data!.login as {
      refreshToken: string;
    };
    const out = await server.graphql(
      `mutation ($t: String!) { logout(input: { refreshToken: $t }) { success } }`,
      {
        t: ana.refreshToken,
      },
    );
    expect(out.body.data).toEqual({ logout: { success: true } });
    expect(codeOf((await server.graphql(REFRESH, { t: ana.refreshToken })).body)).toBe(
      "UNAUTHENTICATED",
    );
    expect((await server.graphql(REFRESH, { t: other.refreshToken })).body.errors).toBeUndefined();
  });

  it("logoutEverywhere ends every session of the caller, and needs a signed-in caller", async () => {
    const ana = await registerAccount(server);
    const other = (await login(ana.email, ana.password)).body.data!.login as {
      refreshToken: string;
    };
    const out = await server.graphql(
      `mutation { logoutEverywhere { success } }`,
      {},
      { token: ana.accessToken },
    );
    expect(out.body.data).toEqual({ logoutEverywhere: { success: true } });
    for (const t of [ana.refreshToken, other.refreshToken]) {
      expect(codeOf((await server.graphql(REFRESH, { t })).body)).toBe("UNAUTHENTICATED");
    }
    expect(await auditActions(ana.id)).toContain("logout_everywhere");
    const anonymous = await server.graphql(`mutation { logoutEverywhere { success } }`);
    expect(codeOf(anonymous.body)).toBe("UNAUTHENTICATED");
  });
});

describe("changePassword", () => {
  const CHANGE = `mutation ($o: String!, $n: String!) { changePassword(input: { oldPassword: $o, newPassword: $n }) { success } }`;

  it("needs the old password", async () => {
    const ana = await registerAccount(server);
    const { body } = await server.graphql(
      CHANGE,
      { o: "not it at all", n: "a brand new password" },
      { token: ana.accessToken },
    );
    expect(body.errors?.[0]?.extensions).toEqual({ code: "INVALID_INPUT", field: "oldPassword" });
    expect((await login(ana.email, ana.password)).body.errors).toBeUndefined();
  });

  it("changes it and signs out the other sessions, keeping this one", async () => {
    const ana = await registerAccount(server);
    const other = (await login(ana.email, ana.password)).body.data!.login as {
      refreshToken: string;
    };
    const { body } = await server.graphql(
      CHANGE,
      { o: ana.password, n: "a brand new password" },
      { token: ana.accessToken },
    );
    expect(body.data).toEqual({ changePassword: { success: true } });
    expect(codeOf((await login(ana.email, ana.password)).body)).toBe("UNAUTHENTICATED");
    expect((await login(ana.email, "a brand new password")).body.errors).toBeUndefined();
    expect(codeOf((await server.graphql(REFRESH, { t: other.refreshToken })).body)).toBe(
      "UNAUTHENTICATED",
    );
    expect((await server.graphql(REFRESH, { t: ana.refreshToken })).body.errors).toBeUndefined();
    expect(await auditActions(ana.id)).toContain("password_change");
  });
});

describe("password reset, end to end through the worker and the development mail outbox", () => {
  const REQUEST = `mutation ($e: String!) { requestPasswordReset(input: { email: $e }) { success } }`;
  const RESET = `mutation ($t: String!, $p: String!) { resetPassword(input: { token: $t, newPassword: $p }) { success } }`;

  it("answers the same whether or not the e-mail has an account", async () => {
    const ana = await registerAccount(server);
    const known = await server.graphql(REQUEST, { e: ana.email });
    const unknown = await server.graphql(REQUEST, { e: "no-such-person@example.com" });
    expect(known).toEqual(unknown);
    expect(known.body).toEqual({ data: { requestPasswordReset: { success: true } } });
  });

  it("e-mails a single-use link that sets a new password and signs out everywhere", async () => {
    const ana = await registerAccount(server);
    await tokenFromEmail(ana.email, 0); // the verification e-mail sent at registration
    await server.graphql(REQUEST, { e: ana.email });
    const token = await tokenFromEmail(ana.email, 1);
    expect((await worker.message(ana.email, 1)).subject).toBe("Reset your password");
    // stored hashed, never in plain
    const stored = await asOwner<{ n: number }>(
      `select count(*)::int as n from app_private.user_tokens where token_hash = app_private.hash_token($1)`,
      [token],
    );
    expect(stored[0]!.n).toBe(1);

    const reset = await server.graphql(RESET, { t: token, p: "my new password" });
    expect(reset.body).toEqual({ data: { resetPassword: { success: true } } });
    expect((await login(ana.email, "my new password")).body.errors).toBeUndefined();
    expect(codeOf((await server.graphql(REFRESH, { t: ana.refreshToken })).body)).toBe(
      "UNAUTHENTICATED",
    );

    const again = await server.graphql(RESET, { t: token, p: "yet another password" });
    expect(again.body.errors?.[0]?.extensions).toEqual({ code: "INVALID_INPUT", field: "token" });
    expect(await auditActions(ana.id)).toContain("password_reset");
  });

  it("refuses an expired token", async () => {
    const ana = await registerAccount(server);
    await tokenFromEmail(ana.email, 0);
    await server.graphql(REQUEST, { e: ana.email });
    const token = await tokenFromEmail(ana.email, 1);
    await asOwner(
      `update app_private.user_tokens set expires_at = now() - interval '1 second' where user_id = $1`,
      [ana.id],
    );
    const { body } = await server.graphql(RESET, { t: token, p: "my new password" });
    expect(body.errors?.[0]?.extensions).toEqual({ code: "INVALID_INPUT", field: "token" });
  });
});

describe("e-mail verification", () => {
  const VERIFY = `mutation ($t: String!) { verifyEmail(input: { token: $t }) { success } }`;

  it("verifies the address with the token e-mailed at registration, once", async () => {
    const ana = await registerAccount(server);
    const token = await tokenFromEmail(ana.email, 0);
    expect((await worker.message(ana.email, 0)).subject).toBe("Verify your e-mail address");
    expect((await server.graphql(VERIFY, { t: token })).body).toEqual({
      data: { verifyEmail: { success: true } },
    });
    const me = await server.graphql(CURRENT_USER, {}, { token: ana.accessToken });
    expect(me.body.data?.currentUser).toMatchObject({ account: { emailVerified: true } });
    expect(codeOf((await server.graphql(VERIFY, { t: token })).body)).toBe("INVALID_INPUT");
    expect(await auditActions(ana.id)).toContain("email_verification");
    // already verified: nothing to send
    const again = await server.graphql(
      `mutation { requestEmailVerification { success } }`,
      {},
      { token: ana.accessToken },
    );
    expect(again.body).toEqual({ data: { requestEmailVerification: { success: false } } });
  });

  it("sends a new link on request (at most one a minute), and only to a signed-in user", async () => {
    const ana = await registerAccount(server);
    const first = await tokenFromEmail(ana.email, 0);
    const REQUEST = `mutation { requestEmailVerification { success } }`;
    const queued = () =>
      asOwner(`select 1 from graphile_worker._private_jobs where key = $1`, [
        `send_email:verify_email:${ana.id}`,
      ]);

    // within a minute of the last e-mail, asking again queues nothing
    const tooSoon = await server.graphql(REQUEST, {}, { token: ana.accessToken });
    expect(tooSoon.body).toEqual({ data: { requestEmailVerification: { success: true } } });
    expect(await queued()).toEqual([]);

    await asOwner(
      `update app_private.user_tokens set created_at = now() - interval '2 minutes' where user_id = $1`,
      [ana.id],
    );
    const requested = await server.graphql(REQUEST, {}, { token: ana.accessToken });
    expect(requested.body).toEqual({ data: { requestEmailVerification: { success: true } } });
    const token = await tokenFromEmail(ana.email, 1);
    // the new link replaces the old one
    expect(codeOf((await server.graphql(VERIFY, { t: first })).body)).toBe("INVALID_INPUT");
    expect((await server.graphql(VERIFY, { t: token })).body.errors).toBeUndefined();

    const anonymous = await server.graphql(REQUEST);
    expect(anonymous.body.errors?.[0]?.extensions).toMatchObject({ code: "UNAUTHENTICATED" });
  });
});

describe("account deletion", () => {
  it("asks for the password, then signs out and records the request in the audit log", async () => {
    const ana = await registerAccount(server);
    const REQUEST = `mutation ($p: String!) { requestAccountDeletion(input: { password: $p }) { success } }`;
    const wrong = await server.graphql(
      REQUEST,
      { p: "not the password" },
      { token: ana.accessToken },
    );
    expect(codeOf(wrong.body)).toBe("INVALID_INPUT");
    const { body } = await server.graphql(REQUEST, { p: ana.password }, { token: ana.accessToken });
    expect(body.errors).toBeUndefined();
    // kept, hidden, until the erasure job (test/privacy/deletion.test.ts)
    expect(await asOwner(`select status from app_public.users where id = $1`, [ana.id])).toEqual([
      { status: "deleted" },
    ]);
    expect(await auditActions(ana.id)).toContain("account_deletion");
  });
});
