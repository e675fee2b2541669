/**
 * A connection in a fixed order with keyset pagination: rows ordered by (created_at, id), so
 * a cursor is a position in that order and page 500 costs what page 1 costs. Used by the
 * plugins whose lists must not be re-ordered by clients (feeds, comments, messages).
 */
import type { PgSelectStep } from "postgraphile/@dataplan/pg";
import { connection, lambda, type FieldArgs, type Step } from "postgraphile/grafast";

/** The pagination arguments of a keyset connection field, for its SDL. */
export const KEYSET_ARGS = /* GraphQL */ `
  "Only read the first \`n\` values (default 20, at most 100)."
  first: Int
  "Only read the last \`n\` values."
  last: Int
  "Read all values after this cursor."
  after: Cursor
  "Read all values before this cursor."
  before: Cursor
`;

/**
 * extendSchema guesses that a field returning a table's connection wants PostGraphile's own
 * pagination, ordering and filtering arguments; these fields take only KEYSET_ARGS.
 */
export const KEYSET_SCOPE = { isPgFieldConnection: undefined, pgFieldResource: undefined };

export function keysetConnection(
  // eslint-disable-next-line @typescript-eslint/no-explicit-any -- any table's select step
  $select: PgSelectStep<any>,
  fieldArgs: FieldArgs,
  direction: "ASC" | "DESC",
) {
  $select.orderBy({ attribute: "created_at", direction });
  $select.orderBy({ attribute: "id", direction });
  $select.setOrderIsUnique();
  const $connection = connection($select);
  $connection.setFirst(fieldArgs.getRaw("first"));
  $connection.setLast(fieldArgs.getRaw("last"));
  $connection.setAfter(fieldArgs.getRaw("after"));
  $connection.setBefore(fieldArgs.getRaw("before"));
  return $connection;
}

/**
 * Where a keyset cursor points: `{ createdAt, id }` of the row it names, null for no cursor,
 * undefined for one that is not ours (the connection itself then refuses it). A cursor is
 * base64 JSON `[order digest, created_at, id]` (@dataplan/pg's PgCursorStep).
 */
export function keysetPosition($cursor: Step) {
  return lambda($cursor, (cursor: unknown) => {
    if (cursor == null) return null;
    try {
      const tuple: unknown = JSON.parse(Buffer.from(String(cursor), "base64").toString("utf8"));
      if (Array.isArray(tuple) && tuple.length === 3) {
        const [, createdAt, id] = tuple as unknown[];
        if (typeof createdAt === "string" && typeof id === "string") return { createdAt, id };
      }
    } catch {
      // not JSON: fall through
    }
    return undefined;
  });
}
