/**
 * The typed client's session against the real API: sign up, in and out, the access token
 * refreshed before it expires, a refused token refreshed once and the request retried, a session
 * ended elsewhere, and refusals surfaced as typed codes.
 */
import {
  ApiError,
  CurrentUserDocument,
  isApiError,
  PublishPostDocument,
  SendFriendRequestDocument,
  tokenTimes,
  type SessionChange,
} from "../../clients/typescript/src/index.ts";
import { startApi, type Api } from "../helpers/api.ts";
import {
  clientFor,
  closeClients,
  countingFetch,
  sessionEnded,
  tokenExpiringIn,
} from "./clients.ts";

let api: Api;

beforeAll(async () => {
  // a 60 s access token: the refresh tests make tokens with seconds left (tokenExpiringIn)
  api = await startApi({ ACCESS_TOKEN_TTL_SECONDS: "60" });
});
afterEach(closeClients);
afterAll(() => api.close());

/** Resolves with the next session change of that kind. */
function next(
  client: ReturnType<typeof clientFor>,
  kind: SessionChange,
): Promise<{ at: number; token: string | null }> {
  return new Promise((resolve) => {
    const stop = client.onSessionChange((change, session) => {
      if (change !== kind) return;
      stop();
      resolve({ at: Date.now(), token: session?.accessToken ?? null });
    });
  });
}

describe("signing up, in and out", () => {
  it("signs up, reads the current user, signs out; the old token then stops working", async () => {
    const client = clientFor(api, null);
    const tag = Math.random().toString(36).slice(2, 8);
    const session = await client.signUp({
      email: `client_${tag}@example.com`,
      username: `client_${tag}`,
      password: "correct horse battery",
      displayName: "Client Test",
    });
    expect(session.user).toMatchObject({ username: `client_${tag}`, displayName: "Client Test" });
    const { currentUser } = await client.request(CurrentUserDocument, {});
    expect(currentUser?.id).toBe(session.user?.id);

    const other = clientFor(api, null);
    const again = await other.signIn(`client_${tag}@example.com`, "correct horse battery");
    expect(again.accessToken).not.toBe(session.accessToken);

    const out = next(client, "signed-out");
    const ended = sessionEnded(api, session.accessToken);
    await client.signOut();
    await out;
    await ended;
    expect(client.session).toBeNull();
    // signed out, the client sends no token: the API answers as to anyone signed out
    expect((await client.request(CurrentUserDocument, {})).currentUser).toBeNull();
    // and the server ended that session: its access token is refused (revoked)
    const { status, body } = await api.server.graphql(
      "{ currentUser { id } }",
      {},
      {
        token: session.accessToken,
      },
    );
    expect(status).toBe(401);
    expect(body.errors?.[0]?.extensions).toMatchObject({
      code: "UNAUTHENTICATED",
      reason: "revoked",
    });
    // the other sign-in is a session of its own and goes on
    expect((await other.request(CurrentUserDocument, {})).currentUser?.id).toBe(session.user?.id);
  });

  it("throws a typed ApiError for a refused sign-in and a refused mutation", async () => {
    const ana = await api.register();
    const client = clientFor(api, null);
    const wrong = await client.signIn(ana.email, "not the password").catch((e: unknown) => e);
    expect(wrong).toBeInstanceOf(ApiError);
    expect((wrong as ApiError).code).toBe("UNAUTHENTICATED");

    const signedIn = clientFor(api, ana);
    const self = await signedIn
      .request(SendFriendRequestDocument, { userId: ana.id })
      .catch((e: unknown) => e);
    expect(isApiError(self)).toBe(true);
    const refusal = self as ApiError;
    // the code is the server's, typed: a switch over it is checked against ERROR_CODES
    expect(refusal.code).toBe("INVALID_INPUT");
    expect(refusal.field).toBe("user_id");
    expect(refusal.message).not.toMatch(/sql|select|stack/i);

    const anonymous = await client
      .request(PublishPostDocument, { input: { content: "hello" } })
      .catch((e: unknown) => e);
    expect(isApiError(anonymous, "UNAUTHENTICATED")).toBe(true);
  });
});

describe("keeping the access token fresh", () => {
  it("refreshes before the token expires, so no request is refused", async () => {
    const ana = await api.register();
    const requests = countingFetch();
    // 60 s of lifetime, 55 s gone: 5 s left; a margin of 0.05 (3 s) refreshes in about 2 s
    const stale = tokenExpiringIn(api, ana, 5);
    const started = Date.now();
    const expiresAt = tokenTimes(stale)!.expiresAt; // whole seconds: 4 to 5 s from now
    const client = clientFor(api, ana, {
      accessToken: stale,
      refreshMargin: 0.05,
      fetch: requests.fetch,
    });
    const refreshed = await next(client, "refreshed");
    // not at once: when 3 s of the token's life were left, before it expired
    expect(refreshed.at).toBeGreaterThanOrEqual(expiresAt - 3_000);
    expect(refreshed.at).toBeGreaterThan(started + 900);
    expect(refreshed.at).toBeLessThan(expiresAt);
    expect(refreshed.token).not.toBe(stale);
    expect((await client.request(CurrentUserDocument, {})).currentUser?.id).toBe(ana.id);
    expect(requests.count("RefreshToken")).toBe(1);
    expect(requests.statuses).not.toContain(401);
  });

  it("refreshes once on 401 UNAUTHENTICATED (expired) and retries the request", async () => {
    const ana = await api.register();
    const requests = countingFetch();
    // a client whose timer did not fire (a laptop that slept): the token expired a minute ago
    const client = clientFor(api, ana, {
      accessToken: tokenExpiringIn(api, ana, -60),
      autoRefresh: false,
      fetch: requests.fetch,
    });
    const { currentUser } = await client.request(CurrentUserDocument, {});
    expect(currentUser?.id).toBe(ana.id);
    expect(requests.count("CurrentUser")).toBe(2);
    expect(requests.count("RefreshToken")).toBe(1);
    expect(requests.statuses).toEqual([401, 200, 200]);
  });

  it("refreshes only once when concurrent requests are refused, and signs out when the refresh is refused", async () => {
    const ben = await api.register();
    const requests = countingFetch();
    const client = clientFor(api, ben, {
      accessToken: tokenExpiringIn(api, ben, -60),
      autoRefresh: false,
      fetch: requests.fetch,
    });
    const results = await Promise.all([
      client.request(CurrentUserDocument, {}),
      client.request(CurrentUserDocument, {}),
      client.request(CurrentUserDocument, {}),
    ]);
    expect(results.map((r) => r.currentUser?.id)).toEqual([ben.id, ben.id, ben.id]);
    expect(requests.count("RefreshToken")).toBe(1);

    // the refresh token ben's client started with was used up by that refresh: a second client
    // presenting it is refused, signed out, and (theft detection) the session ends
    const thief = clientFor(api, ben, {
      accessToken: tokenExpiringIn(api, ben, -60),
      autoRefresh: false,
    });
    const out = next(thief, "signed-out");
    const refused = await thief.request(CurrentUserDocument, {}).catch((e: unknown) => e);
    expect(isApiError(refused, "UNAUTHENTICATED")).toBe(true);
    await out;
    expect(thief.session).toBeNull();
  });

  it("signs out when the session was ended elsewhere (401, reason revoked)", async () => {
    const cat = await api.register();
    const client = clientFor(api, cat);
    const elsewhere = clientFor(api, cat);
    const ended = sessionEnded(api, cat.accessToken);
    await elsewhere.signOut();
    await ended;
    const out = next(client, "signed-out");
    const refused = await client.request(CurrentUserDocument, {}).catch((e: unknown) => e);
    expect(refused).toMatchObject({ code: "UNAUTHENTICATED", reason: "revoked", status: 401 });
    await out;
    expect(client.session).toBeNull();
  });
});
