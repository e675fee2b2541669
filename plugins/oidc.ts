/**
 * Sign-in with OpenID Connect providers (issue #19): startOidcSignIn, completeOidcSignIn,
 * startOidcLink, linkIdentity, unlinkIdentity, Query.myIdentities and Query.oidcProviders. The
 * browser's round trip ends at src/http/oidc.ts; the rules live in SQL (migration section
 * "sign-in: openid connect"). completeOidcSignIn ends like `login`, through
 * src/auth/signIn.ts completeSignIn: an account with a second factor gets `secondStep`.
 * README "Sign in with a provider".
 */
import {
  sideEffectWithPgClientTransaction,
  withPgClientTransaction,
} from "postgraphile/@dataplan/pg";
import { constant, context, lambda, object, type Step } from "postgraphile/grafast";
import { extendSchema } from "postgraphile/utils";

import type { OidcService } from "../src/auth/oidc.ts";
import {
  completeSignIn,
  isoDatetime,
  type AuthResult,
  type Query,
  type SessionRow,
  type SignInContext,
  type SignInSettings,
} from "../src/auth/signIn.ts";
import { appError } from "../src/errors.ts";
import { refusal } from "./auth.ts";

export interface OidcPluginOptions {
  oidc: OidcService;
  signIn: SignInSettings;
  refreshTokenTtlDays: number;
  /** OIDC_APP_REDIRECT_URIS: the first is the default. */
  appRedirectUris: readonly string[];
}

/** How long the browser has to come back from the provider. */
export const OIDC_STATE_TTL_SECONDS = 600;
/** How long the client app has to use a sign-in or link code. */
export const OIDC_CODE_TTL_SECONDS = 120;

interface StartInput {
  provider: string;
  redirectUri?: string | null;
}

interface Identity {
  id: string;
  provider: string;
  subject: string;
  email: string | null;
  linked_at: Date | string;
}

export function makeOidcPlugin(options: OidcPluginOptions): GraphileConfig.Plugin {
  const { oidc } = options;
  const refreshTtl = `${options.refreshTokenTtlDays} days`;

  function checkStart(input: StartInput): string {
    if (!oidc.has(input.provider)) {
      throw appError("INVALID_INPUT", "No such sign-in provider (see oidcProviders)", {
        field: "provider",
      });
    }
    const redirectUri = input.redirectUri ?? options.appRedirectUris[0];
    if (!redirectUri || !options.appRedirectUris.includes(redirectUri)) {
      throw appError("INVALID_INPUT", "This redirect URI is not allowed (OIDC_APP_REDIRECT_URIS)", {
        field: "redirectUri",
      });
    }
    return redirectUri;
  }

  return extendSchema((build) => {
    const executor = build.pgExecutor;
    const $context = (): Step<SignInContext> => context() as unknown as Step<SignInContext>;

    function callSql<TIn, TOut>(
      $input: Step<TIn>,
      run: (query: Query, input: TIn, ctx: SignInContext) => Promise<TOut>,
    ): Step<TOut> {
      return sideEffectWithPgClientTransaction(
        executor,
        [$input, $context()] as const,
        async (pgClient, [input, ctx]) => {
          const query: Query = async <R>(text: string, values: unknown[]) =>
            (await pgClient.query<R>({ text, values })).rows;
          return run(query, input, ctx);
        },
      );
    }

    /** Starts a flow: state, nonce and PKCE verifier stored, the provider's URL returned. */
    function start($input: Step<StartInput>, purpose: "sign_in" | "link") {
      const $result = callSql($input, async (query, input, ctx) => {
        if (purpose === "link" && !ctx.pgSettings["jwt.claims.user_id"]) {
          throw appError("UNAUTHENTICATED", "Sign in first");
        }
        const redirectUri = checkStart(input);
        let begun;
        try {
          begun = await oidc.begin(input.provider);
        } catch {
          throw appError(
            "OIDC_PROVIDER_ERROR",
            "The sign-in provider cannot be reached; try later",
          );
        }
        const [row] = await query<{ expires_at: Date | string }>(
          `select app_hidden.oidc_begin($1, $2, $3, $4, $5, $6, make_interval(secs => $7)) as expires_at`,
          [
            input.provider,
            purpose,
            begun.state,
            begun.nonce,
            begun.codeVerifier,
            redirectUri,
            OIDC_STATE_TTL_SECONDS,
          ],
        );
        return {
          authorizationUrl: begun.authorizationUrl,
          expiresAt: isoDatetime(row!.expires_at),
        };
      });
      return $result;
    }

    return {
      typeDefs: /* GraphQL */ `
        "Where to send the browser to sign in with a provider."
        type OidcAuthorization {
          "Open this URL in the browser; the provider sends it back to the API, which sends it on to your redirectUri."
          authorizationUrl: String!
          "The flow must be finished by then."
          expiresAt: Datetime!
        }

        "An OpenID Connect identity linked to your account: a way to sign in."
        type ExternalIdentity {
          id: UUID!
          "The provider's name in OIDC_PROVIDERS."
          provider: String!
          "The provider's id for you (the ID token's sub)."
          subject: String!
          "The e-mail the provider gave, if any."
          email: String
          linkedAt: Datetime!
        }

        type LinkIdentityPayload {
          identity: ExternalIdentity!
        }

        input StartOidcSignInInput {
          "A provider's name (oidcProviders)."
          provider: String!
          "Where the API sends the browser back (one of OIDC_APP_REDIRECT_URIS; default: the first)."
          redirectUri: String
        }
        input CompleteOidcSignInInput {
          "The signin_code the API put on your redirectUri (single use, 2 minutes)."
          code: String!
        }
        input LinkIdentityInput {
          "The link_code the API put on your redirectUri (single use, 2 minutes)."
          code: String!
        }
        input UnlinkIdentityInput {
          id: UUID!
        }

        extend type Query {
          "The names of the OpenID Connect providers you can sign in with."
          oidcProviders: [String!]!
          "Your linked provider identities."
          myIdentities: [ExternalIdentity!]!
        }

        extend type Mutation {
          "Sign in (or sign up) with a provider: returns the URL to open. README \\"Sign in with a provider\\"."
          startOidcSignIn(input: StartOidcSignInInput!): OidcAuthorization
          "Exchange the signin_code from the provider round trip for a session (or, with a second factor, secondStep)."
          completeOidcSignIn(input: CompleteOidcSignInInput!): AuthPayload
          "Signed in: link a provider identity to your account; returns the URL to open (the round trip ends with a link_code)."
          startOidcLink(input: StartOidcSignInInput!): OidcAuthorization
          "Signed in as the account the link_code names: link the provider identity to it."
          linkIdentity(input: LinkIdentityInput!): LinkIdentityPayload
          "Remove a linked identity; refused (LAST_SIGN_IN_METHOD) when it is your only way to sign in."
          unlinkIdentity(input: UnlinkIdentityInput!): AccountActionPayload
        }
      `,
      objects: {
        Query: {
          plans: {
            oidcProviders() {
              return constant(oidc.names());
            },
            myIdentities() {
              return withPgClientTransaction(executor, constant(null), async (pgClient) => {
                const { rows } = await pgClient.query<Identity>({
                  text: `select * from app_hidden.my_identities()`,
                });
                return rows.map(identityOut);
              });
            },
          },
        },
        Mutation: {
          plans: {
            startOidcSignIn(_$root, fieldArgs) {
              return start(fieldArgs.getRaw("input") as Step<StartInput>, "sign_in");
            },
            startOidcLink(_$root, fieldArgs) {
              return start(fieldArgs.getRaw("input") as Step<StartInput>, "link");
            },
            completeOidcSignIn(_$root, fieldArgs) {
              const $input = fieldArgs.getRaw("input") as Step<{ code: string }>;
              const $result = callSql($input, async (query, input, ctx) => {
                const [row] = await query<SessionRow>(
                  `select * from app_hidden.oidc_complete_sign_in($1, $2::interval, $3::inet, $4)`,
                  [input.code, refreshTtl, ctx.mkingClient.ip, ctx.mkingClient.userAgent],
                );
                return completeSignIn(options.signIn, query, row!, ctx);
              });
              return lambda($result, (result): AuthResult => {
                if ("refused" in result) {
                  if (result.refused === "invalid") {
                    throw appError(
                      "INVALID_INPUT",
                      "This sign-in code is invalid, used or expired; sign in again",
                      { field: "code" },
                    );
                  }
                  throw refusal(result.refused);
                }
                return result;
              });
            },
            linkIdentity(_$root, fieldArgs) {
              const $input = fieldArgs.getRaw("input") as Step<{ code: string }>;
              const $identity = callSql($input, async (query, input, ctx) => {
                const [linked] = await query<{ id: string }>(
                  `select app_hidden.link_identity($1, $2::inet, $3) as id`,
                  [input.code, ctx.mkingClient.ip, ctx.mkingClient.userAgent],
                );
                const rows = await query<Identity>(
                  `select * from app_hidden.my_identities() where id = $1`,
                  [linked!.id],
                );
                return identityOut(rows[0]!);
              });
              return object({ identity: $identity });
            },
            unlinkIdentity(_$root, fieldArgs) {
              const $input = fieldArgs.getRaw("input") as Step<{ id: string }>;
              const $success = callSql($input, async (query, input, ctx) => {
                await query(`select app_hidden.unlink_identity($1, $2::inet, $3)`, [
                  input.id,
                  ctx.mkingClient.ip,
                  ctx.mkingClient.userAgent,
                ]);
                return true;
              });
              return object({ success: $success });
            },
          },
        },
      },
    };
  });
}

function identityOut(row: Identity) {
  return {
    id: row.id,
    provider: row.provider,
    subject: row.subject,
    email: row.email,
    linkedAt: isoDatetime(row.linked_at),
  };
}
