/**
 * Limits on the shape of a GraphQL document, checked at parse time, before validation and
 * planning — the two steps whose cost grows faster than the document (a 97 kB document that
 * aliases one field 5,000 times held the event loop for seconds):
 *
 * - tokens: enforced by graphql-js's own parser (`parse(source, { maxTokens })`), which stops
 *   lexing at the limit, so an oversized document costs no more than a legitimate one;
 * - aliases, selections (fields) and directives: counted in one walk of the parsed document,
 *   with every fragment spread counted as the fragment's content (memoized per fragment, so
 *   the walk is linear even when fragments spread each other exponentially).
 *
 * A refusal is a `QUERY_TOO_COMPLEX` error with `extensions.limit` naming the limit.
 *
 * Why not graphql-armor: @escape.tech/graphql-armor-max-aliases / -max-directives are
 * validation rules, and graphql-js runs all rules in the same traversal, so the expensive
 * rules (e.g. OverlappingFieldsCanBeMerged) still run on the bomb; -max-tokens is an envelop
 * `onParse` hook that re-implements the parser option graphql-js already has. Grafserv has no
 * envelop pipeline, and a 100-line walk that runs before validation is both simpler and what
 * actually bounds the work.
 */
import { createHash } from "node:crypto";

import {
  GraphQLError,
  Kind,
  Source,
  parse,
  type DefinitionNode,
  type DirectiveNode,
  type DocumentNode,
  type FragmentDefinitionNode,
  type SelectionSetNode,
} from "postgraphile/graphql";

export interface ShapeLimits {
  maxTokens: number;
  maxAliases: number;
  maxSelections: number;
  maxDirectives: number;
}

export type ShapeLimit = "tokens" | "aliases" | "selections" | "directives" | "nesting";

/**
 * How deep brackets (`{`, `[`, `(`) may nest in a document. graphql-js's parser recurses once
 * per level: ~2,000 levels of `[` (within the token limit) overflowed its stack, a 500 without a
 * code. No operation of ours nests beyond 30 (GRAPHQL_MAX_DEPTH is at most 100 selection levels).
 */
export const MAX_NESTING = 256;

export type ParsedWithinLimits =
  | { ok: true; document: DocumentNode }
  /** `error` is a parse error (bad syntax) or a QUERY_TOO_COMPLEX refusal. */
  | { ok: false; error: GraphQLError };

interface Counts {
  selections: number;
  aliases: number;
  directives: number;
}

function tooComplex(limit: ShapeLimit, count: number | null, max: number): GraphQLError {
  const what = {
    tokens: "tokens",
    aliases: "aliased fields",
    selections: "field selections",
    directives: "directives",
    nesting: "levels of nested brackets",
  }[limit];
  const message =
    count === null
      ? `The document has more than ${max} ${what}; at most ${max} are allowed`
      : `The document has ${count} ${what} (counting fragments where they are spread); at most ${max} are allowed`;
  return new GraphQLError(message, {
    extensions: { code: "QUERY_TOO_COMPLEX", limit, max },
  });
}

/** graphql-js's wording (16.x: "more that", sic; later versions may fix the typo). */
const TOKEN_LIMIT_MESSAGE = /Document contains more tha[nt] \d+ tokens/;

/** Counts what the document asks for, every fragment spread counted as its content. */
export function countShape(document: DocumentNode): Counts {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const def of document.definitions) {
    if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
  }
  const memo = new Map<string, Counts>();
  const inProgress = new Set<string>();
  const zero = (): Counts => ({ selections: 0, aliases: 0, directives: 0 });
  const add = (into: Counts, more: Counts): void => {
    into.selections += more.selections;
    into.aliases += more.aliases;
    into.directives += more.directives;
  };
  const directives = (nodes: readonly DirectiveNode[] | undefined): number => nodes?.length ?? 0;

  const fragmentCounts = (name: string): Counts => {
    const cached = memo.get(name);
    if (cached) return cached;
    const fragment = fragments.get(name);
    // Unknown and cyclic spreads count as nothing here: validation refuses them.
    if (!fragment || inProgress.has(name)) return zero();
    inProgress.add(name);
    const counts = selectionSetCounts(fragment.selectionSet);
    counts.directives += directives(fragment.directives);
    inProgress.delete(name);
    memo.set(name, counts);
    return counts;
  };

  const selectionSetCounts = (set: SelectionSetNode): Counts => {
    const counts = zero();
    for (const selection of set.selections) {
      counts.directives += directives(selection.directives);
      if (selection.kind === Kind.FIELD) {
        counts.selections += 1;
        if (selection.alias) counts.aliases += 1;
        if (selection.selectionSet) add(counts, selectionSetCounts(selection.selectionSet));
      } else if (selection.kind === Kind.INLINE_FRAGMENT) {
        add(counts, selectionSetCounts(selection.selectionSet));
      } else {
        add(counts, fragmentCounts(selection.name.value));
      }
    }
    return counts;
  };

  const total = zero();
  const reached = (def: DefinitionNode): boolean =>
    def.kind === Kind.FRAGMENT_DEFINITION && memo.has(def.name.value);
  for (const def of document.definitions) {
    if (def.kind !== Kind.OPERATION_DEFINITION) continue;
    add(total, selectionSetCounts(def.selectionSet));
    total.directives += directives(def.directives);
    for (const variable of def.variableDefinitions ?? []) {
      total.directives += directives(variable.directives);
    }
  }
  // Fragments no operation spreads are still validated: count them once too.
  for (const def of document.definitions) {
    if (def.kind === Kind.FRAGMENT_DEFINITION && !reached(def)) {
      add(total, fragmentCounts(def.name.value));
    }
  }
  return total;
}

/**
 * The deepest nesting of brackets in `query` (strings, block strings and comments skipped), or
 * `max + 1` as soon as it goes beyond `max`: one pass, no recursion.
 */
export function nestingOf(query: string, max: number): number {
  let depth = 0;
  let deepest = 0;
  for (let i = 0; i < query.length; i++) {
    const c = query[i];
    if (c === "#") {
      while (i < query.length && query[i] !== "\n" && query[i] !== "\r") i++;
    } else if (c === '"') {
      if (query.startsWith('"""', i)) {
        i += 3;
        while (i < query.length && !query.startsWith('"""', i))
          i += query.startsWith('\\"""', i) ? 4 : 1;
        i += 2; // onto the closing quotes' last one
      } else {
        i++;
        while (i < query.length && query[i] !== '"' && query[i] !== "\n")
          i += query[i] === "\\" ? 2 : 1;
      }
    } else if (c === "{" || c === "[" || c === "(") {
      depth++;
      if (depth > deepest) deepest = depth;
      if (deepest > max) return max + 1;
    } else if (c === "}" || c === "]" || c === ")") {
      depth--;
    }
  }
  return deepest;
}

/** Parses `query`, refusing it as soon as it exceeds a limit; syntax errors are returned. */
export function parseWithinLimits(query: string, limits: ShapeLimits): ParsedWithinLimits {
  if (nestingOf(query, MAX_NESTING) > MAX_NESTING) {
    return { ok: false, error: tooComplex("nesting", null, MAX_NESTING) };
  }
  let document: DocumentNode;
  try {
    document = parse(new Source(query, "GraphQL HTTP Request"), {
      maxTokens: limits.maxTokens,
    });
  } catch (e) {
    if (!(e instanceof GraphQLError)) throw e;
    if (TOKEN_LIMIT_MESSAGE.test(e.message)) {
      return { ok: false, error: tooComplex("tokens", null, limits.maxTokens) };
    }
    return { ok: false, error: e };
  }
  const counts = countShape(document);
  if (counts.aliases > limits.maxAliases) {
    return { ok: false, error: tooComplex("aliases", counts.aliases, limits.maxAliases) };
  }
  if (counts.selections > limits.maxSelections) {
    return {
      ok: false,
      error: tooComplex("selections", counts.selections, limits.maxSelections),
    };
  }
  if (counts.directives > limits.maxDirectives) {
    return {
      ok: false,
      error: tooComplex("directives", counts.directives, limits.maxDirectives),
    };
  }
  return { ok: true, document };
}

/**
 * `query` → the QUERY_TOO_COMPLEX error to answer with, or null to go on (within the limits, or
 * a syntax error, left to the parse that follows). Verdicts are
 * remembered for the last `cacheSize` documents (keyed like grafserv's parse cache: long
 * documents by their SHA-1), so a repeated operation is not parsed twice.
 */
export function makeShapeGuard(
  limits: ShapeLimits,
  cacheSize = 500,
): (query: string) => GraphQLError | null {
  const verdicts = new Map<string, GraphQLError | null>();
  return (query) => {
    const key =
      query.length > 500
        ? "sha1:" + createHash("sha1").update(query).digest("base64")
        : "text:" + query;
    let verdict = verdicts.get(key);
    if (verdict !== undefined) {
      verdicts.delete(key); // most recently used last
    } else {
      const parsed = parseWithinLimits(query, limits);
      // Syntax errors are not ours to answer: grafserv's parse reports them (with their code).
      verdict =
        !parsed.ok && parsed.error.extensions.code === "QUERY_TOO_COMPLEX" ? parsed.error : null;
      if (verdicts.size >= cacheSize) verdicts.delete(verdicts.keys().next().value as string);
    }
    verdicts.set(key, verdict);
    return verdict;
  };
}
