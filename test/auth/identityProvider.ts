/**
 * A real OpenID Connect provider for tests: oidc-provider (the certified Node implementation) on
 * its own loopback port. Two confidential clients, `app-a` (the one the API is configured with)
 * and `app-b` (another application of the same provider). Its login and consent step is a tiny
 * interaction that signs in `nextAccount` and grants the requested scopes, so a test drives the
 * whole flow with plain HTTP requests, as a browser would (src/auth/oidc.ts is the other side).
 */
import { createHash, generateKeyPairSync, randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

import Provider, { type ClientMetadata, type JWK } from "oidc-provider";

export interface IdpAccount {
  email?: string;
  emailVerified?: boolean;
  name?: string;
  preferredUsername?: string;
}

export interface TestIdentityProvider {
  readonly issuer: string;
  /** The people who exist at the provider, by `sub`. */
  readonly accounts: Map<string, IdpAccount>;
  /** Who signs in at the next login step. */
  nextAccount: string;
  /** Replace the ID token of the next token endpoint answer (a token for someone else). */
  swapNextIdToken(idToken: string): void;
  /** Runs client B's own flow (PKCE, the given nonce) and returns the ID token it got. */
  idTokenForClientB(nonce: string, redirectUri: string): Promise<string>;
  close(): Promise<void>;
}

export const CLIENT_A = { id: "app-a", secret: "secret-a-0123456789abcdef0123456789" };
export const CLIENT_B = { id: "app-b", secret: "secret-b-0123456789abcdef0123456789" };

/** Cookies per origin host, as a browser keeps them (enough for the provider's session). */
export class CookieJar {
  private readonly cookies = new Map<string, string>();
  header(): string {
    return [...this.cookies].map(([k, v]) => `${k}=${v}`).join("; ");
  }
  keep(response: Response): void {
    for (const line of response.headers.getSetCookie()) {
      const [pair] = line.split(";");
      const eq = pair!.indexOf("=");
      this.cookies.set(pair!.slice(0, eq).trim(), pair!.slice(eq + 1).trim());
    }
  }
}

/**
 * Follows redirects like a browser from `url` until one leads to a URL starting with `stopAt`
 * (not requested); returns that URL.
 */
export async function followUntil(
  url: string,
  stopAt: string,
  jar = new CookieJar(),
): Promise<URL> {
  let current = new URL(url);
  for (let hop = 0; hop < 10; hop++) {
    if (current.href.startsWith(stopAt)) return current;
    const response = await fetch(current, {
      redirect: "manual",
      headers: { cookie: jar.header() },
    });
    jar.keep(response);
    const location = response.headers.get("location");
    if (!location) {
      throw new Error(
        `no redirect from ${current.href}: ${response.status} ${await response.text()}`,
      );
    }
    await response.arrayBuffer();
    current = new URL(location, current);
  }
  throw new Error(`too many redirects before ${stopAt}`);
}

/** Starts the provider; `redirectUris` are registered for both clients (known once the API runs). */
export async function startIdentityProvider(): Promise<{
  issuer: string;
  configure(redirectUris: string[]): TestIdentityProvider;
}> {
  let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => {
    res.statusCode = 503;
    res.end();
  };
  const server: Server = createServer((req, res) => handler(req, res));
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const issuer = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;

  return {
    issuer,
    configure(redirectUris) {
      const accounts = new Map<string, IdpAccount>();
      let swap: string | null = null;
      const { privateKey } = generateKeyPairSync("rsa", { modulusLength: 2048 });
      const jwk = { ...privateKey.export({ format: "jwk" }), kid: "test-key", use: "sig" } as JWK;
      const client = (c: { id: string; secret: string }): ClientMetadata => ({
        client_id: c.id,
        client_secret: c.secret,
        redirect_uris: redirectUris,
        grant_types: ["authorization_code"],
        response_types: ["code"],
        token_endpoint_auth_method: "client_secret_post",
      });
      const provider = new Provider(issuer, {
        clients: [client(CLIENT_A), client(CLIENT_B)],
        jwks: { keys: [jwk] },
        cookies: { keys: [randomBytes(16).toString("hex")] },
        claims: {
          openid: ["sub"],
          email: ["email", "email_verified"],
          profile: ["name", "preferred_username"],
        },
        features: { devInteractions: { enabled: false } },
        ttl: {
          AccessToken: 600,
          AuthorizationCode: 60,
          Grant: 600,
          IdToken: 600,
          Interaction: 600,
          Session: 600,
        },
        pkce: { required: () => true },
        interactions: { url: (_ctx, interaction) => `/interaction/${interaction.uid}` },
        findAccount: (_ctx, sub) => {
          const account = accounts.get(sub);
          if (!account) return undefined;
          return {
            accountId: sub,
            claims: () => ({
              sub,
              ...(account.email !== undefined ? { email: account.email } : {}),
              email_verified: account.emailVerified ?? false,
              ...(account.name ? { name: account.name } : {}),
              ...(account.preferredUsername
                ? { preferred_username: account.preferredUsername }
                : {}),
            }),
          };
        },
      });
      const idp: TestIdentityProvider = {
        issuer,
        accounts,
        nextAccount: "",
        swapNextIdToken(idToken) {
          swap = idToken;
        },
        async idTokenForClientB(nonce, redirectUri) {
          const verifier = randomBytes(32).toString("base64url");
          const authorize = new URL(`${issuer}/auth`);
          authorize.search = new URLSearchParams({
            client_id: CLIENT_B.id,
            response_type: "code",
            scope: "openid email",
            redirect_uri: redirectUri,
            state: randomBytes(8).toString("hex"),
            nonce,
            code_challenge: createHash("sha256").update(verifier).digest("base64url"),
            code_challenge_method: "S256",
          }).toString();
          const back = await followUntil(authorize.href, redirectUri);
          const response = await fetch(`${issuer}/token`, {
            method: "POST",
            headers: { "content-type": "application/x-www-form-urlencoded" },
            body: new URLSearchParams({
              grant_type: "authorization_code",
              code: back.searchParams.get("code")!,
              redirect_uri: redirectUri,
              code_verifier: verifier,
              client_id: CLIENT_B.id,
              client_secret: CLIENT_B.secret,
            }),
          });
          const body = (await response.json()) as { id_token?: string };
          if (!body.id_token) throw new Error(`client B got no ID token: ${JSON.stringify(body)}`);
          return body.id_token;
        },
        close: () => new Promise<void>((resolve) => server.close(() => resolve())),
      };

      // The login and consent step: whoever `nextAccount` is signs in and grants what was asked.
      provider.use(async (ctx, next) => {
        if (ctx.method === "GET" && ctx.path.startsWith("/interaction/")) {
          const details = await provider.interactionDetails(ctx.req, ctx.res);
          const clientId = String(details.params.client_id);
          const grant = new provider.Grant({ accountId: idp.nextAccount, clientId });
          grant.addOIDCScope(String(details.params.scope));
          const grantId = await grant.save();
          const target = await provider.interactionResult(ctx.req, ctx.res, {
            login: { accountId: idp.nextAccount },
            consent: { grantId },
          });
          ctx.redirect(target);
          return;
        }
        await next();
        // a token answer carrying another client's ID token (the audience test)
        if (ctx.path === "/token" && swap && ctx.body && typeof ctx.body === "object") {
          ctx.body = { ...(ctx.body as Record<string, unknown>), id_token: swap };
          swap = null;
        }
      });
      handler = provider.callback();
      return idp;
    },
  };
}
