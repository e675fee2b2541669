/**
 * Mutations per signed-in user per minute (MUTATIONS_PER_MINUTE_PER_USER), per API instance, over
 * HTTP and websockets alike. Without it one account could send friend requests, messages, posts
 * and likes as fast as the request limits let it: a flood whose every write notifies someone.
 * Beyond the limit the operation is not run: RATE_LIMITED, with `retryAfterSeconds`. Anonymous
 * mutations (sign-in, sign-up, password-reset requests, passkey and second steps) are counted
 * the same way per client address, under the same limit; the database's own limits on sign-ins
 * and sign-ups hold besides.
 *
 * Per instance, like the realtime limits (README "Scaling out"): behind N instances a user gets
 * up to N times the limit, which still bounds a flood. Queries are not counted.
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
          const context = args.contextValue as
            { pgSettings?: Settings; mkingClient?: { ip: string | null } } | undefined;
          const userId = context?.pgSettings?.["jwt.claims.user_id"];
          const ip = context?.mkingClient?.ip;
          const key = userId ? `user:${userId}` : ip ? `client:${ip}` : null;
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
