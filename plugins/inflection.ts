/**
 * Naming adjustments on top of Amber + simplify-inflection.
 *
 * Without Relay global ids (NodePlugin is off), a row's primary key is simply `id`: PostGraphile
 * would otherwise rename the `id` column to `rowId` to leave room for the global id.
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
    },
  },
};
