/**
 * Presence (issue #15): `friendsOnline` (who of your friends holds a live websocket on any API
 * instance, as this instance knows it: src/realtime/presence.ts) and `presenceChanged` (your
 * friends coming online and going offline: src/realtime/presenceFeed.ts). Friendship and blocks
 * are read from the database: friendsOnline under your own role and claims, presenceChanged by
 * one audience statement per transition for all of the instance's subscribers.
 */
import { TYPES, withPgClient, type WithPgClient } from "postgraphile/@dataplan/pg";
import {
  access,
  constant,
  context,
  lambda,
  listen,
  object,
  type GrafastSubscriber,
  type Step,
} from "postgraphile/grafast";
import { extendSchema } from "postgraphile/utils";

import { appError } from "../src/errors.ts";
import type { Logger } from "../src/log.ts";
import { raiseFailure, type LiveFailure } from "../src/realtime/liveTopic.ts";
import type { Presence } from "../src/realtime/presence.ts";
import { PresenceFeed, type PresenceEvent } from "../src/realtime/presenceFeed.ts";

export interface PresencePluginOptions {
  /** This instance's presence; null (no server, e.g. the schema export): nobody is online. */
  presence: Presence | null;
  log: Logger;
  /** Events waiting for one subscription's client before it ends (CLIENT_TOO_SLOW). */
  maxQueuedEvents: number;
}

type Settings = Record<string, string | undefined> | null;
interface LiveContext {
  withPgClient: WithPgClient;
  pgSettings: Settings;
}

export function makePresencePlugin(options: PresencePluginOptions): GraphileConfig.Plugin {
  const { presence } = options;
  const log = options.log.child({ component: "realtime" });
  let feed: PresenceFeed | null = null;
  const feedFor = (p: Presence, ctx: LiveContext): PresenceFeed =>
    (feed ??= new PresenceFeed(
      p,
      (text, values) =>
        ctx.withPgClient({ role: "authenticated" }, async (client) => [
          ...(await client.query<never>({ text, values })).rows,
        ]),
      options.maxQueuedEvents,
      log,
    ));

  return extendSchema((build) => {
    const { sql } = build;
    const { user: users } = build.pgResources;
    if (!users) throw new Error("PresencePlugin: the user resource is missing");
    const executor = build.pgExecutor;

    return {
      typeDefs: /* GraphQL */ `
        extend type Query {
          """
          Your friends who are online now (a live connection to the API). Empty when signed out.
          """
          friendsOnline: [User!]!
        }

        extend type Subscription {
          "One of your friends came online or went offline."
          presenceChanged: PresenceEvent
        }

        type PresenceEvent {
          user: User
          "Whether they are online now."
          online: Boolean!
          "When they were last online, as \`User.lastSeenAt\` shows it to you."
          lastSeenAt: Datetime
        }
      `,
      objects: {
        Query: {
          plans: {
            friendsOnline() {
              const $settings = context().get("pgSettings") as unknown as Step<Settings>;
              const $online = lambda(
                $settings,
                (settings) =>
                  settings?.["jwt.claims.user_id"] && presence
                    ? [...presence.online()].join(",")
                    : "",
                true,
              );
              const $users = users.find();
              const alias = $users.alias;
              $users.where(
                sql`${alias}.id = any (string_to_array(${$users.placeholder($online, TYPES.text)}, ',')::uuid[])`,
              );
              $users.where(sql`${alias}.id in (select app_hidden.friend_ids())`);
              $users.where(sql`${alias}.id not in (select app_hidden.blocked_user_ids())`);
              $users.orderBy({
                fragment: sql`${alias}.username`,
                codec: TYPES.text,
                direction: "ASC",
              });
              return $users;
            },
          },
        },
        Subscription: {
          plans: {
            presenceChanged: {
              subscribePlan() {
                const $ctx = object({
                  withPgClient: context().get("withPgClient"),
                  pgSettings: context().get("pgSettings"),
                }) as unknown as Step<LiveContext>;
                const $subscriber = lambda(
                  $ctx,
                  (ctx): GrafastSubscriber<Record<string, PresenceEvent | LiveFailure>> => ({
                    subscribe() {
                      const userId = ctx.pgSettings?.["jwt.claims.user_id"];
                      if (!userId) throw appError("UNAUTHENTICATED", "Sign in to subscribe");
                      if (!presence)
                        throw appError("BAD_REQUEST", "Subscriptions are not available");
                      return feedFor(presence, ctx).join(userId);
                    },
                  }),
                );
                return listen($subscriber, constant("presence"), ($item) =>
                  lambda($item, raiseFailure),
                );
              },
              plan: ($event) => $event,
            },
          },
        },
        PresenceEvent: {
          plans: {
            user: ($event: Step<PresenceEvent>) => users.get({ id: access($event, "user_id") }),
            online: ($event: Step<PresenceEvent>) => access($event, "online"),
            lastSeenAt: ($event: Step<PresenceEvent>) =>
              withPgClient(executor, access($event, "user_id"), async (client, userId) => {
                const { rows } = await client.query<{ at: string | null }>({
                  // the Datetime format PostGraphile uses (@dataplan/pg's timestamptz codec), so
                  // the event and User.lastSeenAt print the same instant the same way (to_json
                  // drops trailing zeros of the microseconds: .97572 vs .975720)
                  text: `select to_char(app_public.user_cards_last_seen_at(c),
                                        'YYYY-MM-DD"T"HH24:MI:SS.USTZH:TZM') as at
                           from app_public.user_cards c where c.id = $1`,
                  values: [userId],
                });
                return rows[0]?.at ?? null;
              }),
          },
        },
      },
    };
  });
}
