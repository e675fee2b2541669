/**
 * Naming adjustments on top of Amber + simplify-inflection.
 *
 * - Without Relay global ids (NodePlugin is off), a row's primary key is simply `id`: PostGraphile
 *   would otherwise rename the `id` column to `rowId` to leave room for the global id.
 * - A mutation function's payload names its result after what it returns (`sendFriendRequest`
 *   → `friendship`), as PostGraphile 4 did, rather than `result`; `@resultFieldName` still wins.
 */
import "postgraphile";

export const InflectionPlugin: GraphileConfig.Plugin = {
  name: "MkingInflectionPlugin",
  version: "1.0.0",
  inflection: {
    replace: {
      _attributeName(previous, _preset, details) {
        return previous!({ ...details, skipRowId: true });
      },
      functionMutationResultFieldName(previous, _preset, details) {
        const tagged = details.resource.extensions?.tags?.resultFieldName;
        if (typeof tagged === "string") return tagged;
        if (details.resource.codec.attributes && details.resource.isUnique) {
          return this.camelCase(details.returnGraphQLTypeName);
        }
        return previous!(details);
      },
    },
  },
};
