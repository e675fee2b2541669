/**
 * Passkeys through the real HTTP server with a software authenticator (softAuthenticator.ts):
 * registration, passwordless sign-in, passkeys as the second step of a password sign-in, and the
 * forgeries WebAuthn exists to stop (wrong signature, wrong origin, a replayed challenge, a
 * counter going back).
 */
import { startApi, ok, refusal, type Api } from "../helpers/api.ts";
import type { TestAccount } from "../helpers/accounts.ts";
import type { GraphQLBody } from "../helpers/server.ts";
import { SoftAuthenticator, type CeremonyOptions } from "./softAuthenticator.ts";

const ORIGIN = "https://app.mking.test";
const RP_ID = "mking.test";

let api: Api;

beforeAll(async () => {
  api = await startApi({ WEBAUTHN_RP_ID: RP_ID, WEBAUTHN_ORIGIN: ORIGIN });
});
afterAll(async () => {
  await api.close();
});

const START_REGISTRATION = `mutation { startPasskeyRegistration { token expiresAt options } }`;
const FINISH_REGISTRATION = `mutation ($input: FinishPasskeyRegistrationInput!) {
  finishPasskeyRegistration(input: $input) { passkey { id name createdAt lastUsedAt } recoveryCodes }
}`;
const START_SIGN_IN = `mutation ($input: StartPasskeySignInInput) { startPasskeySignIn(input: $input) { token options } }`;
const FINISH_SIGN_IN = `mutation ($input: FinishPasskeySignInInput!) {
  finishPasskeySignIn(input: $input) { accessToken refreshToken user { id } }
}`;
const LOGIN = `mutation ($email: String!, $password: String!) {
  login(input: { email: $email, password: $password }) { accessToken secondStep { token methods passkeyOptions } }
}`;
const COMPLETE = `mutation ($input: CompleteSecondStepInput!) { completeSecondStep(input: $input) { accessToken user { id } } }`;
const MY_PASSKEYS = `{ myPasskeys { id name lastUsedAt } }`;
const START_VERIFICATION = `mutation { startPasskeyVerification { token options } }`;
const REMOVE = `mutation ($input: RemovePasskeyInput!) { removePasskey(input: $input) { success } }`;

interface Ceremony {
  token: string;
  options: CeremonyOptions;
}

const device = () => new SoftAuthenticator({ rpId: RP_ID, origin: ORIGIN });

async function actions(userId: string): Promise<string[]> {
  const rows = await api.sql<{ action: string }>(
    `select action from app_private.audit_log where user_id = $1 order by id`,
    [userId],
  );
  return rows.map((r) => r.action);
}

/** A new account with one passkey on `key`. */
async function withPasskey(
  key = device(),
): Promise<{ account: TestAccount; key: SoftAuthenticator; passkeyId: string; codes: string[] }> {
  const account = await api.register();
  const call = api.as(account);
  const start = ok<{ startPasskeyRegistration: Ceremony }>(
    await call(START_REGISTRATION),
  ).startPasskeyRegistration;
  const done = ok<{
    finishPasskeyRegistration: { passkey: { id: string }; recoveryCodes: string[] | null };
  }>(
    await call(FINISH_REGISTRATION, {
      input: { token: start.token, response: key.register(start.options), name: "Laptop" },
    }),
  ).finishPasskeyRegistration;
  return { account, key, passkeyId: done.passkey.id, codes: done.recoveryCodes ?? [] };
}

async function startSignIn(email?: string): Promise<Ceremony> {
  return ok<{ startPasskeySignIn: Ceremony }>(
    await api.as(null)(START_SIGN_IN, { input: email ? { email } : null }),
  ).startPasskeySignIn;
}

async function finishSignIn(token: string, response: unknown): Promise<GraphQLBody> {
  return api.as(null)(FINISH_SIGN_IN, { input: { token, response } });
}

describe("registration", () => {
  it("adds a passkey with options for this relying party, audited; the first brings recovery codes", async () => {
    const account = await api.register();
    const call = api.as(account);
    const start = ok<{ startPasskeyRegistration: Ceremony & { options: Record<string, unknown> } }>(
      await call(START_REGISTRATION),
    ).startPasskeyRegistration;
    expect(start.options).toMatchObject({
      rp: { id: RP_ID, name: "MKing Friend" },
      user: { name: account.email },
      attestation: "none",
    });
    const key = device();
    const done = ok<{
      finishPasskeyRegistration: {
        passkey: { id: string; name: string; lastUsedAt: string | null };
        recoveryCodes: string[];
      };
    }>(
      await call(FINISH_REGISTRATION, {
        input: { token: start.token, response: key.register(start.options), name: "Laptop" },
      }),
    ).finishPasskeyRegistration;
    expect(done.passkey).toMatchObject({ name: "Laptop", lastUsedAt: null });
    expect(done.recoveryCodes).toHaveLength(10);
    expect(ok(await call(MY_PASSKEYS))).toEqual({
      myPasskeys: [{ id: done.passkey.id, name: "Laptop", lastUsedAt: null }],
    });
    expect(await actions(account.id)).toContain("passkey_added");

    // the second passkey brings no new codes, and the first is excluded from its options
    const second = ok<{
      startPasskeyRegistration: Ceremony & { options: { excludeCredentials: { id: string }[] } };
    }>(await call(START_REGISTRATION)).startPasskeyRegistration;
    expect(second.options.excludeCredentials.map((c) => c.id)).toEqual([key.id]);
    const again = ok<{ finishPasskeyRegistration: { recoveryCodes: string[] | null } }>(
      await call(FINISH_REGISTRATION, {
        input: { token: second.token, response: device().register(second.options) },
      }),
    ).finishPasskeyRegistration;
    expect(again.recoveryCodes).toBeNull();
  });

  it("refuses an attestation from another origin, and a registration token used twice", async () => {
    const account = await api.register();
    const call = api.as(account);
    const start = ok<{ startPasskeyRegistration: Ceremony }>(
      await call(START_REGISTRATION),
    ).startPasskeyRegistration;
    const wrongOrigin = await call(FINISH_REGISTRATION, {
      input: {
        token: start.token,
        response: device().register(start.options, { origin: "https://evil.example" }),
      },
    });
    expect(refusal(wrongOrigin)).toMatchObject({ code: "INVALID_INPUT", field: "response" });
    ok(
      await call(FINISH_REGISTRATION, {
        input: { token: start.token, response: device().register(start.options) },
      }),
    );
    const replayed = await call(FINISH_REGISTRATION, {
      input: { token: start.token, response: device().register(start.options) },
    });
    expect(refusal(replayed)).toMatchObject({ code: "CHALLENGE_INVALID" });
  });

  it("does not let another user finish someone's registration", async () => {
    const ana = await api.register();
    const bea = await api.register();
    const start = ok<{ startPasskeyRegistration: Ceremony }>(
      await api.as(ana)(START_REGISTRATION),
    ).startPasskeyRegistration;
    const body = await api.as(bea)(FINISH_REGISTRATION, {
      input: { token: start.token, response: device().register(start.options) },
    });
    expect(refusal(body)).toMatchObject({ code: "CHALLENGE_INVALID" });
  });
});

describe("passwordless sign-in", () => {
  it("signs in with the passkey alone (discoverable, or narrowed by e-mail), counted and audited", async () => {
    const { account, key } = await withPasskey();
    const open = await startSignIn();
    expect(open.options).toMatchObject({ rpId: RP_ID, allowCredentials: [] });
    const payload = ok<{ finishPasskeySignIn: { accessToken: string; user: { id: string } } }>(
      await finishSignIn(open.token, key.assert(open.options)),
    ).finishPasskeySignIn;
    expect(payload.user).toEqual({ id: account.id });
    const me = await api.server.graphql(
      `{ currentUser { id } }`,
      {},
      { token: payload.accessToken },
    );
    expect(me.body.data).toEqual({ currentUser: { id: account.id } });

    const narrowed = await startSignIn(account.email);
    expect(narrowed.options).toMatchObject({
      allowCredentials: [{ id: key.id, type: "public-key" }],
    });
    ok(await finishSignIn(narrowed.token, key.assert(narrowed.options)));
    expect((await actions(account.id)).filter((a) => a === "passkey_sign_in")).toHaveLength(2);
    const [stored] = await api.sql<{ counter: string }>(
      `select counter::text from app_private.webauthn_credentials where user_id = $1`,
      [account.id],
    );
    expect(stored!.counter).toBe("2");
  });

  it("refuses a wrong signature, a wrong origin and a wrong relying party, auditing each", async () => {
    const { account, key } = await withPasskey();
    for (const override of [
      { tamper: true },
      { origin: "https://evil.example" },
      { rpId: "evil.example" },
    ]) {
      const open = await startSignIn();
      const body = await finishSignIn(open.token, key.assert(open.options, override));
      expect(refusal(body)).toMatchObject({ code: "SECOND_FACTOR_INVALID" });
    }
    expect((await actions(account.id)).filter((a) => a === "second_step_failed")).toHaveLength(3);
  });

  it("refuses a replayed challenge: a ceremony's token and its answer work once", async () => {
    const { key } = await withPasskey();
    const open = await startSignIn();
    const answer = key.assert(open.options);
    ok(await finishSignIn(open.token, answer));
    expect(refusal(await finishSignIn(open.token, answer))).toMatchObject({
      code: "CHALLENGE_INVALID",
    });
    // the same answer under a new ceremony: its challenge does not match
    const other = await startSignIn();
    expect(refusal(await finishSignIn(other.token, answer))).toMatchObject({
      code: "SECOND_FACTOR_INVALID",
    });
  });

  it("refuses a counter that goes back (a cloned authenticator)", async () => {
    const { key } = await withPasskey();
    const first = await startSignIn();
    ok(await finishSignIn(first.token, key.assert(first.options, { counter: 10 })));
    const second = await startSignIn();
    const body = await finishSignIn(second.token, key.assert(second.options, { counter: 5 }));
    expect(refusal(body)).toMatchObject({ code: "SECOND_FACTOR_INVALID" });
  });

  it("refuses a passkey of another account when the sign-in names an e-mail", async () => {
    const { account } = await withPasskey();
    const { key: otherKey } = await withPasskey();
    const open = await startSignIn(account.email);
    expect(refusal(await finishSignIn(open.token, otherKey.assert(open.options)))).toMatchObject({
      code: "SECOND_FACTOR_INVALID",
    });
  });

  it("refuses an unknown passkey", async () => {
    const open = await startSignIn();
    expect(refusal(await finishSignIn(open.token, device().assert(open.options)))).toMatchObject({
      code: "SECOND_FACTOR_INVALID",
    });
  });
});

describe("as the second step of a password sign-in", () => {
  it("login asks for the passkey, with request options; the assertion completes it", async () => {
    const { account, key } = await withPasskey();
    const body = await api.as(null)(LOGIN, { email: account.email, password: account.password });
    const step = ok<{
      login: {
        accessToken: null;
        secondStep: { token: string; methods: string[]; passkeyOptions: CeremonyOptions };
      };
    }>(body).login.secondStep;
    expect(step.methods).toEqual(["RECOVERY_CODE", "PASSKEY"]);
    expect(step.passkeyOptions).toMatchObject({ rpId: RP_ID, allowCredentials: [{ id: key.id }] });
    const wrong = await api.as(null)(COMPLETE, {
      input: {
        token: step.token,
        passkey: key.assert(step.passkeyOptions, { origin: "https://evil.example" }),
      },
    });
    expect(refusal(wrong)).toMatchObject({ code: "SECOND_FACTOR_INVALID" });
    const done = ok<{ completeSecondStep: { user: { id: string } } }>(
      await api.as(null)(COMPLETE, {
        input: { token: step.token, passkey: key.assert(step.passkeyOptions) },
      }),
    );
    expect(done.completeSecondStep.user).toEqual({ id: account.id });
  });
});

describe("removing a passkey", () => {
  it("needs a fresh factor: a passkey verification or a recovery code; audited", async () => {
    const { account, key, passkeyId, codes } = await withPasskey();
    const call = api.as(account);
    expect(refusal(await call(REMOVE, { input: { id: passkeyId } }))).toMatchObject({
      code: "INVALID_INPUT",
    });
    expect(
      refusal(
        await call(REMOVE, { input: { id: passkeyId, recoveryCode: "aaaa-bbbb-cccc-dddd" } }),
      ),
    ).toMatchObject({ code: "SECOND_FACTOR_INVALID" });
    const verification = ok<{ startPasskeyVerification: Ceremony }>(
      await call(START_VERIFICATION),
    ).startPasskeyVerification;
    const forged = await call(REMOVE, {
      input: {
        id: passkeyId,
        passkeyToken: verification.token,
        passkey: key.assert(verification.options, { tamper: true }),
      },
    });
    expect(refusal(forged)).toMatchObject({ code: "SECOND_FACTOR_INVALID" });
    const fresh = ok<{ startPasskeyVerification: Ceremony }>(
      await call(START_VERIFICATION),
    ).startPasskeyVerification;
    ok(
      await call(REMOVE, {
        input: { id: passkeyId, passkeyToken: fresh.token, passkey: key.assert(fresh.options) },
      }),
    );
    expect(ok(await call(MY_PASSKEYS))).toEqual({ myPasskeys: [] });
    expect(await actions(account.id)).toEqual(
      expect.arrayContaining(["passkey_removed", "second_step_failed"]),
    );
    // no factor left: the recovery codes went with it, and login gives tokens again
    const body = await api.as(null)(LOGIN, { email: account.email, password: account.password });
    expect(ok<{ login: { accessToken: string | null } }>(body).login.accessToken).toEqual(
      expect.any(String),
    );
    expect(codes).toHaveLength(10);
  });

  it("cannot remove someone else's passkey", async () => {
    const { passkeyId } = await withPasskey();
    const { account: other, codes } = await withPasskey();
    const body = await api.as(other)(REMOVE, { input: { id: passkeyId, recoveryCode: codes[0] } });
    expect(refusal(body)).toMatchObject({ code: "NOT_FOUND" });
    const [row] = await api.sql<{ n: number }>(
      `select count(*)::int as n from app_private.webauthn_credentials where id = $1`,
      [passkeyId],
    );
    expect(row!.n).toBe(1);
  });

  it("is refused to anonymous callers", async () => {
    for (const query of [START_REGISTRATION, START_VERIFICATION, MY_PASSKEYS]) {
      expect(refusal(await api.as(null)(query))).toMatchObject({ code: "UNAUTHENTICATED" });
    }
  });
});
