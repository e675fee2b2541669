/**
 * The OpenID Connect relying party (openid-client 6): one configuration per provider of
 * OIDC_PROVIDERS, discovered at first use (a provider that is down does not stop start-up; a
 * failed discovery is tried again next time).
 *
 * The authorisation code flow with PKCE (S256), state and nonce: `begin` makes them (the caller
 * stores them, app_private.oidc_states), `finish` exchanges the code at the provider's token
 * endpoint and verifies the ID token — signature against the provider's published keys, issuer,
 * audience (our client id), expiry, nonce — and returns the identity's claims.
 */
import * as client from "openid-client";

import { allowsInsecureIssuer, type OidcProviderConfig } from "./oidcConfig.ts";

export interface OidcBegin {
  authorizationUrl: string;
  state: string;
  nonce: string;
  codeVerifier: string;
}

/** The claims of a verified identity that sign-in uses. */
export interface OidcIdentity {
  issuer: string;
  subject: string;
  email: string | null;
  emailVerified: boolean;
  name: string | null;
  preferredUsername: string | null;
}

export interface OidcChecks {
  state: string;
  nonce: string;
  codeVerifier: string;
}

/** The provider's answer could not be accepted (the code, the ID token, the provider itself). */
export class OidcRejected extends Error {
  constructor(message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = "OidcRejected";
  }
}

const CALLBACK = (base: string, name: string): string =>
  `${base}/auth/oidc/${encodeURIComponent(name)}/callback`;

/**
 * An exchange or validation error, as one line: openid-client's message, and the underlying
 * check's (oauth4webapi, its `cause`) with the claim at fault when it names one.
 */
function describe(error: unknown): string {
  const parts: string[] = [];
  let current: unknown = error;
  for (let depth = 0; current instanceof Error && depth < 4; depth++) {
    parts.push(current.message);
    const cause: unknown = current.cause;
    const claim = (cause as { claim?: unknown } | undefined)?.claim;
    if (typeof claim === "string") parts.push(`claim: ${claim}`);
    current = cause;
  }
  return parts.length > 0 ? parts.join("; ") : String(error);
}

function stringClaim(value: unknown): string | null {
  return typeof value === "string" && value.trim() !== "" ? value : null;
}

export class OidcService {
  private readonly providers: ReadonlyMap<string, OidcProviderConfig>;
  private readonly configurations = new Map<string, Promise<client.Configuration>>();
  private readonly redirectBase: () => string;

  /** `redirectBase`: the API's public URL (OIDC_REDIRECT_BASE_URL, or the server's own). */
  constructor(providers: readonly OidcProviderConfig[], redirectBase: () => string) {
    this.providers = new Map(providers.map((p) => [p.name, p]));
    this.redirectBase = redirectBase;
  }

  has(name: string): boolean {
    return this.providers.has(name);
  }

  names(): string[] {
    return [...this.providers.keys()];
  }

  /** The redirect URI registered at the provider for this provider name. */
  callbackUrl(name: string): string {
    return CALLBACK(this.redirectBase().replace(/\/+$/, ""), name);
  }

  private configuration(name: string): Promise<client.Configuration> {
    const provider = this.providers.get(name);
    if (!provider) return Promise.reject(new Error(`unknown OpenID Connect provider ${name}`));
    let found = this.configurations.get(name);
    if (!found) {
      const insecure = allowsInsecureIssuer(provider.issuer);
      found = client.discovery(
        new URL(provider.issuer),
        provider.clientId,
        { client_secret: provider.clientSecret },
        client.ClientSecretPost(provider.clientSecret),
        insecure ? { execute: [client.allowInsecureRequests] } : undefined,
      );
      this.configurations.set(name, found);
      // try again next time rather than remember a failure
      found.catch(() => this.configurations.delete(name));
    }
    return found;
  }

  /** A fresh state, nonce and PKCE verifier, and the URL to send the browser to. */
  async begin(name: string): Promise<OidcBegin> {
    const provider = this.providers.get(name)!;
    const configuration = await this.configuration(name);
    const state = client.randomState();
    const nonce = client.randomNonce();
    const codeVerifier = client.randomPKCECodeVerifier();
    const url = client.buildAuthorizationUrl(configuration, {
      redirect_uri: this.callbackUrl(name),
      scope: provider.scopes,
      response_type: "code",
      state,
      nonce,
      code_challenge: await client.calculatePKCECodeChallenge(codeVerifier),
      code_challenge_method: "S256",
    });
    return { authorizationUrl: url.href, state, nonce, codeVerifier };
  }

  /**
   * Exchanges the code in `callbackUrl` (the URL the provider sent the browser to) and verifies
   * the ID token; the e-mail comes from the UserInfo endpoint when the ID token has none.
   */
  async finish(name: string, callbackUrl: URL, checks: OidcChecks): Promise<OidcIdentity> {
    const configuration = await this.configuration(name);
    // the URL the provider redirected to is ours, as registered (not the Host header's)
    const current = new URL(this.callbackUrl(name));
    current.search = callbackUrl.search;
    let tokens: Awaited<ReturnType<typeof client.authorizationCodeGrant>>;
    try {
      tokens = await client.authorizationCodeGrant(configuration, current, {
        pkceCodeVerifier: checks.codeVerifier,
        expectedState: checks.state,
        expectedNonce: checks.nonce,
        idTokenExpected: true,
      });
    } catch (error) {
      throw new OidcRejected(describe(error), { cause: error });
    }
    const claims = tokens.claims();
    if (!claims) throw new OidcRejected("the provider returned no ID token");
    let source: Record<string, unknown> = claims;
    if (stringClaim(claims.email) === null && configuration.serverMetadata().userinfo_endpoint) {
      try {
        source = {
          ...(await client.fetchUserInfo(configuration, tokens.access_token, claims.sub)),
        };
      } catch (error) {
        throw new OidcRejected("the UserInfo endpoint refused the access token", { cause: error });
      }
    }
    return {
      issuer: claims.iss,
      subject: claims.sub,
      email: stringClaim(source.email),
      // only a literal true counts ("true" as a string does not)
      emailVerified: source.email_verified === true,
      name: stringClaim(source.name),
      preferredUsername: stringClaim(source.preferred_username),
    };
  }
}
