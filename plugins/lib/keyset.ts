/**
 * A connection in a fixed order with keyset pagination: rows ordered by (created_at, id), so
 * a cursor is a position in that order and page 500 costs what page 1 costs. Used by the
 * plugins whose lists must not be re-ordered by clients (feeds, comments, messages).
 */
import type { PgSelectStep } from "postgraphile/@dataplan/pg";
import { connection, type FieldArgs } from "postgraphile/grafast";

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
