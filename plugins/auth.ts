/**
 * Accounts and sessions: register, login, refreshToken, logout, logoutEverywhere,
 * changePassword, requestPasswordReset, resetPassword, requestEmailVerification, verifyEmail,
 * and Query.currentUser (a SQL function). The rules live in SQL (`app_hidden.*`, security
 * definer); TypeScript only signs access tokens, which SQL cannot do.
 *
 * Sign-in functions never raise for a refused attempt — they return why, so that the attempt
 * (rate-limit counter, audit row, revoked token family) is committed — and the error is raised
 * here, after the transaction.
 */
import { sideEffectWithPgClientTransaction } from "postgraphile/@dataplan/pg";
import { constant, context, lambda, object, type Step } from "postgraphile/grafast";
import { extendSchema } from "postgraphile/utils";

import type { ClientInfo } from "../src/auth/request.ts";
import {
  completeSignIn,
  issueTokens,
  type AuthResult,
  type SessionRow,
  type SignInSettings,
} from "../src/auth/signIn.ts";
import type { TokenService } from "../src/auth/tokens.ts";
import { appError } from "../src/errors.ts";

export interface AuthPluginOptions {
  tokens: TokenService;
  bcryptCost: number;
  refreshTokenTtlDays: number;
  loginMaxFailures: number;
  loginMaxFailuresPerClient: number;
  loginFailureWindowMinutes: number;
  /** Accounts `register` creates per client address per hour. */
  signupsPerClientPerHour: number;
  /** How sign-ins end (src/auth/signIn.ts completeSignIn: tokens, or the second step). */
  signIn: SignInSettings;
}

interface MutationContext {
  pgSettings: Record<string, string | undefined>;
  mkingClient: ClientInfo;
}

/** Refusals from the sign-in functions, as clients see them. */
export function refusal(outcome: string): Error {
  switch (outcome) {
    case "bad_credentials":
      return appError("UNAUTHENTICATED", "Incorrect e-mail or password", {
        reason: "bad_credentials",
      });
    case "no_password":
      return appError(
        "UNAUTHENTICATED",
        "This account has no password: sign in with the provider it was created with",
        { reason: "no_password" },
      );
    case "rate_limited":
      return appError("RATE_LIMITED", "Too many failed sign-ins; wait a few minutes and try again");
    case "signup_rate_limited":
      return appError(
        "RATE_LIMITED",
        "Too many accounts were created from this address; try again in an hour",
      );
    case "suspended":
      return appError("FORBIDDEN", "This account is suspended", { reason: "suspended" });
    case "deleted":
      return appError("FORBIDDEN", "This account has been deleted", { reason: "deleted" });
    case "reused":
      return appError(
        "UNAUTHENTICATED",
        "This refresh token was already used; the session has been signed out for safety",
        { reason: "refresh_token_reused" },
      );
    case "expired":
      return appError("UNAUTHENTICATED", "The refresh token has expired; sign in again", {
        reason: "expired",
      });
    default:
      return appError("UNAUTHENTICATED", "The refresh token is not valid; sign in again", {
        reason: "invalid",
      });
  }
}

export function makeAuthPlugin(options: AuthPluginOptions): GraphileConfig.Plugin {
  const refreshTtl = `${options.refreshTokenTtlDays} days`;
  const failureWindow = `${options.loginFailureWindowMinutes} minutes`;

  /** Turns a successful session row into tokens, and makes the rest of the request that user. */
  function issue(row: SessionRow, ctx: MutationContext): AuthResult | { refused: string } {
    return issueTokens(options.tokens, row, ctx);
  }

  /** Raises the refusal (after the transaction committed) or passes the result on. */
  function raiseRefusal<T extends object>($result: Step<T | { refused: string }>): Step<T> {
    return lambda($result, (result) => {
      if ("refused" in result) throw refusal(result.refused);
      return result;
    });
  }

  return extendSchema((build) => {
    const executor = build.pgExecutor;
    // app_public.user_cards, named `user` by its smart tag: the `User` type
    const users = build.pgResources.user;
    if (!users)
      throw new Error("AuthPlugin: the `user` resource (app_public.user_cards) is missing");

    const $context = (): Step<MutationContext> => context() as unknown as Step<MutationContext>;

    /** Runs one `app_hidden` function in a transaction under the caller's role. */
    function callSql<TIn extends Record<string, unknown>, TOut>(
      $input: Step<TIn>,
      run: (
        query: <R>(text: string, values: unknown[]) => Promise<readonly R[]>,
        input: TIn,
        ctx: MutationContext,
      ) => Promise<TOut>,
    ): Step<TOut> {
      return sideEffectWithPgClientTransaction(
        executor,
        [$input, $context()] as const,
        async (pgClient, [input, ctx]) => {
          const query = async <R>(text: string, values: unknown[]): Promise<readonly R[]> =>
            (await pgClient.query<R>({ text, values })).rows;
          return run(query, input, ctx);
        },
      );
    }

    return {
      typeDefs: /* GraphQL */ `
        """
        A signed-in session: a short-lived access token (send it as \`Authorization: Bearer …\`)
        and a single-use refresh token to get the next one. When the account has a second factor,
        \`login\` returns no tokens and no user but \`secondStep\` (README "Two-factor sign-in").
        """
        type AuthPayload {
          accessToken: String
          accessTokenExpiresAt: Datetime
          "Single use: \`refreshToken\` returns a new one; presenting a used one signs the session out."
          refreshToken: String
          user: User
          "True when this sign-in cancelled the account's pending deletion (within the grace period)."
          accountRestored: Boolean!
        }

        "The outcome of an account action that returns no data."
        type AccountActionPayload {
          success: Boolean!
        }

        input RegisterInput {
          email: String!
          "8 characters to 72 bytes."
          password: String!
          "3 to 50 letters, digits or underscores; unique regardless of case."
          username: String!
          displayName: String
        }
        input LoginInput {
          email: String!
          password: String!
        }
        input RefreshTokenInput {
          refreshToken: String!
        }
        input LogoutInput {
          refreshToken: String!
        }
        input ChangePasswordInput {
          oldPassword: String!
          newPassword: String!
        }
        input RequestPasswordResetInput {
          email: String!
        }
        input ResetPasswordInput {
          token: String!
          newPassword: String!
        }
        input VerifyEmailInput {
          token: String!
        }

        extend type Mutation {
          "Create an account and sign in. A verification e-mail is sent. Sign-ups are limited per client address (RATE_LIMITED)."
          register(input: RegisterInput!): AuthPayload
          "Sign in with e-mail and password. Failed attempts are limited per e-mail and per client address."
          login(input: LoginInput!): AuthPayload
          "Exchange a refresh token for a new access token and the next refresh token."
          refreshToken(input: RefreshTokenInput!): AuthPayload
          "Sign out the session this refresh token belongs to."
          logout(input: LogoutInput!): AccountActionPayload
          "Sign out every session of the signed-in user."
          logoutEverywhere: AccountActionPayload
          "Change the password (the old one is required); other sessions are signed out."
          changePassword(input: ChangePasswordInput!): AccountActionPayload
          "E-mail a password-reset link. Answers the same whether or not the address has an account."
          requestPasswordReset(input: RequestPasswordResetInput!): AccountActionPayload
          "Set a new password with the token from the reset e-mail; every session is signed out."
          resetPassword(input: ResetPasswordInput!): AccountActionPayload
          "E-mail the signed-in user a link to verify their address. success is false if it is verified already."
          requestEmailVerification: AccountActionPayload
          "Verify the account's e-mail address with the token from the verification e-mail."
          verifyEmail(input: VerifyEmailInput!): AccountActionPayload
        }
      `,
      objects: {
        Mutation: {
          plans: {
            register(_$root, fieldArgs) {
              const $input = fieldArgs.getRaw("input") as Step<{
                email: string;
                password: string;
                username: string;
                displayName?: string | null;
              }>;
              const $result = callSql($input, async (query, input, ctx) => {
                const [allowed] = await query<{ ok: boolean }>(
                  `select app_hidden.signup_allowed($1::inet, $2, $3) as ok`,
                  [ctx.mkingClient.ip, options.signupsPerClientPerHour, ctx.mkingClient.userAgent],
                );
                // refused, not thrown: the attempt and its audit record are committed
                if (!allowed?.ok) return { refused: "signup_rate_limited" };
                const [row] = await query<SessionRow>(
                  `select * from app_hidden.register($1, $2, $3, $4, $5, $6::interval, $7::inet, $8)`,
                  [
                    input.email,
                    input.password,
                    input.username,
                    input.displayName ?? null,
                    options.bcryptCost,
                    refreshTtl,
                    ctx.mkingClient.ip,
                    ctx.mkingClient.userAgent,
                  ],
                );
                return issue(row!, ctx);
              });
              return raiseRefusal($result);
            },
            login(_$root, fieldArgs) {
              const $input = fieldArgs.getRaw("input") as Step<{ email: string; password: string }>;
              const $result = callSql($input, async (query, input, ctx) => {
                const [row] = await query<SessionRow>(
                  `select * from app_hidden.login($1, $2, $3, $4::interval, $5::inet, $6, $7, $8, $9::interval)`,
                  [
                    input.email,
                    input.password,
                    options.bcryptCost,
                    refreshTtl,
                    ctx.mkingClient.ip,
                    ctx.mkingClient.userAgent,
                    options.loginMaxFailures,
                    options.loginMaxFailuresPerClient,
                    failureWindow,
                  ],
                );
                return completeSignIn(options.signIn, query, row!, ctx);
              });
              return raiseRefusal($result);
            },
            refreshToken(_$root, fieldArgs) {
              const $input = fieldArgs.getRaw("input") as Step<{ refreshToken: string }>;
              const $result = callSql($input, async (query, input, ctx) => {
                const [row] = await query<SessionRow>(
                  `select * from app_hidden.refresh_session($1, $2::interval, $3::inet, $4)`,
                  [input.refreshToken, refreshTtl, ctx.mkingClient.ip, ctx.mkingClient.userAgent],
                );
                return issue(row!, ctx);
              });
              return raiseRefusal($result);
            },
            logout(_$root, fieldArgs) {
              const $input = fieldArgs.getRaw("input") as Step<{ refreshToken: string }>;
              const $success = callSql($input, async (query, input, ctx) => {
                const [row] = await query<{ ok: boolean }>(
                  `select app_hidden.logout($1, $2::inet, $3) as ok`,
                  [input.refreshToken, ctx.mkingClient.ip, ctx.mkingClient.userAgent],
                );
                return row?.ok === true;
              });
              return object({ success: $success });
            },
            logoutEverywhere() {
              const $success = callSql(constant({}), async (query, _input, ctx) => {
                await query(`select app_hidden.logout_everywhere($1::inet, $2)`, [
                  ctx.mkingClient.ip,
                  ctx.mkingClient.userAgent,
                ]);
                return true;
              });
              return object({ success: $success });
            },
            changePassword(_$root, fieldArgs) {
              const $input = fieldArgs.getRaw("input") as Step<{
                oldPassword: string;
                newPassword: string;
              }>;
              const $outcome = callSql($input, async (query, input, ctx) => {
                const [row] = await query<{ outcome: string }>(
                  `select app_hidden.change_password($1, $2, $3, $4::inet, $5) as outcome`,
                  [
                    input.oldPassword,
                    input.newPassword,
                    options.bcryptCost,
                    ctx.mkingClient.ip,
                    ctx.mkingClient.userAgent,
                  ],
                );
                return row!.outcome;
              });
              const $success = lambda($outcome, (outcome) => {
                if (outcome !== "ok") {
                  throw appError("INVALID_INPUT", "The current password is not correct", {
                    field: "oldPassword",
                  });
                }
                return true;
              });
              return object({ success: $success });
            },
            requestPasswordReset(_$root, fieldArgs) {
              const $input = fieldArgs.getRaw("input") as Step<{ email: string }>;
              const $success = callSql($input, async (query, input) => {
                await query(`select app_hidden.request_password_reset($1)`, [input.email]);
                return true;
              });
              return object({ success: $success });
            },
            resetPassword(_$root, fieldArgs) {
              const $input = fieldArgs.getRaw("input") as Step<{
                token: string;
                newPassword: string;
              }>;
              const $outcome = callSql($input, async (query, input, ctx) => {
                const [row] = await query<{ outcome: string }>(
                  `select app_hidden.reset_password($1, $2, $3, $4::inet, $5) as outcome`,
                  [
                    input.token,
                    input.newPassword,
                    options.bcryptCost,
                    ctx.mkingClient.ip,
                    ctx.mkingClient.userAgent,
                  ],
                );
                return row!.outcome;
              });
              const $success = lambda($outcome, (outcome) => {
                if (outcome !== "ok") {
                  throw appError(
                    "INVALID_INPUT",
                    "This reset link is invalid, used or expired; request a new one",
                    {
                      field: "token",
                    },
                  );
                }
                return true;
              });
              return object({ success: $success });
            },
            requestEmailVerification() {
              const $success = callSql(constant({}), async (query) => {
                const [row] = await query<{ queued: boolean }>(
                  `select app_hidden.request_email_verification() as queued`,
                  [],
                );
                return row?.queued === true;
              });
              return object({ success: $success });
            },
            verifyEmail(_$root, fieldArgs) {
              const $input = fieldArgs.getRaw("input") as Step<{ token: string }>;
              const $outcome = callSql($input, async (query, input, ctx) => {
                const [row] = await query<{ outcome: string }>(
                  `select app_hidden.verify_email($1, $2::inet, $3) as outcome`,
                  [input.token, ctx.mkingClient.ip, ctx.mkingClient.userAgent],
                );
                return row!.outcome;
              });
              const $success = lambda($outcome, (outcome) => {
                if (outcome !== "ok") {
                  throw appError(
                    "INVALID_INPUT",
                    "This verification link is invalid, used or expired",
                    {
                      field: "token",
                    },
                  );
                }
                return true;
              });
              return object({ success: $success });
            },
          },
        },
        AuthPayload: {
          plans: {
            user($result: Step<AuthResult>) {
              const $userId = lambda($result, (r) => r.userId, true);
              return users.get({ id: $userId });
            },
          },
        },
      },
    };
  });
}
