/**
 * Feeds, newest first with keyset pagination on (created_at, id):
 *
 * - Query.homeFeed: posts from you, your accepted friends, people you follow and your groups;
 * - User.posts: one person's posts;
 * - Group.posts: a group's posts.
 *
 * Visibility (privacy, blocks, soft deletion, groups) is row-level security's (policies/
 * posts.sql): these fields only choose and order.
 *
 * The home feed pages forward through `app_hidden.feed_page_ids`: the next page's ids, found by
 * reading each source (you, each friend, each followed person, each group) newest first from
 * its own index. Filtering the whole posts index by "is this author one of mine" instead reads
 * every recent post of everyone until a page is full — tens of thousands of rows for someone
 * who follows few people.
 */
import { TYPES } from "postgraphile/@dataplan/pg";
import { access, lambda } from "postgraphile/grafast";
import { extendSchema } from "postgraphile/utils";

import { KEYSET_ARGS, KEYSET_SCOPE, keysetConnection, keysetPosition } from "./lib/keyset.ts";

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
              // Forward pages: only the posts feed_page_ids names (it reads as much as a page
              // needs, from each source's index). Backward pages keep the plain filter below.
              const $page = lambda(
                [
                  fieldArgs.getRaw("first"),
                  fieldArgs.getRaw("last"),
                  fieldArgs.getRaw("before"),
                  keysetPosition(fieldArgs.getRaw("after")),
                ] as const,
                ([first, last, before, after]) =>
                  last != null || before != null || after === undefined
                    ? null
                    : {
                        createdAt: after?.createdAt ?? null,
                        id: after?.id ?? null,
                        // the page and one more (hasNextPage); the largest page when unsaid
                        n: (typeof first === "number" ? first : 100) + 1,
                      },
              );
              const n = $posts.placeholder(access($page, "n"), TYPES.int);
              $posts.where(sql`(${n} is null or ${alias}.id = any (array(
                select app_hidden.feed_page_ids(
                  ${$posts.placeholder(access($page, "createdAt"), TYPES.timestamptz)},
                  ${$posts.placeholder(access($page, "id"), TYPES.uuid)},
                  ${n}))))`);
              // Backward pages only: feed_page_ids already read nothing but the sources, so a
              // forward page skips this (the friend, follow and group lists it would build).
              $posts.where(sql`(${n} is not null or
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
