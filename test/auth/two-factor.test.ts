/**
 * TOTP and recovery codes through the real HTTP server (plugins/twoFactor.ts, src/auth/signIn.ts,
 * migrations/current.sql "sign-in: second factors"): enrolment, the second step of login, replay,
 * single-use recovery codes, the limits, and that sessions ending do not remove factors.
 */
import { startApi, ok, refusal, type Api } from "../helpers/api.ts";
import type { TestAccount } from "../helpers/accounts.ts";
import { withClient } from "../helpers/database.ts";
import type { GraphQLBody } from "../helpers/server.ts";
import { startTestWorker, type TestWorker } from "../helpers/worker.ts";
import { TotpDevice } from "./totpCodes.ts";

let api: Api;
let worker: TestWorker;

beforeAll(async () => {
  api = await startApi({ LOGIN_MAX_FAILURES: "8" });
  worker = await startTestWorker(api.db);
});
afterAll(async () => {
  await worker.close();
  await api.close();
});

const LOGIN = `mutation ($email: String!, $password: String!) {
  login(input: { email: $email, password: $password }) {
    accessToken refreshToken accountRestored user { id }
    secondStep { token expiresAt methods passkeyOptions }
  }
}`;
const COMPLETE = `mutation ($input: CompleteSecondStepInput!) {
  completeSecondStep(input: $input) { accessToken refreshToken user { id } secondStep { token } }
}`;
const ENROL = `mutation { enrolTotp { secret otpauthUri } }`;
const CONFIRM = `mutation ($code: String!) { confirmTotp(input: { code: $code }) { recoveryCodes } }`;
const DISABLE = `mutation ($input: FreshFactorInput!) { disableTotp(input: $input) { success } }`;
const REGENERATE = `mutation ($input: FreshFactorInput!) { regenerateRecoveryCodes(input: $input) { recoveryCodes } }`;
const FACTORS = `{ mySecondFactors { totpEnabled recoveryCodesLeft passkeys } }`;

interface SecondStep {
  token: string;
  expiresAt: string;
  methods: string[];
  passkeyOptions: unknown;
}
interface Payload {
  accessToken: string | null;
  refreshToken: string | null;
  user: { id: string } | null;
  secondStep: SecondStep | null;
}

async function login(account: TestAccount): Promise<GraphQLBody> {
  return (await api.server.graphql(LOGIN, { email: account.email, password: account.password }))
    .body;
}

async function secondStepOf(account: TestAccount): Promise<SecondStep> {
  const payload = ok<{ login: Payload }>(await login(account)).login;
  expect(payload).toMatchObject({ accessToken: null, refreshToken: null, user: null });
  return payload.secondStep!;
}

async function complete(input: Record<string, unknown>): Promise<GraphQLBody> {
  return (await api.server.graphql(COMPLETE, { input })).body;
}

/** A new account with TOTP on: the device that makes its codes, and its recovery codes. */
async function withTotp(): Promise<{ account: TestAccount; device: TotpDevice; codes: string[] }> {
  const account = await api.register();
  const call = api.as(account);
  const { enrolTotp } = ok<{ enrolTotp: { secret: string; otpauthUri: string } }>(
    await call(ENROL),
  );
  const device = new TotpDevice(enrolTotp.secret);
  const { confirmTotp } = ok<{ confirmTotp: { recoveryCodes: string[] } }>(
    await call(CONFIRM, { code: await device.next() }),
  );
  return { account, device, codes: confirmTotp.recoveryCodes };
}

async function audit(
  userId: string,
): Promise<{ action: string; details: Record<string, unknown> }[]> {
  return api.sql(
    `select action, details from app_private.audit_log where user_id = $1 order by id`,
    [userId],
  );
}

describe("enrolment", () => {
  it("gives a secret and an otpauth URI, and is not required until confirmed with a code", async () => {
    const account = await api.register();
    const { enrolTotp } = ok<{ enrolTotp: { secret: string; otpauthUri: string } }>(
      await api.as(account)(ENROL),
    );
    expect(enrolTotp.secret).toMatch(/^[A-Z2-7]{32}$/);
    const uri = new URL(enrolTotp.otpauthUri);
    expect(uri.protocol).toBe("otpauth:");
    expect(decodeURIComponent(enrolTotp.otpauthUri)).toContain(
      `totp/MKing Friend:${account.email}`,
    );
    expect(uri.searchParams.get("secret")).toBe(enrolTotp.secret);
    expect(uri.searchParams.get("issuer")).toBe("MKing Friend");
    // not confirmed: login still gives tokens, exactly as before
    const payload = ok<{ login: Payload }>(await login(account)).login;
    expect(payload.accessToken).toEqual(expect.any(String));
    expect(payload.secondStep).toBeNull();

    // a wrong first code does not turn it on
    const wrong = await api.as(account)(CONFIRM, { code: "000000" });
    expect(refusal(wrong)).toMatchObject({ code: "SECOND_FACTOR_INVALID" });
    const device = new TotpDevice(enrolTotp.secret);
    const codes = ok<{ confirmTotp: { recoveryCodes: string[] } }>(
      await api.as(account)(CONFIRM, { code: await device.next() }),
    ).confirmTotp.recoveryCodes;
    expect(codes).toHaveLength(10);
    expect(new Set(codes).size).toBe(10);
    // stored hashed only
    const stored = await api.sql<{ code_hash: string }>(
      `select code_hash from app_private.recovery_codes where user_id = $1`,
      [account.id],
    );
    expect(stored).toHaveLength(10);
    expect(stored.map((r) => r.code_hash)).not.toContain(codes[0]);
    expect(
      ok<{ mySecondFactors: unknown }>(await api.as(account)(FACTORS)).mySecondFactors,
    ).toEqual({
      totpEnabled: true,
      recoveryCodesLeft: 10,
      passkeys: 0,
    });
    expect((await audit(account.id)).map((a) => a.action)).toContain("totp_enabled");
    // once on, enrolling again is refused (disable first)
    expect(refusal(await api.as(account)(ENROL))).toMatchObject({ code: "CONFLICT" });
  });
});

describe("the second step", () => {
  it("login gives a second-step token instead of tokens; the right code completes it", async () => {
    const { account, device } = await withTotp();
    const step = await secondStepOf(account);
    expect(step.methods).toEqual(["TOTP", "RECOVERY_CODE"]);
    expect(step.passkeyOptions).toBeNull();
    expect(new Date(step.expiresAt).getTime() - Date.now()).toBeLessThanOrEqual(300_000);
    // no session was left behind by the password step
    const sessions = await api.sql(`select 1 from app_private.refresh_tokens where user_id = $1`, [
      account.id,
    ]);
    expect(sessions).toHaveLength(1); // register's

    const done = ok<{ completeSecondStep: Payload }>(
      await complete({ token: step.token, code: await device.next() }),
    ).completeSecondStep;
    expect(done.user).toEqual({ id: account.id });
    const me = await api.server.graphql(`{ currentUser { id } }`, {}, { token: done.accessToken! });
    expect(me.body.data).toEqual({ currentUser: { id: account.id } });
    // the token is single use
    expect(refusal(await complete({ token: step.token, code: await device.next() }))).toMatchObject(
      { code: "CHALLENGE_INVALID" },
    );
    expect((await audit(account.id)).map((a) => a.action)).toContain("second_step_passed");
  });

  it("refuses a wrong code and audits it; the same challenge still takes the right one", async () => {
    const { account, device } = await withTotp();
    const step = await secondStepOf(account);
    const wrong = await complete({ token: step.token, code: "123456" });
    expect(refusal(wrong)).toMatchObject({ code: "SECOND_FACTOR_INVALID", reason: "bad_code" });
    expect(wrong.data?.completeSecondStep ?? null).toBeNull();
    const failures = (await audit(account.id)).filter((a) => a.action === "second_step_failed");
    expect(failures).toEqual([
      { action: "second_step_failed", details: { method: "totp", purpose: "sign_in" } },
    ]);
    ok(await complete({ token: step.token, code: await device.next() }));
  });

  it("accepts a code once: the same code is refused in its step", async () => {
    const { account, device } = await withTotp();
    ok(await complete({ token: (await secondStepOf(account)).token, code: await device.next() }));
    const again = await complete({
      token: (await secondStepOf(account)).token,
      code: await device.last(),
    });
    expect(refusal(again)).toMatchObject({ code: "SECOND_FACTOR_INVALID", reason: "replayed" });
  });

  it("takes each recovery code once, in any case and without dashes", async () => {
    const { account, codes } = await withTotp();
    const typed = codes[3]!.toUpperCase().replace(/-/g, " ");
    ok(await complete({ token: (await secondStepOf(account)).token, recoveryCode: typed }));
    const again = await complete({
      token: (await secondStepOf(account)).token,
      recoveryCode: codes[3],
    });
    expect(refusal(again)).toMatchObject({ code: "SECOND_FACTOR_INVALID" });
    const actions = (await audit(account.id)).map((a) => a.action);
    expect(actions.filter((a) => a === "recovery_code_used")).toHaveLength(1);
    expect(
      ok<{ mySecondFactors: { recoveryCodesLeft: number } }>(await api.as(account)(FACTORS))
        .mySecondFactors.recoveryCodesLeft,
    ).toBe(9);
  });

  it("needs exactly one factor", async () => {
    const { account, device, codes } = await withTotp();
    const { token } = await secondStepOf(account);
    expect(refusal(await complete({ token }))).toMatchObject({ code: "INVALID_INPUT" });
    expect(
      refusal(await complete({ token, code: await device.next(), recoveryCode: codes[0] })),
    ).toMatchObject({ code: "INVALID_INPUT" });
  });

  it("lets a challenge take 5 attempts, then it is dead even for the right code", async () => {
    const { account, device } = await withTotp();
    const { token } = await secondStepOf(account);
    for (let i = 0; i < 5; i += 1) {
      expect(refusal(await complete({ token, code: "000000" }))).toMatchObject({
        code: "SECOND_FACTOR_INVALID",
      });
    }
    expect(refusal(await complete({ token, code: await device.next() }))).toMatchObject({
      code: "RATE_LIMITED",
    });
  });

  it("limits failures per account across challenges (LOGIN_MAX_FAILURES in the window)", async () => {
    const { account, device } = await withTotp();
    for (let round = 0; round < 2; round += 1) {
      const { token } = await secondStepOf(account);
      for (let i = 0; i < 4; i += 1) await complete({ token, code: "000000" });
    }
    // 8 failures: a new challenge is refused at once, whatever the code
    const { token } = await secondStepOf(account);
    expect(refusal(await complete({ token, code: await device.next() }))).toMatchObject({
      code: "RATE_LIMITED",
    });
    const failed = (await audit(account.id)).filter((a) => a.action === "second_step_failed");
    expect(failed).toHaveLength(8);
  });

  it("refuses an expired second-step token", async () => {
    const { account, device } = await withTotp();
    const { token } = await secondStepOf(account);
    await api.sql(
      `update app_private.second_step_challenges set expires_at = now() - interval '1 second'
        where token_hash = app_private.hash_token($1)`,
      [token],
    );
    expect(refusal(await complete({ token, code: await device.next() }))).toMatchObject({
      code: "CHALLENGE_INVALID",
      reason: "expired",
    });
  });

  it("refuses a made-up token", async () => {
    expect(refusal(await complete({ token: "not-a-token", code: "123456" }))).toMatchObject({
      code: "CHALLENGE_INVALID",
    });
  });

  it("still refuses a wrong password before any second step", async () => {
    const { account } = await withTotp();
    const body = await login({ ...account, password: "not the password" });
    expect(refusal(body)).toMatchObject({ code: "UNAUTHENTICATED" });
  });
});

describe("changing factors needs a fresh second factor", () => {
  it("disableTotp refuses without a right code and turns TOTP off with one", async () => {
    const { account, device } = await withTotp();
    const call = api.as(account);
    expect(refusal(await call(DISABLE, { input: {} }))).toMatchObject({ code: "INVALID_INPUT" });
    expect(refusal(await call(DISABLE, { input: { code: "000000" } }))).toMatchObject({
      code: "SECOND_FACTOR_INVALID",
    });
    // the code used to sign in or confirm cannot be used again
    expect(refusal(await call(DISABLE, { input: { code: await device.last() } }))).toMatchObject({
      code: "SECOND_FACTOR_INVALID",
    });
    expect(ok(await call(DISABLE, { input: { code: await device.next() } }))).toEqual({
      disableTotp: { success: true },
    });
    const actions = (await audit(account.id)).map((a) => a.action);
    expect(actions).toEqual(expect.arrayContaining(["second_step_failed", "totp_disabled"]));
    // no factor left: plain login again, and the recovery codes are gone
    expect(ok<{ login: Payload }>(await login(account)).login.accessToken).toEqual(
      expect.any(String),
    );
    expect(ok<{ mySecondFactors: unknown }>(await call(FACTORS)).mySecondFactors).toEqual({
      totpEnabled: false,
      recoveryCodesLeft: 0,
      passkeys: 0,
    });
  });

  it("disableTotp takes a recovery code too", async () => {
    const { account, codes } = await withTotp();
    ok(await api.as(account)(DISABLE, { input: { recoveryCode: codes[0] } }));
  });

  it("regenerateRecoveryCodes replaces the set; the old codes stop working", async () => {
    const { account, device, codes } = await withTotp();
    const fresh = ok<{ regenerateRecoveryCodes: { recoveryCodes: string[] } }>(
      await api.as(account)(REGENERATE, { input: { code: await device.next() } }),
    ).regenerateRecoveryCodes.recoveryCodes;
    expect(fresh).toHaveLength(10);
    expect(fresh).not.toContain(codes[1]);
    const old = await complete({
      token: (await secondStepOf(account)).token,
      recoveryCode: codes[1],
    });
    expect(refusal(old)).toMatchObject({ code: "SECOND_FACTOR_INVALID" });
    ok(await complete({ token: (await secondStepOf(account)).token, recoveryCode: fresh[1] }));
    expect((await audit(account.id)).map((a) => a.action)).toContain("recovery_codes_regenerated");
  });

  it("is refused to anonymous callers", async () => {
    for (const [query, variables] of [
      [ENROL, {}],
      [CONFIRM, { code: "123456" }],
      [DISABLE, { input: { code: "123456" } }],
      [REGENERATE, { input: { code: "123456" } }],
    ] as const) {
      expect(refusal(await api.as(null)(query, variables))).toMatchObject({
        code: "UNAUTHENTICATED",
      });
    }
  });
});

describe("sessions ending keep the factors", () => {
  it("logoutEverywhere does not remove TOTP or recovery codes", async () => {
    const { account } = await withTotp();
    ok(await api.as(account)(`mutation { logoutEverywhere { success } }`));
    expect((await secondStepOf(account)).methods).toEqual(["TOTP", "RECOVERY_CODE"]);
  });

  it("resetPassword does not remove them either", async () => {
    const { account } = await withTotp();
    ok(
      await api.as(null)(
        `mutation ($e: String!) { requestPasswordReset(input: { email: $e }) { success } }`,
        {
          e: account.email,
        },
      ),
    );
    // the first e-mail is the verification one register sent
    const message = await worker.message(account.email, 1);
    const token = decodeURIComponent(/token=([A-Za-z0-9_%-]+)/.exec(message.text)![1]!);
    ok(
      await api.as(null)(
        `mutation ($t: String!) { resetPassword(input: { token: $t, newPassword: "a brand new password" }) { success } }`,
        { t: token },
      ),
    );
    const step = await secondStepOf({ ...account, password: "a brand new password" });
    expect(step.methods).toEqual(["TOTP", "RECOVERY_CODE"]);
    const rows = await withClient(
      api.db.ownerUrl,
      async (c) =>
        (
          await c.query(
            `select 1 from app_private.totp_factors where user_id = $1 and confirmed_at is not null`,
            [account.id],
          )
        ).rows,
    );
    expect(rows).toHaveLength(1);
  });
});
