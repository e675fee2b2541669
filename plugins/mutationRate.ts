/**
 * Mutations per signed-in user per minute (MUTATIONS_PER_MINUTE_PER_USER), per API instance, over
 * HTTP and websockets alike. Without it one account could send friend requests, messages, posts
 * and likes as fast as the request limits let it: a flood whose every write notifies someone.
 * Beyond the limit the operation is not run: RATE_LIMITED, with `retryAfterSeconds`.
 *
 * Per instance, like the realtime limits (README "Scaling out"): behind N instances a user gets
 * up to N times the limit, which still bounds a flood; queries and anonymous callers (sign-in,
 * sign-up: limited in the database) are not counted here.
 */
import "postgraphile";
import { GraphQLError } from "postgraphile/graphql";

import { RateLimiter } from "../src/realtime/rateLimiter.ts";
import { operationOf } from "./lib/operation.ts";

export interface MutationRateOptions {
  perMinute: number;
}

type Settings = Record<string, string | undefined> | undefined;

export function makeMutationRatePlugin(options: MutationRateOptions): GraphileConfig.Plugin {
  const limiter = new RateLimiter(options.perMinute);
  return {
    name: "MkingMutationRatePlugin",
    version: "1.0.0",
    grafast: {
      middleware: {
        execute(next, { args }) {
          if (operationOf(args.document, args.operationName)?.type !== "mutation") return next();
          const context = args.contextValue as { pgSettings?: Settings } | undefined;
          const userId = context?.pgSettings?.["jwt.claims.user_id"];
          if (!userId) return next();
          const waitMs = limiter.take(userId);
          if (waitMs === 0) return next();
          const retryAfterSeconds = Math.ceil(waitMs / 1000);
          return {
            errors: [
              new GraphQLError(
                `Too many changes in a minute (at most ${options.perMinute}); try again in ${retryAfterSeconds} s`,
                { extensions: { code: "RATE_LIMITED", retryAfterSeconds } },
              ),
            ],
          };
        },
      },
    },
  };
}
