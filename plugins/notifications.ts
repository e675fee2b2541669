/**
 * Query.myNotifications: your notifications, newest first with keyset pagination. Reading and
 * marking them is row-level security's (policies/notifications.sql); creating them is the
 * worker's.
 */
import { extendSchema } from "postgraphile/utils";

import { KEYSET_ARGS, KEYSET_SCOPE, keysetConnection } from "./lib/keyset.ts";

export const NotificationsPlugin = extendSchema((build) => {
  const { sql } = build;
  const { notifications } = build.pgResources;
  if (!notifications) throw new Error("NotificationsPlugin: the notifications resource is missing");

  return {
    typeDefs: /* GraphQL */ `
      extend type Query {
        "Your notifications, newest first. Empty when signed out."
        myNotifications(${KEYSET_ARGS}): NotificationConnection
      }
    `,
    objects: {
      Query: {
        plans: {
          myNotifications: {
            scope: KEYSET_SCOPE,
            plan(_$root, fieldArgs) {
              const $notifications = notifications.find();
              $notifications.where(
                sql`${$notifications.alias}.recipient_id = app_public.current_user_id()`,
              );
              return keysetConnection($notifications, fieldArgs, "DESC");
            },
          },
        },
      },
    },
  };
});
