/**
 * An OpenID Connect sign-in is a first factor like a password (migrations/current.sql "sign-in:
 * restore needs every factor"): for an account awaiting deletion that has a second factor,
 * completeOidcSignIn restores nothing and hands out no tokens; the second step restores it. Without
 * a factor, completeOidcSignIn restores it as before.
 */
import { ok, startApi, type Api } from "../helpers/api.ts";
import {
  CookieJar,
  followUntil,
  startIdentityProvider,
  type TestIdentityProvider,
} from "./identityProvider.ts";
import { TotpDevice } from "./totpCodes.ts";

const APP = "http://127.0.0.1:9/app/callback";
const SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

let api: Api;
let idp: TestIdentityProvider;
let callback: string;

beforeAll(async () => {
  const provider = await startIdentityProvider();
  api = await startApi({
    OIDC_PROVIDERS: JSON.stringify([
      {
        name: "idp",
        issuer: provider.issuer,
        clientId: "app-a",
        clientSecret: "secret-a-0123456789abcdef0123456789",
      },
    ]),
    OIDC_APP_REDIRECT_URIS: APP,
  });
  callback = `${api.server.url}/auth/oidc/idp/callback`;
  idp = provider.configure([callback]);
});
afterAll(async () => {
  await api?.close();
  await idp?.close();
});

const START = `mutation { startOidcSignIn(input: { provider: "idp" }) { authorizationUrl } }`;
const COMPLETE_OIDC = `mutation ($code: String!) {
  completeOidcSignIn(input: { code: $code }) {
    accessToken accountRestored user { id } secondStep { token methods }
  }
}`;
const COMPLETE_STEP = `mutation ($input: CompleteSecondStepInput!) {
  completeSecondStep(input: $input) { accessToken accountRestored user { id } }
}`;

interface Payload {
  accessToken: string | null;
  accountRestored: boolean;
  user: { id: string } | null;
  secondStep?: { token: string; methods: string[] } | null;
}

/** The whole round trip through the provider for `sub`: the payload of completeOidcSignIn. */
async function oidcSignIn(sub: string): Promise<Payload> {
  const start = ok<{ startOidcSignIn: { authorizationUrl: string } }>(await api.as(null)(START));
  idp.nextAccount = sub;
  const back = await followUntil(start.startOidcSignIn.authorizationUrl, callback, new CookieJar());
  const response = await fetch(back, { redirect: "manual" });
  expect(response.status).toBe(303);
  const code = new URL(response.headers.get("location")!).searchParams.get("signin_code")!;
  return ok<{ completeOidcSignIn: Payload }>(await api.as(null)(COMPLETE_OIDC, { code }))
    .completeOidcSignIn;
}

/** A new provider identity with its account (first sign-in), then its deletion asked for. */
async function deletedOidcAccount(withTotp: boolean): Promise<{ sub: string; userId: string }> {
  const sub = `sub-${Math.random().toString(36).slice(2, 10)}`;
  idp.accounts.set(sub, { email: `${sub}@example.org`, emailVerified: true });
  const userId = (await oidcSignIn(sub)).user!.id;
  if (withTotp) {
    await api.sql(
      `insert into app_private.totp_factors (user_id, secret, confirmed_at) values ($1, $2, now())`,
      [userId, SECRET],
    );
  }
  // the account has no password to confirm requestAccountDeletion with: the state it leaves
  await api.sql(
    `update app_public.users set status = 'deleted', deletion_requested_at = now(),
            deletion_scheduled_for = now() + interval '14 days' where id = $1`,
    [userId],
  );
  return { sub, userId };
}

async function status(userId: string): Promise<{ status: string; pending: boolean }> {
  const [row] = await api.sql<{ status: string; pending: boolean }>(
    `select status, deletion_requested_at is not null as pending from app_public.users where id = $1`,
    [userId],
  );
  return row!;
}

it("does not restore an account with a second factor before its second step", async () => {
  const { sub, userId } = await deletedOidcAccount(true);
  const first = await oidcSignIn(sub);
  expect(first).toMatchObject({ accessToken: null, accountRestored: false, user: null });
  expect(first.secondStep?.methods).toEqual(["TOTP"]);
  expect(await status(userId)).toEqual({ status: "deleted", pending: true });

  const code = await new TotpDevice(SECRET).next();
  const done = ok<{ completeSecondStep: Payload }>(
    await api.as(null)(COMPLETE_STEP, { input: { token: first.secondStep!.token, code } }),
  ).completeSecondStep;
  expect(done).toMatchObject({ accountRestored: true, user: { id: userId } });
  expect(done.accessToken).toEqual(expect.any(String));
  expect(await status(userId)).toEqual({ status: "active", pending: false });
});

it("restores an account without a second factor at once, as before", async () => {
  const { sub, userId } = await deletedOidcAccount(false);
  const signedIn = await oidcSignIn(sub);
  expect(signedIn).toMatchObject({ accountRestored: true, user: { id: userId }, secondStep: null });
  expect(await status(userId)).toEqual({ status: "active", pending: false });
});
