/**
 * Preloaded (`node --import`) into the PostGraphile 4 CLI process by startPostGraphile4.
 *
 * With PostGraphile 5 in the same node_modules, npm hoists some of PG4's packages to the top
 * level (`graphile-build-pg`, `graphql-parse-resolve-info`, `subscriptions-transport-ws`) while
 * the names they depend on are taken there by V5's versions (`graphql` 16, `graphile-build` 5,
 * `pg-sql2` 5), so PG4's `graphql` 15, `graphile-build` 4 and `pg-sql2` 4 are nested, more than
 * once, and the hoisted packages load V5's `graphql` 16 or their own copies. More than one
 * `graphql` in one schema fails every request ("Cannot use GraphQLScalarType "Int" from another
 * module or realm"). In this process (PG4 only) every request for these packages loads the copy
 * nested under `postgraphile4/`, so there is one of each.
 */
import { existsSync } from "node:fs";
import { createRequire, registerHooks } from "node:module";
import path from "node:path";
import { pathToFileURL } from "node:url";

const pg4Dir = path.dirname(createRequire(import.meta.url).resolve("postgraphile4/package.json"));
const pg4Require = createRequire(path.join(pg4Dir, "cli.js"));
const SHARED = ["graphql", "graphile-build", "pg-sql2", "@graphile/lru"].filter((name) =>
  existsSync(path.join(pg4Dir, "node_modules", name, "package.json")),
);
const pg4Url = pathToFileURL(pg4Dir + path.sep).href;

function packageName(specifier: string): string | null {
  if (specifier.startsWith(".") || specifier.startsWith("/") || specifier.includes(":")) {
    return null;
  }
  const parts = specifier.split("/");
  return specifier.startsWith("@") ? `${parts[0]}/${parts[1]}` : (parts[0] ?? null);
}

registerHooks({
  resolve(specifier, context, nextResolve) {
    const name = packageName(specifier);
    if (
      name !== null &&
      SHARED.includes(name) &&
      // postgraphile4's own files already find these copies
      !(context.parentURL?.startsWith(pg4Url) ?? false)
    ) {
      // The default resolver for require() ignores a changed parentURL: resolve it here.
      return { url: pathToFileURL(pg4Require.resolve(specifier)).href, shortCircuit: true };
    }
    return nextResolve(specifier, context);
  },
});
