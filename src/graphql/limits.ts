/**
 * Limits on what one GraphQL operation may ask for, checked before it runs:
 *
 * - depth: selections nested more than `maxDepth` deep are refused (a validation rule);
 * - page size: every connection field gets `first: defaultPageSize` when it asks for neither
 *   `first` nor `last`, and asking for more than `maxPageSize` is refused;
 * - cost: the most objects the operation could return (each connection multiplies what is
 *   inside it by its page size) must stay under `maxCost`.
 *
 * Pure functions over the document, schema and variables; plugins/requestGuards.ts applies
 * them to every request.
 */
import {
  GraphQLError,
  Kind,
  getNamedType,
  isListType,
  isNonNullType,
  isObjectType,
  isInterfaceType,
  visit,
  type ArgumentNode,
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValidationRule,
} from "postgraphile/graphql";

export interface OperationLimits {
  maxDepth: number;
  maxCost: number;
  defaultPageSize: number;
  maxPageSize: number;
}

/** Refuses selection sets nested deeper than `maxDepth` (fragments are followed). */
export function depthLimitRule(maxDepth: number): ValidationRule {
  return (context) => {
    const fragments = new Map<string, FragmentDefinitionNode>();
    for (const def of context.getDocument().definitions) {
      if (def.kind === Kind.FRAGMENT_DEFINITION) fragments.set(def.name.value, def);
    }
    const depthOf = (set: SelectionSetNode, seen: Set<string>): number => {
      let deepest = 0;
      for (const selection of set.selections) {
        if (selection.kind === Kind.FIELD) {
          if (selection.name.value.startsWith("__")) continue; // introspection is bounded
          const below = selection.selectionSet ? depthOf(selection.selectionSet, seen) : 0;
          deepest = Math.max(deepest, 1 + below);
        } else if (selection.kind === Kind.INLINE_FRAGMENT) {
          deepest = Math.max(deepest, depthOf(selection.selectionSet, seen));
        } else {
          const name = selection.name.value;
          const fragment = fragments.get(name);
          if (fragment && !seen.has(name)) {
            deepest = Math.max(deepest, depthOf(fragment.selectionSet, new Set([...seen, name])));
          }
        }
      }
      return deepest;
    };
    return {
      OperationDefinition(node) {
        const depth = depthOf(node.selectionSet, new Set());
        if (depth > maxDepth) {
          context.reportError(
            new GraphQLError(
              `The operation is nested ${depth} levels deep; at most ${maxDepth} are allowed`,
              {
                nodes: [node],
                extensions: { code: "QUERY_TOO_COMPLEX", limit: "depth", maxDepth },
              },
            ),
          );
        }
      },
    };
  };
}

type Variables = Readonly<Record<string, unknown>>;

interface Walk {
  schema: GraphQLSchema;
  fragments: Map<string, FragmentDefinitionNode>;
  variables: Variables;
  defaults: Map<string, unknown>;
  limits: OperationLimits;
  /** Connection fields that name neither `first` nor `last`: they get `first` added. */
  needsFirst: Set<FieldNode>;
  /** Variables used for `first`/`last` that are null: they get the default. */
  nullVariables: Set<string>;
  cost: number;
  error: GraphQLError | null;
}

function isConnectionField(field: GraphQLField<unknown, unknown>): boolean {
  return (
    field.args.some((a) => a.name === "first") &&
    getNamedType(field.type).name.endsWith("Connection")
  );
}

/** The value of argument `name` on `node`: a number, null (absent or null), or "variable-null". */
function argumentValue(
  node: FieldNode,
  name: string,
  walk: Walk,
): number | null | { nullVariable: string } {
  const arg: ArgumentNode | undefined = node.arguments?.find((a) => a.name.value === name);
  if (!arg) return null;
  if (arg.value.kind === Kind.INT) return Number(arg.value.value);
  if (arg.value.kind === Kind.NULL) return null;
  if (arg.value.kind === Kind.VARIABLE) {
    const variable = arg.value.name.value;
    const value =
      variable in walk.variables ? walk.variables[variable] : walk.defaults.get(variable);
    if (value === null || value === undefined) return { nullVariable: variable };
    return typeof value === "number" ? value : Number.NaN;
  }
  return Number.NaN;
}

function refuse(walk: Walk, node: FieldNode, argument: string, value: number): void {
  const { maxPageSize } = walk.limits;
  walk.error ??= new GraphQLError(
    `\`${argument}\` on \`${node.name.value}\` must be between 0 and ${maxPageSize} (got ${value})`,
    { nodes: [node], extensions: { code: "INVALID_INPUT", field: argument, maxPageSize } },
  );
}

function walkSelections(
  set: SelectionSetNode,
  parentType: GraphQLCompositeType,
  multiplier: number,
  walk: Walk,
  fragmentsSeen: ReadonlySet<string>,
): void {
  for (const selection of set.selections) {
    if (walk.error) return;
    if (selection.kind === Kind.INLINE_FRAGMENT) {
      const type = selection.typeCondition
        ? (walk.schema.getType(selection.typeCondition.name.value) as
            GraphQLCompositeType | undefined)
        : parentType;
      if (type) walkSelections(selection.selectionSet, type, multiplier, walk, fragmentsSeen);
      continue;
    }
    if (selection.kind === Kind.FRAGMENT_SPREAD) {
      const name = selection.name.value;
      const fragment = walk.fragments.get(name);
      const type =
        fragment &&
        (walk.schema.getType(fragment.typeCondition.name.value) as GraphQLCompositeType);
      if (fragment && type && !fragmentsSeen.has(name)) {
        walkSelections(
          fragment.selectionSet,
          type,
          multiplier,
          walk,
          new Set([...fragmentsSeen, name]),
        );
      }
      continue;
    }
    const name = selection.name.value;
    if (name.startsWith("__")) continue;
    if (!isObjectType(parentType) && !isInterfaceType(parentType)) continue;
    const field = parentType.getFields()[name];
    if (!field) continue;

    let childMultiplier = multiplier;
    if (isConnectionField(field)) {
      const first = argumentValue(selection, "first", walk);
      const last = argumentValue(selection, "last", walk);
      let pageSize: number | null = null;
      for (const [argument, value] of [
        ["first", first],
        ["last", last],
      ] as const) {
        if (typeof value === "number") {
          if (!Number.isInteger(value) || value < 0 || value > walk.limits.maxPageSize) {
            refuse(walk, selection, argument, value);
            return;
          }
          pageSize = Math.max(pageSize ?? 0, value);
        } else if (value !== null) {
          walk.nullVariables.add(value.nullVariable);
        }
      }
      if (first === null && last === null) walk.needsFirst.add(selection);
      childMultiplier = multiplier * (pageSize ?? walk.limits.defaultPageSize);
      walk.cost += childMultiplier;
    } else if (!parentType.name.endsWith("Connection") && !parentType.name.endsWith("Edge")) {
      // (inside a connection, nodes/edges are the page the connection field already counted)
      const type = isNonNullType(field.type) ? field.type.ofType : field.type;
      if (isListType(type)) childMultiplier = multiplier * walk.limits.defaultPageSize;
      if (selection.selectionSet) walk.cost += childMultiplier;
    }
    if (selection.selectionSet) {
      const named = getNamedType(field.type) as GraphQLCompositeType;
      walkSelections(selection.selectionSet, named, childMultiplier, walk, fragmentsSeen);
    }
  }
}

export type LimitedOperation =
  | { ok: true; document: DocumentNode; variableValues: Record<string, unknown> }
  | { ok: false; error: GraphQLError };

/** Documents with `first` added where it was missing, per original document and operation. */
const withDefaults = new WeakMap<DocumentNode, Map<string, DocumentNode>>();

/**
 * Checks page sizes and cost, and returns the document and variables to execute: with the
 * default page size filled in where the operation asked for none.
 */
export function limitOperation(
  schema: GraphQLSchema,
  document: DocumentNode,
  operationName: string | null | undefined,
  variableValues: Variables | null | undefined,
  limits: OperationLimits,
): LimitedOperation {
  const operations = document.definitions.filter(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  );
  const operation = operationName
    ? operations.find((o) => o.name?.value === operationName)
    : operations.length === 1
      ? operations[0]
      : undefined;
  const variables = variableValues ?? {};
  if (!operation) return { ok: true, document, variableValues: { ...variables } };
  const rootType =
    operation.operation === "query"
      ? schema.getQueryType()
      : operation.operation === "mutation"
        ? schema.getMutationType()
        : schema.getSubscriptionType();
  if (!rootType) return { ok: true, document, variableValues: { ...variables } };

  const defaults = new Map<string, unknown>();
  for (const definition of operation.variableDefinitions ?? []) {
    if (definition.defaultValue?.kind === Kind.INT) {
      defaults.set(definition.variable.name.value, Number(definition.defaultValue.value));
    }
  }
  const walk: Walk = {
    schema,
    fragments: new Map(
      document.definitions
        .filter((d): d is FragmentDefinitionNode => d.kind === Kind.FRAGMENT_DEFINITION)
        .map((d) => [d.name.value, d]),
    ),
    variables,
    defaults,
    limits,
    needsFirst: new Set(),
    nullVariables: new Set(),
    cost: 0,
    error: null,
  };
  walkSelections(operation.selectionSet, rootType, 1, walk, new Set());
  if (walk.error) return { ok: false, error: walk.error };
  if (walk.cost > limits.maxCost) {
    return {
      ok: false,
      error: new GraphQLError(
        `The operation could return up to ${walk.cost} objects; at most ${limits.maxCost} are allowed. Ask for smaller pages or fewer nested connections.`,
        {
          nodes: [operation],
          extensions: {
            code: "QUERY_TOO_COMPLEX",
            limit: "cost",
            cost: walk.cost,
            maxCost: limits.maxCost,
          },
        },
      ),
    };
  }

  const nextVariables: Record<string, unknown> = { ...variables };
  for (const name of walk.nullVariables) nextVariables[name] = limits.defaultPageSize;

  if (walk.needsFirst.size === 0) return { ok: true, document, variableValues: nextVariables };
  const cacheKey = `${operationName ?? ""}:${limits.defaultPageSize}`;
  const cached = withDefaults.get(document)?.get(cacheKey);
  if (cached) return { ok: true, document: cached, variableValues: nextVariables };
  // Static: which fields lack first/last depends on the document alone, so it is cached.
  const needsFirst = walk.needsFirst;
  const rewritten = visit(document, {
    Field(node) {
      if (!needsFirst.has(node)) return undefined;
      return {
        ...node,
        arguments: [
          ...(node.arguments ?? []),
          {
            kind: Kind.ARGUMENT,
            name: { kind: Kind.NAME, value: "first" },
            value: { kind: Kind.INT, value: String(limits.defaultPageSize) },
          },
        ],
      };
    },
  });
  const perDocument = withDefaults.get(document) ?? new Map<string, DocumentNode>();
  perDocument.set(cacheKey, rewritten);
  withDefaults.set(document, perDocument);
  return { ok: true, document: rewritten, variableValues: nextVariables };
}
