/**
 * Two factors and passkeys (issue #19): TOTP enrolment, recovery codes, the second step of a
 * sign-in, passkey registration and passwordless passkey sign-in, and the signed-in user's view of
 * their factors. The flows are in src/auth/secondFactor.ts; `login` hands over to them through
 * src/auth/signIn.ts completeSignIn. README "Two-factor sign-in" and "Passkeys".
 */
import {
  sideEffectWithPgClientTransaction,
  withPgClientTransaction,
} from "postgraphile/@dataplan/pg";
import { constant, context, lambda, object, type Step } from "postgraphile/grafast";
import { extendSchema } from "postgraphile/utils";

import {
  completeSecondStep,
  confirmTotp,
  enrolTotp,
  finishPasskeyRegistration,
  finishPasskeySignIn,
  startMyCeremony,
  startPasskeySignIn,
  useFreshFactor,
  type FactorInput,
  type SecondFactorSettings,
} from "../src/auth/secondFactor.ts";
import { isoDatetime, type Query, type SignInContext } from "../src/auth/signIn.ts";
import { appError } from "../src/errors.ts";
import { refusal } from "./auth.ts";

/** A refused second-factor step, as the client sees it. */
export function factorRefusal(outcome: string): Error {
  switch (outcome) {
    case "bad_code":
    case "replayed":
      return appError(
        "SECOND_FACTOR_INVALID",
        "That code, recovery code or passkey was not accepted",
        { reason: outcome },
      );
    case "invalid":
    case "expired":
      return appError(
        "CHALLENGE_INVALID",
        outcome === "expired"
          ? "This challenge has expired; start again (sign in again for a second step)"
          : "This challenge is unknown or used; start again (sign in again for a second step)",
        { reason: outcome },
      );
    case "rate_limited":
      return appError("RATE_LIMITED", "Too many failed attempts; wait a few minutes and try again");
    case "one_factor":
      return appError("INVALID_INPUT", "Give exactly one of: code, recoveryCode, passkey", {
        field: "code",
      });
    case "not_enrolled":
      return appError("CONFLICT", "Start with enrolTotp (or the authenticator is already on)", {
        reason: "not_enrolled",
      });
    case "no_totp":
      return appError("NOT_FOUND", "No authenticator app is set up");
    case "bad_registration":
      return appError("INVALID_INPUT", "The passkey's answer could not be verified", {
        field: "response",
      });
    default:
      return refusal(outcome);
  }
}

function raise<T extends object>($result: Step<T | { refused: string }>): Step<T> {
  return lambda($result, (result) => {
    if ("refused" in result) throw factorRefusal(result.refused);
    return result;
  });
}

const factorInputFields = /* GraphQL */ `
  "A current 6-digit code from the authenticator app."
  code: String
  "One of the recovery codes (each works once)."
  recoveryCode: String
  "The passkey's answer: credential.toJSON() of navigator.credentials.get() with the ceremony's options."
  passkey: JSON
`;

export function makeTwoFactorPlugin(settings: SecondFactorSettings): GraphileConfig.Plugin {
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

    function readSql<TOut>(run: (query: Query) => Promise<TOut>): Step<TOut> {
      return withPgClientTransaction(executor, constant(null), async (pgClient) =>
        run(
          async <R>(text: string, values: unknown[]) =>
            (await pgClient.query<R>({ text, values })).rows,
        ),
      );
    }

    /** A sensitive change behind a fresh second factor; `change` runs only when it was right. */
    function behindFreshFactor<
      TIn extends FactorInput & Record<string, unknown>,
      TOut extends object,
    >(
      $input: Step<TIn>,
      purpose: string,
      change: (query: Query, input: TIn, ctx: SignInContext) => Promise<TOut | { refused: string }>,
      /** Why not, before any factor is spent (null: go on). */
      precheck: (query: Query) => Promise<string | null> = async () => null,
    ): Step<TOut> {
      return raise(
        callSql($input, async (query, input, ctx) => {
          const refused = await precheck(query);
          if (refused) return { refused };
          const outcome = await useFreshFactor(settings, query, ctx, purpose, input);
          if (outcome !== "ok") return { refused: outcome };
          return change(query, input, ctx);
        }),
      );
    }

    const me = (ctx: SignInContext): string => ctx.pgSettings["jwt.claims.user_id"] ?? "";

    return {
      typeDefs: /* GraphQL */ `
        "The second step a sign-in still needs: answer it with completeSecondStep before it expires."
        type SecondStep {
          "Single use; expires after a few minutes and after 5 wrong answers."
          token: String!
          expiresAt: Datetime!
          methods: [SecondStepMethod!]!
          "For PASSKEY: the options for navigator.credentials.get() (PublicKeyCredentialRequestOptionsJSON)."
          passkeyOptions: JSON
        }
        enum SecondStepMethod {
          TOTP
          RECOVERY_CODE
          PASSKEY
        }
        extend type AuthPayload {
          "Set instead of the tokens when the account has a second factor."
          secondStep: SecondStep
        }

        type TotpEnrolment {
          "Base32; for typing into an app that cannot scan."
          secret: String!
          "otpauth://totp/… for the QR code."
          otpauthUri: String!
        }
        type RecoveryCodesPayload {
          "Shown once: each works once instead of a code. A new set replaces the old."
          recoveryCodes: [String!]!
        }
        "A WebAuthn ceremony: pass options to the browser, send its answer back with token."
        type PasskeyCeremony {
          token: String!
          expiresAt: Datetime!
          "PublicKeyCredentialCreationOptionsJSON or PublicKeyCredentialRequestOptionsJSON."
          options: JSON!
        }
        type Passkey {
          id: UUID!
          name: String!
          createdAt: Datetime!
          lastUsedAt: Datetime
        }
        type PasskeyRegistrationPayload {
          passkey: Passkey!
          "The recovery codes, when this passkey is the account's first second factor (shown once)."
          recoveryCodes: [String!]
        }
        type SecondFactors {
          totpEnabled: Boolean!
          recoveryCodesLeft: Int!
          passkeys: Int!
        }

        input CompleteSecondStepInput {
          "SecondStep.token from login."
          token: String!
          ${factorInputFields}
        }
        input ConfirmTotpInput {
          code: String!
        }
        input FreshFactorInput {
          ${factorInputFields}
          "With passkey: the token of startPasskeyVerification."
          passkeyToken: String
        }
        input FinishPasskeyRegistrationInput {
          token: String!
          "credential.toJSON() of navigator.credentials.create() with the ceremony's options."
          response: JSON!
          "A name to recognise it by (e.g. 'Laptop')."
          name: String
        }
        input StartPasskeySignInInput {
          "Narrows the sign-in to this account's passkeys; leave it out for discoverable passkeys."
          email: String
        }
        input FinishPasskeySignInInput {
          token: String!
          "credential.toJSON() of navigator.credentials.get() with the ceremony's options."
          response: JSON!
        }
        input RemovePasskeyInput {
          id: UUID!
          ${factorInputFields}
          passkeyToken: String
        }

        extend type Mutation {
          "The second step of a sign-in: one of code, recoveryCode or passkey. Failures are limited and audited."
          completeSecondStep(input: CompleteSecondStepInput!): AuthPayload
          "Start setting up an authenticator app; it is required at sign-in once confirmTotp succeeds."
          enrolTotp: TotpEnrolment
          "Turn the authenticator app on with its first code; returns the recovery codes (once)."
          confirmTotp(input: ConfirmTotpInput!): RecoveryCodesPayload
          "Turn the authenticator app off; needs a fresh code, recovery code or passkey."
          disableTotp(input: FreshFactorInput!): AccountActionPayload
          "A new set of recovery codes (the old ones stop working); needs a fresh second factor."
          regenerateRecoveryCodes(input: FreshFactorInput!): RecoveryCodesPayload
          "Start adding a passkey to the signed-in account."
          startPasskeyRegistration: PasskeyCeremony
          "Finish adding a passkey with the browser's answer."
          finishPasskeyRegistration(input: FinishPasskeyRegistrationInput!): PasskeyRegistrationPayload
          "A passkey challenge proving a fresh second factor (FreshFactorInput.passkeyToken)."
          startPasskeyVerification: PasskeyCeremony
          "Remove a passkey; needs a fresh second factor."
          removePasskey(input: RemovePasskeyInput!): AccountActionPayload
          "Start a passwordless sign-in with a passkey."
          startPasskeySignIn(input: StartPasskeySignInInput): PasskeyCeremony
          "Finish a passwordless passkey sign-in: a passkey counts as both factors."
          finishPasskeySignIn(input: FinishPasskeySignInInput!): AuthPayload
        }
        extend type Query {
          "The signed-in user's passkeys."
          myPasskeys: [Passkey!]
          "The signed-in user's second factors."
          mySecondFactors: SecondFactors
        }
      `,
      objects: {
        Mutation: {
          plans: {
            completeSecondStep(_$root, fieldArgs) {
              const $input = fieldArgs.getRaw("input") as Step<{ token: string } & FactorInput>;
              return raise(
                callSql($input, (query, input, ctx) =>
                  completeSecondStep(settings, query, ctx, input),
                ),
              );
            },
            enrolTotp() {
              return callSql(constant({}), (query) => enrolTotp(query));
            },
            confirmTotp(_$root, fieldArgs) {
              const $input = fieldArgs.getRaw("input") as Step<{ code: string }>;
              return raise(
                callSql($input, (query, input, ctx) =>
                  confirmTotp(settings, query, ctx, input.code),
                ),
              );
            },
            disableTotp(_$root, fieldArgs) {
              const $input = fieldArgs.getRaw("input") as Step<
                FactorInput & Record<string, unknown>
              >;
              const $done = behindFreshFactor(
                $input,
                "disable_totp",
                async (query, _input, ctx) => {
                  await query(`select app_hidden.disable_totp($1::inet, $2)`, [
                    ctx.mkingClient.ip,
                    ctx.mkingClient.userAgent,
                  ]);
                  return { success: true };
                },
                async (query) => {
                  const [row] = await query<{ enabled: boolean }>(
                    `select totp_enabled as enabled from app_hidden.my_second_factor_status()`,
                    [],
                  );
                  return row?.enabled ? null : "no_totp";
                },
              );
              return object({ success: lambda($done, (d) => d.success) });
            },
            regenerateRecoveryCodes(_$root, fieldArgs) {
              const $input = fieldArgs.getRaw("input") as Step<
                FactorInput & Record<string, unknown>
              >;
              return behindFreshFactor(
                $input,
                "regenerate_recovery_codes",
                async (query, _i, ctx) => {
                  const [row] = await query<{ codes: string[] }>(
                    `select app_hidden.regenerate_recovery_codes($1::inet, $2) as codes`,
                    [ctx.mkingClient.ip, ctx.mkingClient.userAgent],
                  );
                  return { recoveryCodes: row!.codes };
                },
              );
            },
            startPasskeyRegistration() {
              return callSql(constant({}), (query, _input, ctx) =>
                startMyCeremony(settings, query, "passkey_registration", me(ctx)),
              );
            },
            finishPasskeyRegistration(_$root, fieldArgs) {
              const $input = fieldArgs.getRaw("input") as Step<{
                token: string;
                response: unknown;
                name?: string | null;
              }>;
              const $result = raise(
                callSql($input, async (query, input, ctx) => {
                  const done = await finishPasskeyRegistration(settings, query, ctx, input);
                  if ("refused" in done) return done;
                  const [passkey] = await query<{
                    id: string;
                    name: string;
                    created_at: string;
                    last_used_at: string | null;
                  }>(`select * from app_hidden.my_passkeys() where id = $1`, [done.passkeyId]);
                  return {
                    passkey: {
                      id: passkey!.id,
                      name: passkey!.name,
                      createdAt: isoDatetime(passkey!.created_at),
                      lastUsedAt: passkey!.last_used_at && isoDatetime(passkey!.last_used_at),
                    },
                    recoveryCodes: done.recoveryCodes,
                  };
                }),
              );
              return $result;
            },
            startPasskeyVerification() {
              return callSql(constant({}), (query, _input, ctx) =>
                startMyCeremony(settings, query, "verify", me(ctx)),
              );
            },
            removePasskey(_$root, fieldArgs) {
              const $input = fieldArgs.getRaw("input") as Step<
                { id: string } & FactorInput & Record<string, unknown>
              >;
              const $done = behindFreshFactor(
                $input,
                "remove_passkey",
                async (query, input, ctx) => {
                  await query(`select app_hidden.remove_passkey($1, $2::inet, $3)`, [
                    input.id,
                    ctx.mkingClient.ip,
                    ctx.mkingClient.userAgent,
                  ]);
                  return { success: true };
                },
              );
              return object({ success: lambda($done, (d) => d.success) });
            },
            startPasskeySignIn(_$root, fieldArgs) {
              const $input = fieldArgs.getRaw("input") as Step<{ email?: string | null } | null>;
              const $wrapped = lambda($input, (input) => ({ email: input?.email ?? null }));
              return callSql($wrapped, (query, input) =>
                startPasskeySignIn(settings, query, input.email),
              );
            },
            finishPasskeySignIn(_$root, fieldArgs) {
              const $input = fieldArgs.getRaw("input") as Step<{
                token: string;
                response: unknown;
              }>;
              return raise(
                callSql($input, (query, input, ctx) =>
                  finishPasskeySignIn(settings, query, ctx, input),
                ),
              );
            },
          },
        },
        Query: {
          plans: {
            myPasskeys() {
              return readSql(async (query) => {
                const rows = await query<{
                  id: string;
                  name: string;
                  created_at: string;
                  last_used_at: string | null;
                }>(`select * from app_hidden.my_passkeys()`, []);
                return rows.map((r) => ({
                  id: r.id,
                  name: r.name,
                  createdAt: isoDatetime(r.created_at),
                  lastUsedAt: r.last_used_at && isoDatetime(r.last_used_at),
                }));
              });
            },
            mySecondFactors() {
              return readSql(async (query) => {
                const [row] = await query<{
                  totp_enabled: boolean;
                  recovery_codes_left: number;
                  passkeys: number;
                }>(`select * from app_hidden.my_second_factor_status()`, []);
                return {
                  totpEnabled: row!.totp_enabled,
                  recoveryCodesLeft: row!.recovery_codes_left,
                  passkeys: row!.passkeys,
                };
              });
            },
          },
        },
      },
    };
  });
}
