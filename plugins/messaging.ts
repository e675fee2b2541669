/**
 * Conversation.messages: newest first with keyset pagination (scroll up for older ones). Who
 * sees which messages is row-level security's (policies/messages.sql); the mutations are SQL
 * functions (migrations/committed/000003.sql).
 */
import { extendSchema } from "postgraphile/utils";

import { KEYSET_ARGS, KEYSET_SCOPE, keysetConnection } from "./lib/keyset.ts";

export const MessagingPlugin = extendSchema((build) => {
  const { messages } = build.pgResources;
  if (!messages) throw new Error("MessagingPlugin: the messages resource is missing");

  return {
    typeDefs: /* GraphQL */ `
      extend type Conversation {
        "Messages you can see in this conversation, newest first."
        messages(${KEYSET_ARGS}): MessageConnection
      }
    `,
    objects: {
      Conversation: {
        plans: {
          messages: {
            scope: KEYSET_SCOPE,
            plan($conversation, fieldArgs) {
              const $messages = messages.find({ conversation_id: $conversation.get("id") });
              return keysetConnection($messages, fieldArgs, "DESC");
            },
          },
        },
      },
    },
  };
});
