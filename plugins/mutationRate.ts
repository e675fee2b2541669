/**
 * Mutations per signed-in user per minute (MUTATIONS_PER_MINUTE_PER_USER), per API instance, over
 * HTTP and websockets alike. Without it one account could send friend requests, messages, posts
 * and likes as fast as the request limits let it: a flood whose every write notifies someone.
 * Beyond the limit the operation is not run: RATE_LIMITED, with `retryAfterSeconds`. Anonymous
 * mutations (sign-in, sign-up, password-reset requests, passkey and second steps) are counted
 * the same way per client address, under the same limit; the database's own limits on sign-ins
 * and sign-ups hold besides. Except `refreshToken` and `logout`: they carry a session's secret,
 * and every signed-in client refreshes every 15 minutes — thousands of users behind one
 * carrier's NAT address would otherwise share one budget.
 *
 * Per instance, like the realtime limits (README "Scaling out"): behind N instances a user gets
 * up to N times the limit, which still bounds a flood. Queries are not counted.
 */
import "postgraphile";
import { GraphQLError, Kind, getOperationAST, type DocumentNode } from "postgraphile/graphql";

import { RateLimiter } from "../src/rateLimiter.ts";
import { operationOf } from "./lib/operation.ts";

export interface MutationRateOptions {
  perMinute: number;
}

type Settings = Record<string, string | undefined> | undefined;

/** Anonymous mutations not counted per address: each proves a session by its refresh token. */
const SESSION_FIELDS: ReadonlySet<string> = new Set(["refreshToken", "logout"]);

const sessionOnly = new WeakMap<DocumentNode, Map<string, boolean>>();

/** Whether the operation's root fields are all SESSION_FIELDS (remembered per document). */
function onlySessionFields(
  document: DocumentNode,
  operationName: string | null | undefined,
): boolean {
  let byName = sessionOnly.get(document);
  if (!byName) sessionOnly.set(document, (byName = new Map()));
  const key = operationName ?? "";
  let only = byName.get(key);
  if (only === undefined) {
    const selections = getOperationAST(document, operationName)?.selectionSet.selections ?? [];
    only =
      selections.length > 0 &&
      selections.every((s) => s.kind === Kind.FIELD && SESSION_FIELDS.has(s.name.value));
    byName.set(key, only);
  }
  return only;
}

export function makeMutationRatePlugin(options: MutationRateOptions): GraphileConfig.Plugin {
  const limiter = new RateLimiter(options.perMinute);
  return {
    name: "MkingMutationRatePlugin",
    version: "1.0.0",
    grafast: {
      middleware: {
        execute(next, { args }) {
          if (operationOf(args.document, args.operationName)?.type !== "mutation") return next();
          const context = args.contextValue as
            { pgSettings?: Settings; mkingClient?: { ip: string | null } } | undefined;
          const userId = context?.pgSettings?.["jwt.claims.user_id"];
          const ip = context?.mkingClient?.ip;
          const key = userId
            ? `user:${userId}`
            : ip && !onlySessionFields(args.document, args.operationName)
              ? `client:${ip}`
              : null;
          if (key === null) return next();
          const waitMs = limiter.take(key);
          if (waitMs === 0) return next();
          const retryAfterSeconds = Math.ceil(waitMs / 1000);
          const who = userId ? "changes" : "requests from this address";
          return {
            errors: [
              new GraphQLError(
                `Too many ${who} in a minute (at most ${options.perMinute}); try again in ${retryAfterSeconds} s`,
                { extensions: { code: "RATE_LIMITED", retryAfterSeconds } },
              ),
            ],
          };
        },
      },
    },
  };
}
