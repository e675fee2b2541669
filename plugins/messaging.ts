/**
 * Conversations and their messages:
 *
 * - Query.myConversations: your conversations, the most recently active first;
 * - Conversation.lastMessage and Conversation.unreadCount;
 * - Conversation.messages: newest first with keyset pagination (scroll up for older ones).
 *
 * Who sees which conversation and message is row-level security's (policies/conversations.sql,
 * policies/messages.sql); the mutations are SQL functions (migrations/committed/000003.sql).
 *
 * The conversation list is one SQL statement: the conversations are read from the table (not
 * through `my_conversations()`, which PostgreSQL cannot inline and which materialises and sorts
 * every conversation of the user), and lastMessage and unreadCount are subqueries of that
 * statement. As computed-column functions they cost a function call per row, and PostGraphile
 * fetched lastMessage in a second statement: a row-returning function is not joined to a
 * parent whose order is implicit (a set-returning function's). The SQL functions
 * (`app_public.my_conversations`, `conversations_last_message`, `conversations_unread_count`)
 * stay for SQL callers; their GraphQL fields are these (migrations/committed/000014.sql hides theirs).
 */
import { PgSelectSingleStep, TYPES, pgSelectSingleFromRecord } from "postgraphile/@dataplan/pg";
import { connection, constant, type Step } from "postgraphile/grafast";
import { extendSchema } from "postgraphile/utils";

import { KEYSET_ARGS, KEYSET_SCOPE, keysetConnection } from "./lib/keyset.ts";

export const MessagingPlugin = extendSchema((build) => {
  const { sql } = build;
  const { messages, conversations } = build.pgResources;
  if (!messages) throw new Error("MessagingPlugin: the messages resource is missing");
  if (!conversations) throw new Error("MessagingPlugin: the conversations resource is missing");

  /**
   * A conversation row an expression can be added to: the reading statement's own, or (for a
   * mutation's result) a select of the returned record, as PostGraphile does for computed columns.
   */
  const readableRow = ($conversation: Step) =>
    $conversation instanceof PgSelectSingleStep && $conversation.getClassStep().mode !== "mutation"
      ? ($conversation as PgSelectSingleStep<typeof conversations>)
      : pgSelectSingleFromRecord(
          conversations,
          ($conversation as PgSelectSingleStep<typeof conversations>).record(),
        );

  return {
    typeDefs: /* GraphQL */ `
      extend type Query {
        "Your conversations, the most recently active first."
        myConversations(
          "Read all values in the set after (below) this cursor."
          after: Cursor
          "Only read the first \`n\` values of the set."
          first: Int
          "Skip the first \`n\` values from our \`after\` cursor, an alternative to cursor based pagination. May not be used with \`last\`."
          offset: Int
        ): ConversationConnection
      }
      extend type Conversation {
        "Messages you can see in this conversation, newest first."
        messages(${KEYSET_ARGS}): MessageConnection
        "The newest message you can see."
        lastMessage: Message
        "Messages from others you have not read yet."
        unreadCount: Int
      }
    `,
    objects: {
      Query: {
        plans: {
          myConversations: {
            scope: KEYSET_SCOPE,
            plan(_$root, fieldArgs) {
              const $conversations = conversations.find();
              const alias = $conversations.alias;
              // the ids first (an index condition on the primary key), then the few rows sorted
              $conversations.where(
                sql`${alias}.id = any (array(select app_hidden.active_conversation_ids()))`,
              );
              $conversations.orderBy({
                fragment: sql`coalesce(${alias}.last_message_at, ${alias}.created_at)`,
                codec: TYPES.timestamptz,
                direction: "DESC",
              });
              $conversations.orderBy({ attribute: "id", direction: "DESC" });
              $conversations.setOrderIsUnique();
              const $connection = connection($conversations);
              $connection.setFirst(fieldArgs.getRaw("first"));
              $connection.setAfter(fieldArgs.getRaw("after"));
              $connection.setOffset(fieldArgs.getRaw("offset"));
              return $connection;
            },
          },
        },
      },
      Conversation: {
        plans: {
          messages: {
            scope: KEYSET_SCOPE,
            plan($conversation, fieldArgs) {
              const $messages = messages.find({ conversation_id: $conversation.get("id") });
              return keysetConnection($messages, fieldArgs, "DESC");
            },
          },
          lastMessage($conversation) {
            const $messages = messages.find({ conversation_id: $conversation.get("id") });
            $messages.orderBy({ attribute: "created_at", direction: "DESC" });
            $messages.orderBy({ attribute: "id", direction: "DESC" });
            $messages.setOrderIsUnique();
            $messages.setFirst(constant(1));
            return $messages.single();
          },
          unreadCount($conversation: Step) {
            // what app_public.conversations_unread_count says, as a subquery of the reading
            // statement: row-level security's id lists are computed once, not once per row
            const $row = readableRow($conversation);
            const c = $row.getClassStep().alias;
            return $row.select(
              sql`(select count(*)::int from app_public.messages m
                    where m.conversation_id = ${c}.id
                      and m.sender_id <> app_public.current_user_id()
                      and not m.is_deleted
                      and m.created_at > coalesce((
                        select coalesce(p.last_read_at, p.joined_at)
                          from app_public.conversation_participants p
                         where p.conversation_id = ${c}.id
                           and p.user_id = app_public.current_user_id()), '-infinity'))`,
              TYPES.int,
            );
          },
        },
      },
    },
  };
});
