/**
 * The typed client (clients/typescript) against the real API: clients for test accounts, and
 * sessions whose access token is about to expire (signed for the account's real session with an
 * earlier issue time, as test/realtime does), so expiry is seconds away, not minutes.
 */
import {
  createClient,
  memoryStore,
  type ClientOptions,
  type MkingClient,
} from "../../clients/typescript/src/index.ts";
import { tokenServiceFor } from "../../src/server.ts";
import type { TestAccount } from "../helpers/accounts.ts";
import type { Api } from "../helpers/api.ts";

const open: MkingClient[] = [];

/** A client signed in as `account` (with its tokens from register), closed by `closeClients`. */
export function clientFor(
  api: Api,
  account: TestAccount | null,
  options: Partial<ClientOptions> & { accessToken?: string } = {},
): MkingClient {
  const { accessToken, ...rest } = options;
  const client = createClient({
    url: api.server.url,
    store: memoryStore(
      account
        ? {
            accessToken: accessToken ?? account.accessToken,
            refreshToken: account.refreshToken,
            user: null,
          }
        : null,
    ),
    ...rest,
  });
  open.push(client);
  return client;
}

export async function closeClients(): Promise<void> {
  await Promise.all(open.splice(0).map((c) => c.close()));
}

/** An access token of `account`'s session that expires `secondsLeft` from now (negative: ago). */
export function tokenExpiringIn(api: Api, account: TestAccount, secondsLeft: number): string {
  const tokens = tokenServiceFor(api.server.config);
  const ttl = api.server.config.auth.accessTokenTtlSeconds;
  const sessionId = tokens.verify(account.accessToken).sessionId;
  return tokens.sign(account.id, sessionId, new Date(Date.now() - (ttl - secondsLeft) * 1000))
    .token;
}

/** Counts the requests a client sends, by operation name (`mutation RefreshToken(` → RefreshToken). */
export function countingFetch(): {
  fetch: NonNullable<ClientOptions["fetch"]>;
  count(operation: string): number;
  statuses: number[];
} {
  const sent: string[] = [];
  const statuses: number[] = [];
  return {
    statuses,
    count: (operation) => sent.filter((name) => name === operation).length,
    fetch: async (input, init) => {
      const body = JSON.parse(String(init.body)) as { query: string };
      sent.push(/^(?:query|mutation|subscription)\s+(\w+)/.exec(body.query)?.[1] ?? "anonymous");
      const response = await fetch(input, init);
      statuses.push(response.status);
      return response;
    },
  };
}

/**
 * Resolves when the server has heard that the session of `accessToken` ended (sessions end on
 * every instance through NOTIFY, a moment after the logout commits). Call it before signing out.
 */
export function sessionEnded(api: Api, accessToken: string): Promise<void> {
  const sessionId = tokenServiceFor(api.server.config).verify(accessToken).sessionId;
  return new Promise((resolve) => {
    const stop = api.server.sessions.onEnded((ended) => {
      if (ended !== sessionId) return;
      stop();
      resolve();
    });
  });
}
