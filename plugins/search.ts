/**
 * Query.searchPosts: the posts you can see that match a search (web-search syntax: "quoted
 * phrases", -excluded, or), newest first, with keyset pagination on (created_at, id) — so page
 * 50 costs what page 1 costs and every match is reachable. `offset` still works (at most 1,000,
 * as before).
 *
 * The matches come from `app_hidden.search_post_ids` (migrations/committed/000015.sql, "post
 * search speed"): the next page's ids, found newest first with whichever index fits the words (the posts
 * index for a common word, the text index for a rare one), in one walk that applies the posts
 * policies' rule as it goes and stops at the page's last readable match. The posts themselves are
 * read here under row-level security, which decides what is shown, with their author, in one
 * statement.
 */
import { TYPES } from "postgraphile/@dataplan/pg";
import { access, connection, lambda } from "postgraphile/grafast";
import { extendSchema } from "postgraphile/utils";

import { KEYSET_SCOPE, keysetPosition } from "./lib/keyset.ts";

/** The furthest `offset` reaches (the old search's limit: its 1,000 newest matches). */
export const SEARCH_MAX_OFFSET = 1000;

/** How many ids a page needs: the page, what `offset` skips, and one more for hasNextPage. */
export function searchPageSize(first: unknown, offset: unknown): number {
  const page = typeof first === "number" ? first : 100;
  const skip = typeof offset === "number" ? Math.min(Math.max(offset, 0), SEARCH_MAX_OFFSET) : 0;
  return page + skip + 1;
}

export const SearchPlugin = extendSchema((build) => {
  const { sql } = build;
  const { posts } = build.pgResources;
  if (!posts) throw new Error("SearchPlugin: the posts resource is missing");

  return {
    typeDefs: /* GraphQL */ `
      extend type Query {
        """
        Find posts you can see by their words (web-search syntax: "quoted phrases", -excluded, or), newest first.
        """
        searchPosts(
          "What to look for (2 to 200 characters)."
          query: String
          "Only read the first \`n\` values (default 20, at most 100)."
          first: Int
          "Read all values after this cursor."
          after: Cursor
          "Skip the first \`n\` values (at most 1,000); prefer \`after\`."
          offset: Int
        ): PostConnection
      }
    `,
    objects: {
      Query: {
        plans: {
          searchPosts: {
            scope: KEYSET_SCOPE,
            plan(_$root, fieldArgs) {
              const $posts = posts.find();
              const alias = $posts.alias;
              const $after = keysetPosition(fieldArgs.getRaw("after"));
              const $page = lambda(
                [fieldArgs.getRaw("first"), fieldArgs.getRaw("offset"), $after] as const,
                ([first, offset, after]) => ({
                  createdAt: after?.createdAt ?? null,
                  id: after?.id ?? null,
                  n: searchPageSize(first, offset),
                }),
              );
              const query = $posts.placeholder(fieldArgs.getRaw("query"), TYPES.text);
              $posts.where(sql`${alias}.deleted_at is null`);
              $posts.where(sql`${alias}.id = any (array(
                select app_hidden.search_post_ids(
                  websearch_to_tsquery('simple', app_hidden.require_search_text(${query})),
                  ${$posts.placeholder(access($page, "createdAt"), TYPES.timestamptz)},
                  ${$posts.placeholder(access($page, "id"), TYPES.uuid)},
                  ${$posts.placeholder(access($page, "n"), TYPES.int)})))`);
              $posts.orderBy({ attribute: "created_at", direction: "DESC" });
              $posts.orderBy({ attribute: "id", direction: "DESC" });
              $posts.setOrderIsUnique();
              const $connection = connection($posts);
              $connection.setFirst(fieldArgs.getRaw("first"));
              $connection.setOffset(fieldArgs.getRaw("offset"));
              $connection.setAfter(fieldArgs.getRaw("after"));
              return $connection;
            },
          },
        },
      },
    },
  };
});
