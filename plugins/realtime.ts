/**
 * Realtime: GraphQL subscriptions over PostgreSQL LISTEN/NOTIFY, and typing indicators.
 *
 * Triggers publish ids on per-entity channels (migrations/committed/000005.sql); the instance's
 * topic hub listens once per topic and, per event, decides in one statement which of its
 * subscribers may see it (app_hidden.*_audience, held to row-level security by
 * test/realtime/audience.property.test.ts; src/realtime/hub.ts); each field then reads the row
 * under the subscriber's own role and claims, the reads of all of the instance's subscribers to
 * one event in one statement (src/realtime/sharedReads.ts). Every subscription is private:
 * without a token it is refused.
 */
import { sideEffectWithPgClientTransaction, type WithPgClient } from "postgraphile/@dataplan/pg";
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
import type { ApiMetrics } from "../src/metrics/api.ts";
import { TopicHub, type Audience } from "../src/realtime/hub.ts";
import { raiseFailure, type LiveFailure, type Query } from "../src/realtime/liveTopic.ts";
import { RateLimiter } from "../src/rateLimiter.ts";
import { rawWithPgClient, sharedReadsFor, type SharedReads } from "../src/realtime/sharedReads.ts";
import { operationOf } from "./lib/operation.ts";

export interface RealtimeOptions {
  log: Logger;
  /** Events waiting for one subscription's client before it ends (CLIENT_TOO_SLOW). */
  maxQueuedEvents: number;
  /** sendTyping calls per user per minute. */
  typingPerMinute: number;
  /** Counts events dropped for slow clients (src/metrics/api.ts). */
  metrics?: ApiMetrics | null;
  /** Told of the instance's topic hub when it starts (the benchmark reads its statistics). */
  onHub?: (hub: TopicHub) => void;
  /** Told of the instance's shared payload reads when they start (tests read their statistics). */
  onSharedReads?: (reads: SharedReads) => void;
}

type Settings = Record<string, string | undefined> | null;
interface LiveContext {
  pgSubscriber: GrafastSubscriber<Record<string, string>> | null;
  withPgClient: WithPgClient;
  pgSettings: Settings;
}

interface Event {
  id?: string;
  op?: string;
  user_id?: string;
  conversation_id?: string;
  reason?: string;
  unread_count?: number;
}

/** What one subscription field listens to and lets through, given who is asking. */
interface LiveSpec {
  /** The topic together with its audience: subscriptions with the same key share a listener. */
  key: string;
  topic: string;
  authorize?: (query: Query) => Promise<void>;
  audience: Audience<Event>;
  wants?: (event: Event) => boolean;
}

const one = async (query: Query, text: string, values: unknown[]): Promise<boolean> =>
  (await query<{ ok: boolean }>(text, values))[0]?.ok === true;

const requireParticipant = (conversationId: string) => async (query: Query) => {
  if (!(await one(query, `select app_hidden.is_active_participant($1) as ok`, [conversationId]))) {
    throw appError("FORBIDDEN", "You are not in this conversation", { field: "conversationId" });
  }
};

/** An audience from a function returning the allowed user ids (as `user_id`). */
const usersFrom =
  (text: string, values: (event: Event, userIds: string[]) => unknown[], shape = (e: Event) => e) =>
  async (event: Event, userIds: string[], query: Query): Promise<Map<string, Event>> => {
    const rows = await query<{ user_id: string }>(text, values(event, userIds));
    const out = shape(event);
    return new Map(rows.map((r) => [r.user_id, out]));
  };

export function makeRealtimePlugin(options: RealtimeOptions): GraphileConfig.Plugin {
  const log = options.log.child({ component: "realtime" });
  const typing = new RateLimiter(options.typingPerMinute);
  // one hub per API instance (its LISTEN connection): every subscription of a topic shares it
  const hubs = new WeakMap<object, TopicHub>();
  const hubFor = (ctx: LiveContext & { pgSubscriber: object }): TopicHub => {
    let hub = hubs.get(ctx.pgSubscriber);
    if (!hub) {
      hub = new TopicHub({
        subscriber: ctx.pgSubscriber as GrafastSubscriber<Record<string, string>>,
        withPgClient: rawWithPgClient(ctx.withPgClient),
        pgSettings: { role: "authenticated" },
        maxQueued: options.maxQueuedEvents,
        log,
        ...(options.metrics
          ? { onDropped: (events: number) => options.metrics?.dropped("slow_client", events) }
          : {}),
      });
      hubs.set(ctx.pgSubscriber, hub);
      options.onHub?.(hub);
    }
    return hub;
  };

  const schema = extendSchema((build) => {
    const { messages, notifications, conversations, user: users } = build.pgResources;
    if (!messages || !notifications || !conversations || !users) {
      throw new Error("RealtimePlugin: a resource it needs is missing");
    }
    const executor = build.pgExecutor;

    /** The subscriber for one field: who is asking (from the context) decides the spec. */
    function live(
      $conversationId: Step<string> | null,
      spec: (userId: string, conversationId: string) => LiveSpec,
    ) {
      const $ctx = object({
        pgSubscriber: context().get("pgSubscriber"),
        withPgClient: context().get("withPgClient"),
        pgSettings: context().get("pgSettings"),
      }) as unknown as Step<LiveContext>;
      const $subscriber = lambda(
        [$ctx, $conversationId ?? constant("")] as const,
        ([ctx, conversationId]): GrafastSubscriber<Record<string, Event | LiveFailure>> => {
          const userId = ctx.pgSettings?.["jwt.claims.user_id"];
          const { pgSubscriber } = ctx;
          return {
            async subscribe() {
              if (!userId) throw appError("UNAUTHENTICATED", "Sign in to subscribe");
              if (!pgSubscriber) throw appError("BAD_REQUEST", "Subscriptions are not available");
              const s = spec(userId, conversationId);
              if (s.authorize) {
                await s.authorize((text, values) =>
                  rawWithPgClient(ctx.withPgClient)(ctx.pgSettings, async (client) => [
                    ...(await client.query<never>({ text, values })).rows,
                  ]),
                );
              }
              return hubFor({ ...ctx, pgSubscriber }).join<Event>(
                s.key,
                s.topic,
                s.audience,
                userId,
                s.wants,
              );
            },
          };
        },
      );
      // A subscription that fails after it started ends with its error as the field's error.
      return listen($subscriber, constant("live"), ($item) => lambda($item, raiseFailure));
    }

    /** Message events of the conversation of kind `op`, for those who may see the message. */
    const messageEvents =
      (op: "insert" | "update") =>
      (_userId: string, conversationId: string): LiveSpec => ({
        key: `messages:${conversationId}`,
        topic: `conversation:${conversationId}`,
        authorize: requireParticipant(conversationId),
        audience: usersFrom(
          `select app_hidden.message_audience($1, $2, $3::uuid[]) as user_id`,
          (event, userIds) => [conversationId, event.id, userIds],
        ),
        wants: (event) => event.op === op,
      });

    return {
      typeDefs: /* GraphQL */ `
        extend type Subscription {
          """
          Each new message in a conversation you take part in, as it is sent. Refused
          (FORBIDDEN) unless you are in the conversation; stops delivering the moment you
          leave or a block separates you from the sender.
          """
          messageAdded(conversationId: UUID!): Message
          "Each edit or deletion of a message in a conversation you take part in."
          messageUpdated(conversationId: UUID!): Message
          """
          Your new notifications, and changes to them (coalesced, read), with your new unread
          count.
          """
          notificationAdded: NotificationEvent
          "Someone else is typing in a conversation you take part in (see \`sendTyping\`)."
          typing(conversationId: UUID!): TypingEvent
          """
          A conversation you belong to got a message or changed (renamed, someone joined or
          left, you read or muted it): to reorder and refresh a conversation list.
          """
          myConversationsUpdated: ConversationUpdate
        }

        type NotificationEvent {
          notification: Notification
          "How many of your notifications are unread now."
          unreadCount: Int!
        }

        type TypingEvent {
          conversationId: UUID!
          user: User
        }

        type ConversationUpdate {
          conversation: Conversation
          "message, conversation, participants, read or muted."
          reason: String!
        }

        input SendTypingInput {
          conversationId: UUID!
        }
        type SendTypingPayload {
          sent: Boolean!
        }

        extend type Mutation {
          """
          Tell the others in a conversation that you are typing (delivered to their \`typing\`
          subscription, never stored). Limited per user per minute (RATE_LIMITED).
          """
          sendTyping(input: SendTypingInput!): SendTypingPayload
        }
      `,
      objects: {
        Subscription: {
          plans: {
            messageAdded: {
              subscribePlan: (_$root, fieldArgs) =>
                live(fieldArgs.getRaw("conversationId") as Step<string>, messageEvents("insert")),
              plan: ($event) => messages.get({ id: access($event, "id") }),
            },
            messageUpdated: {
              subscribePlan: (_$root, fieldArgs) =>
                live(fieldArgs.getRaw("conversationId") as Step<string>, messageEvents("update")),
              plan: ($event) => messages.get({ id: access($event, "id") }),
            },
            notificationAdded: {
              subscribePlan: () =>
                live(null, (userId) => ({
                  key: `notifications:${userId}`,
                  topic: `user:${userId}:notifications`,
                  audience: async (event, userIds, query) => {
                    const rows = await query<{ user_id: string; unread_count: number }>(
                      `select user_id, unread_count from app_hidden.notification_audience($1, $2::uuid[])`,
                      [event.id, userIds],
                    );
                    return new Map(
                      rows.map((r) => [r.user_id, { ...event, unread_count: r.unread_count }]),
                    );
                  },
                })),
              plan: ($event) => $event,
            },
            typing: {
              subscribePlan: (_$root, fieldArgs) =>
                live(
                  fieldArgs.getRaw("conversationId") as Step<string>,
                  (_userId, conversationId): LiveSpec => ({
                    key: `typing:${conversationId}`,
                    topic: `conversation:${conversationId}:typing`,
                    authorize: requireParticipant(conversationId),
                    audience: usersFrom(
                      `select app_hidden.typing_audience($1, $2, $3::uuid[]) as user_id`,
                      (event, userIds) => [conversationId, event.user_id, userIds],
                      (event) => ({ ...event, conversation_id: conversationId }),
                    ),
                  }),
                ),
              plan: ($event) => $event,
            },
            myConversationsUpdated: {
              subscribePlan: () =>
                live(null, (userId) => ({
                  key: `conversations:${userId}`,
                  topic: `user:${userId}:conversations`,
                  audience: usersFrom(
                    `select app_hidden.conversation_audience($1, $2::uuid[]) as user_id`,
                    (event, userIds) => [event.conversation_id, userIds],
                  ),
                })),
              plan: ($event) => $event,
            },
          },
        },
        NotificationEvent: {
          plans: {
            notification: ($event: Step<Event>) => notifications.get({ id: access($event, "id") }),
            unreadCount: ($event: Step<Event>) => access($event, "unread_count"),
          },
        },
        TypingEvent: {
          plans: {
            conversationId: ($event: Step<Event>) => access($event, "conversation_id"),
            user: ($event: Step<Event>) => users.get({ id: access($event, "user_id") }),
          },
        },
        SendTypingPayload: {
          plans: {
            sent: ($payload: Step<{ sent: boolean }>) => access($payload, "sent"),
          },
        },
        ConversationUpdate: {
          plans: {
            conversation: ($event: Step<Event>) =>
              conversations.get({ id: access($event, "conversation_id") }),
            reason: ($event: Step<Event>) => access($event, "reason"),
          },
        },
        Mutation: {
          plans: {
            sendTyping(_$root, fieldArgs) {
              const $conversationId = fieldArgs.getRaw(["input", "conversationId"]) as Step<string>;
              const $settings = context().get("pgSettings") as unknown as Step<Settings>;
              return sideEffectWithPgClientTransaction(
                executor,
                [$conversationId, $settings] as const,
                async (client, [conversationId, settings]) => {
                  const userId = settings?.["jwt.claims.user_id"];
                  if (!userId) throw appError("UNAUTHENTICATED", "Sign in first");
                  const waitMs = typing.take(userId);
                  if (waitMs > 0) {
                    throw appError("RATE_LIMITED", "Too many typing notices; slow down", {
                      retryAfterSeconds: Math.ceil(waitMs / 1000),
                    });
                  }
                  await client.query({
                    text: `select app_hidden.send_typing($1)`,
                    values: [conversationId],
                  });
                  return { sent: true };
                },
              );
            },
          },
        },
      },
    };
  });

  return {
    ...schema,
    grafast: {
      middleware: {
        // A subscription's payload reads join those of the instance's other subscribers to the
        // same event (src/realtime/sharedReads.ts); other operations are left as they are.
        prepareArgs(next, { args }) {
          if (operationOf(args.document, args.operationName)?.type !== "subscription") {
            return next();
          }
          const share = <T>(result: T): T => {
            const contextValue = args.contextValue as Partial<Grafast.Context>;
            const raw = contextValue.withPgClient;
            if (raw && args.resolvedPreset) {
              const reads = sharedReadsFor(args.resolvedPreset, raw, options.onSharedReads);
              contextValue.withPgClient = reads.withPgClient as typeof raw;
            }
            return result;
          };
          const result = next();
          return result instanceof Promise ? result.then(share) : share(result);
        },
      },
    },
  };
}
