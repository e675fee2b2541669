/**
 * Deleting an account, with a grace period (issue #13): requestAccountDeletion and
 * cancelAccountDeletion. The rules live in SQL (`app_hidden.request_account_deletion`,
 * `app_hidden.cancel_account_deletion`, `app_private.erase_account`, migration section
 * "personal data: deletion and erasure"); signing in during the grace period restores the account
 * too (app_hidden.login, AuthPayload.accountRestored). For an account with a second factor only a
 * complete sign-in restores it: cancelAccountDeletion answers SECOND_FACTOR_REQUIRED (migration
 * section "sign-in: restore needs every factor"). README "Account lifecycle".
 *
 * Like the sign-in functions, these never raise for a refused password: they return why, so the
 * failed attempt (rate-limit counter, audit row) is committed, and the error is raised here.
 */
import { sideEffectWithPgClientTransaction } from "postgraphile/@dataplan/pg";
import { context, lambda, object, type Step } from "postgraphile/grafast";
import { extendSchema } from "postgraphile/utils";

import type { ClientInfo } from "../src/auth/request.ts";
import { appError } from "../src/errors.ts";
import { refusal } from "./auth.ts";

export interface AccountLifecyclePluginOptions {
  bcryptCost: number;
  /** ACCOUNT_DELETION_GRACE_DAYS */
  deletionGraceDays: number;
  loginMaxFailures: number;
  loginMaxFailuresPerClient: number;
  loginFailureWindowMinutes: number;
}

interface MutationContext {
  mkingClient: ClientInfo;
}

type Query = <R>(text: string, values: unknown[]) => Promise<readonly R[]>;

/** A refused requestAccountDeletion, as the client sees it. */
function deletionRefusal(outcome: string): Error {
  switch (outcome) {
    case "bad_credentials":
      return appError("INVALID_INPUT", "The password is not correct", { field: "password" });
    case "no_password":
      return appError(
        "INVALID_INPUT",
        "This account has no password: set one (password reset) to confirm the deletion",
        { field: "password", reason: "no_password" },
      );
    default:
      return refusal(outcome);
  }
}

/**
 * cancelAccountDeletion for an account with a second factor: the password alone does not bring it
 * back; a sign-in does, once its second step is done.
 */
function secondFactorRequired(): Error {
  return appError(
    "SECOND_FACTOR_REQUIRED",
    "This account has a second factor: sign in (with your code or passkey) to keep it",
    { reason: "sign_in_required" },
  );
}

export function makeAccountLifecyclePlugin(
  options: AccountLifecyclePluginOptions,
): GraphileConfig.Plugin {
  const grace = `${options.deletionGraceDays} days`;
  const failureWindow = `${options.loginFailureWindowMinutes} minutes`;

  return extendSchema((build) => {
    const executor = build.pgExecutor;
    const $context = (): Step<MutationContext> => context() as unknown as Step<MutationContext>;

    /** Runs SQL in a transaction under the caller's role (the functions are security definer). */
    function callSql<TIn extends Record<string, unknown>, TOut>(
      $input: Step<TIn>,
      run: (query: Query, input: TIn, ctx: MutationContext) => Promise<TOut>,
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

    return {
      typeDefs: /* GraphQL */ `
        input RequestAccountDeletionInput {
          "The account's password, to confirm."
          password: String!
        }
        input CancelAccountDeletionInput {
          email: String!
          password: String!
        }
        type AccountDeletionPayload {
          success: Boolean!
          "When the account will be erased unless you sign in or cancel before."
          erasureScheduledFor: Datetime!
        }

        extend type Mutation {
          """
          Delete your account: confirm with your password. Every session is signed out at once and
          the account is hidden from everyone; it is erased after the grace period
          (ACCOUNT_DELETION_GRACE_DAYS) unless you sign in or call cancelAccountDeletion before.
          """
          requestAccountDeletion(input: RequestAccountDeletionInput!): AccountDeletionPayload
          """
          Keep an account whose deletion you asked for, during the grace period, without signing
          in (signing in keeps it too). success is false when no deletion was pending. An account
          with a second factor is refused (SECOND_FACTOR_REQUIRED): sign in instead, which keeps
          it once the second step is done.
          """
          cancelAccountDeletion(input: CancelAccountDeletionInput!): AccountActionPayload
        }
      `,
      objects: {
        Mutation: {
          plans: {
            requestAccountDeletion(_$root, fieldArgs) {
              const $input = fieldArgs.getRaw("input") as Step<{ password: string }>;
              const $row = callSql($input, async (query, input, ctx) => {
                const [row] = await query<{ outcome: string; scheduled_for: Date | null }>(
                  `select * from app_hidden.request_account_deletion($1, $2::interval, $3, $4::inet, $5, $6, $7, $8::interval)`,
                  [
                    input.password,
                    grace,
                    options.bcryptCost,
                    ctx.mkingClient.ip,
                    ctx.mkingClient.userAgent,
                    options.loginMaxFailures,
                    options.loginMaxFailuresPerClient,
                    failureWindow,
                  ],
                );
                return row!;
              });
              const $scheduled = lambda($row, (row) => {
                if (row.outcome !== "ok" || !row.scheduled_for) throw deletionRefusal(row.outcome);
                return row.scheduled_for.toISOString();
              });
              return object({
                success: lambda($scheduled, () => true),
                erasureScheduledFor: $scheduled,
              });
            },
            cancelAccountDeletion(_$root, fieldArgs) {
              const $input = fieldArgs.getRaw("input") as Step<{ email: string; password: string }>;
              const $outcome = callSql($input, async (query, input, ctx) => {
                const [row] = await query<{ outcome: string }>(
                  `select app_hidden.cancel_account_deletion($1, $2, $3, $4::inet, $5, $6, $7, $8::interval) as outcome`,
                  [
                    input.email,
                    input.password,
                    options.bcryptCost,
                    ctx.mkingClient.ip,
                    ctx.mkingClient.userAgent,
                    options.loginMaxFailures,
                    options.loginMaxFailuresPerClient,
                    failureWindow,
                  ],
                );
                return row!.outcome;
              });
              const $success = lambda($outcome, (outcome) => {
                if (outcome === "ok") return true;
                if (outcome === "not_pending") return false;
                if (outcome === "second_factor_required") throw secondFactorRequired();
                throw refusal(outcome);
              });
              return object({ success: $success });
            },
          },
        },
      },
    };
  });
}
