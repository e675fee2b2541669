/**
 * Restoring an account awaiting deletion takes every factor a sign-in takes (migrations/current.sql
 * "sign-in: restore needs every factor", src/auth/signIn.ts completeSignIn): with TOTP on, the
 * password step of login restores nothing and hands out no tokens, the second step restores it;
 * cancelAccountDeletion with the password alone is refused (SECOND_FACTOR_REQUIRED). An account
 * without a factor is still restored by its password.
 */
import type { TestAccount } from "../helpers/accounts.ts";
import { ok, refusal, startApi, type Api } from "../helpers/api.ts";
import type { GraphQLBody } from "../helpers/server.ts";
import { startTestWorker, type TestWorker } from "../helpers/worker.ts";
import { TotpDevice } from "./totpCodes.ts";

let api: Api;
let worker: TestWorker;

beforeAll(async () => {
  api = await startApi();
  worker = await startTestWorker(api.db);
});
afterAll(async () => {
  await worker.close();
  await api.close();
});

const LOGIN = `mutation ($email: String!, $password: String!) {
  login(input: { email: $email, password: $password }) {
    accessToken refreshToken accountRestored user { id } secondStep { token methods }
  }
}`;
const COMPLETE = `mutation ($input: CompleteSecondStepInput!) {
  completeSecondStep(input: $input) { accessToken refreshToken accountRestored user { id } }
}`;
const ENROL = `mutation { enrolTotp { secret } }`;
const CONFIRM = `mutation ($code: String!) { confirmTotp(input: { code: $code }) { recoveryCodes } }`;
const REQUEST_DELETION = `mutation ($p: String!) { requestAccountDeletion(input: { password: $p }) { success } }`;
const CANCEL_DELETION = `mutation ($e: String!, $p: String!) { cancelAccountDeletion(input: { email: $e, password: $p }) { success } }`;

interface Payload {
  accessToken: string | null;
  refreshToken: string | null;
  accountRestored: boolean;
  user: { id: string } | null;
}
interface LoginPayload extends Payload {
  secondStep: { token: string; methods: string[] } | null;
}

async function login(account: TestAccount): Promise<GraphQLBody> {
  return (await api.server.graphql(LOGIN, { email: account.email, password: account.password }))
    .body;
}

async function complete(input: Record<string, unknown>): Promise<GraphQLBody> {
  return (await api.server.graphql(COMPLETE, { input })).body;
}

async function cancel(account: TestAccount, password = account.password): Promise<GraphQLBody> {
  return (await api.server.graphql(CANCEL_DELETION, { e: account.email, p: password })).body;
}

/** A new account with TOTP on, and the device that makes its codes. */
async function withTotp(): Promise<{ account: TestAccount; device: TotpDevice }> {
  const account = await api.register();
  const { enrolTotp } = ok<{ enrolTotp: { secret: string } }>(await api.as(account)(ENROL));
  const device = new TotpDevice(enrolTotp.secret);
  ok(await api.as(account)(CONFIRM, { code: await device.next() }));
  return { account, device };
}

async function requestDeletion(account: TestAccount): Promise<void> {
  expect(
    ok<{ requestAccountDeletion: { success: boolean } }>(
      await api.as(account)(REQUEST_DELETION, { p: account.password }),
    ).requestAccountDeletion.success,
  ).toBe(true);
}

/** Where the account stands: still awaiting erasure (with its job), and its live sessions. */
async function state(
  userId: string,
): Promise<{ status: string; pending: boolean; erase_job: boolean; live_sessions: number }> {
  const [row] = await api.sql<{
    status: string;
    pending: boolean;
    erase_job: boolean;
    live_sessions: number;
  }>(
    `select u.status, u.deletion_requested_at is not null as pending,
            exists (select 1 from graphile_worker.jobs j where j.key = 'account__erase:' || u.id) as erase_job,
            (select count(*)::int from app_private.refresh_tokens r
              where r.user_id = u.id and r.revoked_at is null and r.used_at is null) as live_sessions
       from app_public.users u where u.id = $1`,
    [userId],
  );
  return row!;
}

const AWAITING_ERASURE = { status: "deleted", pending: true, erase_job: true, live_sessions: 0 };

describe("an account with TOTP awaiting deletion", () => {
  it("is not restored by the password step of login; the second step restores it", async () => {
    const { account, device } = await withTotp();
    await requestDeletion(account);
    expect(await state(account.id)).toEqual(AWAITING_ERASURE);

    const first = ok<{ login: LoginPayload }>(await login(account)).login;
    expect(first).toMatchObject({
      accessToken: null,
      refreshToken: null,
      accountRestored: false,
      user: null,
    });
    expect(first.secondStep?.methods).toContain("TOTP");
    // the password alone changed nothing: still deleted, still to be erased, no session
    expect(await state(account.id)).toEqual(AWAITING_ERASURE);

    // a wrong code restores nothing either
    const wrong = await complete({ token: first.secondStep!.token, code: "000000" });
    expect(refusal(wrong)).toMatchObject({ code: "SECOND_FACTOR_INVALID" });
    expect(await state(account.id)).toEqual(AWAITING_ERASURE);

    const done = ok<{ completeSecondStep: Payload }>(
      await complete({ token: first.secondStep!.token, code: await device.next() }),
    ).completeSecondStep;
    expect(done).toMatchObject({ accountRestored: true, user: { id: account.id } });
    expect(done.accessToken).toEqual(expect.any(String));
    expect(await state(account.id)).toEqual({
      status: "active",
      pending: false,
      erase_job: false,
      live_sessions: 1,
    });
    const me = await api.server.graphql(`{ currentUser { id } }`, {}, { token: done.accessToken! });
    expect(ok(me.body)).toEqual({ currentUser: { id: account.id } });
  });

  it("is not restored by cancelAccountDeletion with the password alone", async () => {
    const { account, device } = await withTotp();
    await requestDeletion(account);

    expect(refusal(await cancel(account))).toMatchObject({
      code: "SECOND_FACTOR_REQUIRED",
      reason: "sign_in_required",
    });
    expect(await state(account.id)).toEqual(AWAITING_ERASURE);
    // a wrong password is refused as before (it says nothing about the factor)
    expect(refusal(await cancel(account, "not the password"))).toMatchObject({
      code: "UNAUTHENTICATED",
      reason: "bad_credentials",
    });

    // signing in with both factors, as the refusal says, keeps it
    const step = ok<{ login: LoginPayload }>(await login(account)).login.secondStep!;
    const done = ok<{ completeSecondStep: Payload }>(
      await complete({ token: step.token, code: await device.next() }),
    ).completeSecondStep;
    expect(done.accountRestored).toBe(true);
    expect((await state(account.id)).status).toBe("active");
    // nothing pending any more
    expect(ok(await cancel(account))).toEqual({ cancelAccountDeletion: { success: false } });
  });

  it("does not undo a deletion asked for after the password step", async () => {
    const { account, device } = await withTotp();
    // the password step sees an active account ...
    const step = ok<{ login: LoginPayload }>(await login(account)).login.secondStep!;
    // ... and the deletion comes before the second step
    await requestDeletion(account);

    const late = await complete({ token: step.token, code: await device.next() });
    expect(refusal(late)).toMatchObject({ code: "FORBIDDEN", reason: "deleted" });
    expect(await state(account.id)).toEqual(AWAITING_ERASURE);
  });
});

describe("an account without a second factor awaiting deletion", () => {
  it("is still restored by its password: login and cancelAccountDeletion", async () => {
    const ana = await api.register();
    await requestDeletion(ana);
    const signedIn = ok<{ login: LoginPayload }>(await login(ana)).login;
    expect(signedIn).toMatchObject({ accountRestored: true, user: { id: ana.id } });
    expect(signedIn.secondStep).toBeNull();
    expect((await state(ana.id)).status).toBe("active");

    const ben = await api.register();
    await requestDeletion(ben);
    expect(ok(await cancel(ben))).toEqual({ cancelAccountDeletion: { success: true } });
    expect(await state(ben.id)).toMatchObject({
      status: "active",
      pending: false,
      erase_job: false,
    });
  });
});
