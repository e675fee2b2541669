/**
 * Sign-in with an OpenID Connect provider, end to end: a real provider (oidc-provider on its own
 * loopback port, test/auth/identityProvider.ts), the real API server and its callback
 * (src/http/oidc.ts, plugins/oidc.ts, migrations/current.sql "sign-in: openid connect"), driven
 * the way a browser and a client app do: startOidcSignIn → the provider → the API's callback →
 * the app's redirect URI with a one-time code → completeOidcSignIn / linkIdentity.
 */
import { registerAccount, type TestAccount } from "../helpers/accounts.ts";
import { ok, refusal, startApi, type Api } from "../helpers/api.ts";
import {
  CookieJar,
  followUntil,
  startIdentityProvider,
  type IdpAccount,
  type TestIdentityProvider,
} from "./identityProvider.ts";

const APP = "http://127.0.0.1:9/app/callback";

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

const START = `mutation ($provider: String!, $redirectUri: String) {
  startOidcSignIn(input: { provider: $provider, redirectUri: $redirectUri }) { authorizationUrl expiresAt }
}`;
const START_LINK = `mutation { startOidcLink(input: { provider: "idp" }) { authorizationUrl } }`;
const COMPLETE = `mutation ($code: String!) {
  completeOidcSignIn(input: { code: $code }) {
    accessToken refreshToken user { id username displayName account { email emailVerified } }
    secondStep { token methods }
  }
}`;
const LINK = `mutation ($code: String!) { linkIdentity(input: { code: $code }) { identity { id provider subject email } } }`;
const UNLINK = `mutation ($id: UUID!) { unlinkIdentity(input: { id: $id }) { success } }`;
const IDENTITIES = `{ myIdentities { id provider subject email linkedAt } }`;
const LOGIN = `mutation ($email: String!, $password: String!) { login(input: { email: $email, password: $password }) { accessToken } }`;

interface Completed {
  accessToken: string | null;
  user: {
    id: string;
    username: string;
    displayName: string;
    account: { email: string; emailVerified: boolean };
  } | null;
  secondStep: { token: string; methods: string[] } | null;
}

let people = 0;
/** A new person at the provider. */
function person(account: IdpAccount): string {
  people += 1;
  const sub = `sub-${people}-${Math.random().toString(36).slice(2, 8)}`;
  idp.accounts.set(sub, account);
  return sub;
}

/** The provider's authorisation URL from startOidcSignIn (or startOidcLink, signed in). */
async function authorizationUrl(as: TestAccount | null = null): Promise<string> {
  const body = await api.as(as)(as ? START_LINK : START, as ? {} : { provider: "idp" });
  const data = ok<Record<string, { authorizationUrl: string }>>(body);
  return Object.values(data)[0]!.authorizationUrl;
}

/** The browser: signs in at the provider as `sub` and comes back to the API's callback URL. */
async function throughProvider(sub: string, url: string): Promise<URL> {
  idp.nextAccount = sub;
  return followUntil(url, callback, new CookieJar());
}

/** The API's answer to the callback: where it sends the browser (the app), or its refusal. */
async function atCallback(url: URL): Promise<{ status: number; app: URL | null; code?: unknown }> {
  const response = await fetch(url, { redirect: "manual" });
  const location = response.headers.get("location");
  if (location) return { status: response.status, app: new URL(location) };
  const body = (await response.json()) as { errors: { extensions: { code: string } }[] };
  return { status: response.status, app: null, code: body.errors[0]!.extensions.code };
}

/** The whole round trip for `sub`, ending at the app's redirect URI. */
async function signInAt(sub: string, as: TestAccount | null = null): Promise<URL> {
  const back = await atCallback(await throughProvider(sub, await authorizationUrl(as)));
  expect(back.status).toBe(303);
  expect(back.app!.href.startsWith(APP)).toBe(true);
  return back.app!;
}

async function complete(code: string) {
  return api.as(null)(COMPLETE, { code });
}

async function audit(userId: string): Promise<string[]> {
  const rows = await api.sql<{ action: string }>(
    `select action from app_private.audit_log where user_id = $1 order by id`,
    [userId],
  );
  return rows.map((r) => r.action);
}

function asAccount(user: { id: string }, accessToken: string): TestAccount {
  return { id: user.id, email: "", username: "", password: "", accessToken, refreshToken: "" };
}

describe("sign-up and sign-in", () => {
  it("creates an account for a new identity, then signs the same identity into it again", async () => {
    const sub = person({
      email: "Olga@Example.org",
      emailVerified: true,
      name: "Olga K",
      preferredUsername: "olga.k",
    });
    const first = await signInAt(sub);
    expect(first.searchParams.get("signin_code")).toBeTruthy();
    expect(first.searchParams.has("access_token")).toBe(false);
    const payload = ok<{ completeOidcSignIn: Completed }>(
      await complete(first.searchParams.get("signin_code")!),
    ).completeOidcSignIn;
    expect(payload.accessToken).toEqual(expect.any(String));
    expect(payload.user).toMatchObject({
      username: "olga_k",
      displayName: "Olga K",
      account: { email: "olga@example.org", emailVerified: true },
    });
    const identities = ok<{ myIdentities: { provider: string; subject: string; email: string }[] }>(
      await api.as(asAccount(payload.user!, payload.accessToken!))(IDENTITIES),
    ).myIdentities;
    expect(identities).toEqual([
      expect.objectContaining({ provider: "idp", subject: sub, email: "olga@example.org" }),
    ]);

    // the sign-in code works once
    expect(refusal(await complete(first.searchParams.get("signin_code")!))).toMatchObject({
      code: "INVALID_INPUT",
      field: "code",
    });

    const again = await signInAt(sub);
    const second = ok<{ completeOidcSignIn: Completed }>(
      await complete(again.searchParams.get("signin_code")!),
    ).completeOidcSignIn;
    expect(second.user!.id).toBe(payload.user!.id);
    expect(await audit(payload.user!.id)).toEqual([
      "register",
      "identity_linked",
      "oidc_sign_in",
      "oidc_sign_in",
    ]);
  });

  it("makes the derived username unique", async () => {
    const taken = await registerAccount(api.server, { username: "marta_x" });
    const sub = person({ email: "marta_x@elsewhere.org", emailVerified: true });
    const back = await signInAt(sub);
    const payload = ok<{ completeOidcSignIn: Completed }>(
      await complete(back.searchParams.get("signin_code")!),
    ).completeOidcSignIn;
    expect(payload.user!.username).toMatch(/^marta_x_\d{4}$/);
    expect(payload.user!.id).not.toBe(taken.id);
  });

  it("asks an account with a second factor for its second step (completeSignIn)", async () => {
    const sub = person({ email: "tess@example.org", emailVerified: true });
    const first = ok<{ completeOidcSignIn: Completed }>(
      await complete((await signInAt(sub)).searchParams.get("signin_code")!),
    ).completeOidcSignIn;
    await api.sql(
      `insert into app_private.totp_factors (user_id, secret, confirmed_at) values ($1, 'JBSWY3DPEHPK3PXP', now())`,
      [first.user!.id],
    );
    const second = ok<{ completeOidcSignIn: Completed }>(
      await complete((await signInAt(sub)).searchParams.get("signin_code")!),
    ).completeOidcSignIn;
    expect(second).toMatchObject({
      accessToken: null,
      user: null,
      secondStep: { methods: ["TOTP"] },
    });
  });

  it("refuses a redirect URI that is not allowed and an unknown provider", async () => {
    const bad = await api.as(null)(START, {
      provider: "idp",
      redirectUri: "https://evil.example/cb",
    });
    expect(refusal(bad)).toMatchObject({ code: "INVALID_INPUT", field: "redirectUri" });
    const unknown = await api.as(null)(START, { provider: "nope" });
    expect(refusal(unknown)).toMatchObject({ code: "INVALID_INPUT", field: "provider" });
  });
});

describe("an existing account's e-mail", () => {
  it("is linked only after the owner signs in with the password and calls linkIdentity", async () => {
    const owner = await registerAccount(api.server, { email: "nina@example.org" });
    const sub = person({ email: "nina@example.org", emailVerified: true });
    const back = await signInAt(sub);
    expect(back.searchParams.get("signin_code")).toBeNull();
    expect(back.searchParams.get("link_reason")).toBe("email_match");
    const linkCode = back.searchParams.get("link_code")!;
    // not a sign-in, not silently linked
    expect(refusal(await complete(linkCode))).toMatchObject({ code: "INVALID_INPUT" });
    expect(
      await api.sql(`select 1 from app_private.user_authentications where identifier = $1`, [sub]),
    ).toEqual([]);
    // signed out, or as someone else: refused
    expect(refusal(await api.as(null)(LINK, { code: linkCode }))).toMatchObject({
      code: "UNAUTHENTICATED",
    });
    const stranger = await registerAccount(api.server);
    expect(refusal(await api.as(stranger)(LINK, { code: linkCode }))).toMatchObject({
      code: "INVALID_INPUT",
    });

    const signedIn = ok<{ login: { accessToken: string } }>(
      await api.as(null)(LOGIN, { email: owner.email, password: owner.password }),
    ).login;
    const linked = ok<{ linkIdentity: { identity: { provider: string; subject: string } } }>(
      await api.as({ ...owner, accessToken: signedIn.accessToken })(LINK, { code: linkCode }),
    ).linkIdentity;
    expect(linked.identity).toMatchObject({ provider: "idp", subject: sub });

    const now = await signInAt(sub);
    const payload = ok<{ completeOidcSignIn: Completed }>(
      await complete(now.searchParams.get("signin_code")!),
    ).completeOidcSignIn;
    expect(payload.user!.id).toBe(owner.id);
    expect(await audit(owner.id)).toEqual(
      expect.arrayContaining(["oidc_sign_in_failed", "identity_linked", "oidc_sign_in"]),
    );
  });

  it("is never linked when the provider has not verified it", async () => {
    const owner = await registerAccount(api.server, { email: "uma@example.org" });
    const sub = person({ email: "uma@example.org", emailVerified: false });
    const back = await signInAt(sub);
    expect(back.searchParams.get("error")).toBe("OIDC_EMAIL_NOT_VERIFIED");
    expect(back.searchParams.get("link_code")).toBeNull();
    expect(
      await api.sql(`select 1 from app_private.user_authentications where identifier = $1`, [sub]),
    ).toEqual([]);
    expect(
      await api.sql(`select 1 from app_private.oidc_grants where subject = $1`, [sub]),
    ).toEqual([]);
    expect(await audit(owner.id)).toContain("oidc_sign_in_failed");
  });

  it("creates a new account with an unverified e-mail as unverified", async () => {
    const sub = person({ email: "vera@example.org", emailVerified: false });
    const payload = ok<{ completeOidcSignIn: Completed }>(
      await complete((await signInAt(sub)).searchParams.get("signin_code")!),
    ).completeOidcSignIn;
    expect(payload.user!.account).toEqual({ email: "vera@example.org", emailVerified: false });
  });
});

describe("linking and unlinking", () => {
  it("links a second identity with startOidcLink, refuses one another account has, and never unlinks the last way in", async () => {
    const sub = person({ email: "wim@example.org", emailVerified: true });
    const wim = ok<{ completeOidcSignIn: Completed }>(
      await complete((await signInAt(sub)).searchParams.get("signin_code")!),
    ).completeOidcSignIn;
    const wimAccount = asAccount(wim.user!, wim.accessToken!);
    const [only] = ok<{ myIdentities: { id: string }[] }>(
      await api.as(wimAccount)(IDENTITIES),
    ).myIdentities;
    expect(refusal(await api.as(wimAccount)(UNLINK, { id: only!.id }))).toMatchObject({
      code: "LAST_SIGN_IN_METHOD",
    });

    const other = person({ email: "wim.work@example.org", emailVerified: true });
    const back = await signInAt(other, wimAccount);
    expect(back.searchParams.get("link_reason")).toBe("requested");
    ok(await api.as(wimAccount)(LINK, { code: back.searchParams.get("link_code")! }));
    expect(
      ok<{ myIdentities: unknown[] }>(await api.as(wimAccount)(IDENTITIES)).myIdentities,
    ).toHaveLength(2);
    expect(ok(await api.as(wimAccount)(UNLINK, { id: only!.id }))).toEqual({
      unlinkIdentity: { success: true },
    });
    expect(await audit(wim.user!.id)).toEqual(
      expect.arrayContaining(["identity_linked", "identity_unlinked"]),
    );

    // someone else's identity cannot be linked to this account
    const someoneElse = person({ email: "xena@example.org", emailVerified: true });
    ok(await complete((await signInAt(someoneElse)).searchParams.get("signin_code")!));
    const refused = await signInAt(someoneElse, wimAccount);
    expect(refused.searchParams.get("error")).toBe("IDENTITY_ALREADY_LINKED");
  });

  it("lets an account with a password unlink its only identity", async () => {
    const owner = await registerAccount(api.server, { email: "yara@example.org" });
    const sub = person({ email: "yara@example.org", emailVerified: true });
    ok(await api.as(owner)(LINK, { code: (await signInAt(sub)).searchParams.get("link_code")! }));
    const [identity] = ok<{ myIdentities: { id: string }[] }>(
      await api.as(owner)(IDENTITIES),
    ).myIdentities;
    expect(ok(await api.as(owner)(UNLINK, { id: identity!.id }))).toEqual({
      unlinkIdentity: { success: true },
    });
    // not someone else's
    const stranger = await registerAccount(api.server);
    expect(refusal(await api.as(stranger)(UNLINK, { id: identity!.id }))).toMatchObject({
      code: "NOT_FOUND",
    });
  });
});

describe("attacks on the callback", () => {
  it("keeps states and one-time codes out of the API roles' reach", async () => {
    const rows = await api.sql<{ role: string; states: boolean; grants: boolean }>(
      `select r as role,
              has_table_privilege(r, 'app_private.oidc_states', 'select,insert,update,delete') as states,
              has_table_privilege(r, 'app_private.oidc_grants', 'select,insert,update,delete') as grants
         from unnest(array['anonymous', 'authenticated']) r`,
    );
    expect(rows).toEqual([
      { role: "anonymous", states: false, grants: false },
      { role: "authenticated", states: false, grants: false },
    ]);
  });

  it("refuses a tampered state", async () => {
    const sub = person({ email: "zoe@example.org", emailVerified: true });
    const at = await throughProvider(sub, await authorizationUrl());
    const tampered = new URL(at);
    tampered.searchParams.set("state", `${at.searchParams.get("state")}x`);
    expect(await atCallback(tampered)).toMatchObject({ status: 400, code: "OIDC_STATE_INVALID" });
  });

  it("refuses a replayed callback and a replayed code", async () => {
    const sub = person({ email: "abe@example.org", emailVerified: true });
    const at = await throughProvider(sub, await authorizationUrl());
    expect((await atCallback(at)).app!.searchParams.get("signin_code")).toBeTruthy();
    expect(await atCallback(at)).toMatchObject({ status: 400, code: "OIDC_STATE_INVALID" });

    // the used code with a fresh, valid state: the provider refuses it
    const fresh = await throughProvider(sub, await authorizationUrl());
    const replay = new URL(fresh);
    replay.searchParams.set("code", at.searchParams.get("code")!);
    const back = await atCallback(replay);
    expect(back.app!.searchParams.get("error")).toBe("OIDC_TOKEN_REJECTED");
    expect(back.app!.searchParams.get("signin_code")).toBeNull();
  });

  it("refuses an ID token issued for another client (audience)", async () => {
    const sub = person({ email: "bea@example.org", emailVerified: true });
    const url = await authorizationUrl();
    // a genuine, signed ID token of this provider for the same person and nonce, but for app-b
    idp.nextAccount = sub;
    idp.swapNextIdToken(
      await idp.idTokenForClientB(new URL(url).searchParams.get("nonce")!, callback),
    );
    const back = await atCallback(await throughProvider(sub, url));
    expect(back.app!.searchParams.get("error")).toBe("OIDC_TOKEN_REJECTED");
    const [failure] = await api.sql<{ details: { reason: string } }>(
      `select details from app_private.audit_log where action = 'oidc_sign_in_failed' order by id desc limit 1`,
    );
    expect(failure!.details.reason).toMatch(/aud/);
    expect(
      await api.sql(`select 1 from app_private.user_authentications where identifier = $1`, [sub]),
    ).toEqual([]);
  });
});
