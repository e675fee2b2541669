/**
 * Query.searchUsers: the people you can see whose username or display name matches a text, best
 * first — the exact username, then usernames starting with the text, then display names
 * starting with it, then names containing it or spelled similarly (issue #16). Same arguments
 * as before (`query`, `first`, `offset`, `after`); at most the first 1,000 matches are reachable.
 *
 * The matches come from `app_hidden.search_user_matches` (migrations/committed/000014.sql, "people search
 * speed"): the first n ids with their position, found tier by tier from indexes and stopping
 * when n are found — so page 1 of a common name reads a page of index entries, not every match.
 * The people themselves are read here through the `user_cards` view (its rule decides who is
 * shown), in one statement; a cursor is a position in that order.
 */
import { TYPES } from "postgraphile/@dataplan/pg";
import { connection, lambda } from "postgraphile/grafast";
import { extendSchema } from "postgraphile/utils";

/** How far the search reaches: its first 1,000 matches. */
export const SEARCH_USERS_REACH = 1000;

/**
 * The position a cursor names (base64 JSON `[order digest, position]`, @dataplan/pg's
 * PgCursorStep), null for no cursor, undefined for one that is not ours (the connection itself
 * then refuses it).
 */
export function searchUsersPosition(cursor: unknown): number | null | undefined {
  if (cursor == null) return null;
  try {
    const tuple: unknown = JSON.parse(Buffer.from(String(cursor), "base64").toString("utf8"));
    if (Array.isArray(tuple) && tuple.length === 2) {
      const position = Number(tuple[1]);
      if (Number.isInteger(position) && position >= 0) return position;
    }
  } catch {
    // not JSON: fall through
  }
  return undefined;
}

/** How many matches a page needs: up to the cursor, what `offset` skips, the page, one more. */
export function searchUsersCount(first: unknown, offset: unknown, after: unknown): number {
  const page = typeof first === "number" ? first : 20;
  const skip = typeof offset === "number" ? Math.max(offset, 0) : 0;
  const from = typeof after === "number" ? after : 0;
  return Math.min(from + skip + page + 1, SEARCH_USERS_REACH + 1);
}

export const SearchUsersPlugin = extendSchema((build) => {
  const { sql } = build;
  // app_public.user_cards, named `user` by its smart tag: the `User` type
  const users = build.pgResources.user;
  if (!users) throw new Error("SearchUsersPlugin: the `user` resource (user_cards) is missing");

  return {
    typeDefs: /* GraphQL */ `
      extend type Query {
        """
        Find people by username or display name: the exact username first, then usernames and display names starting with the text, then similar names (the first 1,000).
        """
        searchUsers(
          "What to look for (2 to 200 characters)."
          query: String
          "Only read the first \`n\` values (default 20, at most 100)."
          first: Int
          "Read all values after this cursor."
          after: Cursor
          "Skip the first \`n\` values; prefer \`after\`."
          offset: Int
        ): UserConnection
      }
    `,
    objects: {
      Query: {
        plans: {
          searchUsers: {
            scope: { isPgFieldConnection: undefined, pgFieldResource: undefined },
            plan(_$root, fieldArgs) {
              const $users = users.find();
              const match = sql.identifier(Symbol("match"));
              const $count = lambda(
                [fieldArgs.getRaw("first"), fieldArgs.getRaw("offset"), fieldArgs.getRaw("after")],
                ([first, offset, after]) =>
                  searchUsersCount(first, offset, searchUsersPosition(after)),
              );
              $users.join({
                type: "inner",
                from: sql`app_hidden.search_user_matches(${$users.placeholder(
                  fieldArgs.getRaw("query"),
                  TYPES.text,
                )}, ${$users.placeholder($count, TYPES.int)})`,
                alias: match,
                conditions: [sql`${match}.id = ${$users.alias}.id`],
              });
              $users.orderBy({ fragment: sql`${match}.ord`, codec: TYPES.int, direction: "ASC" });
              $users.setOrderIsUnique();
              const $connection = connection($users);
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
