/**
 * Feeds, newest first with keyset pagination on (created_at, id):
 *
 * - Query.homeFeed: posts from you, your accepted friends, people you follow and your groups;
 * - User.posts: one person's posts;
 * - Group.posts: a group's posts.
 *
 * Visibility (privacy, blocks, soft deletion, groups) is row-level security's (policies/
 * posts.sql): these fields only choose and order.
 */
import { extendSchema } from "postgraphile/utils";

import { KEYSET_ARGS, KEYSET_SCOPE, keysetConnection } from "./lib/keyset.ts";

export const FeedPlugin = extendSchema((build) => {
  const { sql } = build;
  const { posts } = build.pgResources;
  if (!posts) throw new Error("FeedPlugin: the posts resource is missing");

  return {
    typeDefs: /* GraphQL */ `
      extend type Query {
        "Posts from you, your friends, people you follow and your groups, newest first. Empty when signed out."
        homeFeed(${KEYSET_ARGS}): PostConnection
      }
      extend type User {
        "This person's posts you can see, newest first."
        posts(${KEYSET_ARGS}): PostConnection
      }
      extend type Group {
        "The group's posts you can see, newest first."
        posts(${KEYSET_ARGS}): PostConnection
      }
    `,
    objects: {
      Query: {
        plans: {
          homeFeed: {
            scope: KEYSET_SCOPE,
            plan(_$root, fieldArgs) {
              const $posts = posts.find();
              const alias = $posts.alias;
              $posts.where(sql`${alias}.deleted_at is null`);
              $posts.where(sql`(
                ${alias}.author_id = app_public.current_user_id()
                or ${alias}.author_id in (select app_hidden.friend_ids())
                or ${alias}.author_id in (
                  select f.following_id from app_public.followers f
                   where f.follower_id = app_public.current_user_id())
                or ${alias}.group_id in (select app_hidden.active_group_ids())
              )`);
              return keysetConnection($posts, fieldArgs, "DESC");
            },
          },
        },
      },
      User: {
        plans: {
          posts: {
            scope: KEYSET_SCOPE,
            plan($user, fieldArgs) {
              const $posts = posts.find({ author_id: $user.get("id") });
              $posts.where(sql`${$posts.alias}.deleted_at is null`);
              return keysetConnection($posts, fieldArgs, "DESC");
            },
          },
        },
      },
      Group: {
        plans: {
          posts: {
            scope: KEYSET_SCOPE,
            plan($group, fieldArgs) {
              const $posts = posts.find({ group_id: $group.get("id") });
              $posts.where(sql`${$posts.alias}.deleted_at is null`);
              return keysetConnection($posts, fieldArgs, "DESC");
            },
          },
        },
      },
    },
  };
});
