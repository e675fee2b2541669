/**
 * Input values PostgreSQL can never accept, refused before the operation runs — so no SQL is
 * attempted and the client gets INVALID_INPUT naming the field, not PostgreSQL's message:
 *
 * - the NUL character (U+0000) in any string: PostgreSQL's `text` cannot hold it (22021) nor
 *   can `jsonb` (22P05). Checked everywhere at once — every variable value (deeply: input
 *   objects, lists, JSON values and their keys) and every string literal and variable default
 *   in the executed operation and the fragments — so text columns, SQL function arguments,
 *   JSON inputs and the sign-in mutations (plugins/auth.ts) are all covered;
 * - a negative `offset` (2201X): every `offset` argument of the API is a connection's.
 *
 * A pure function over the document and variables; plugins/requestGuards.ts calls it for every
 * request (HTTP and websockets).
 */
import {
  GraphQLError,
  Kind,
  visit,
  type ASTNode,
  type DocumentNode,
  type OperationDefinitionNode,
  type ValueNode,
} from "postgraphile/graphql";

const NUL = "\u0000";

function nulError(field: string, nodes?: ASTNode): GraphQLError {
  return new GraphQLError("Text must not contain the NUL character (U+0000)", {
    nodes,
    extensions: { code: "INVALID_INPUT", field },
  });
}

function offsetError(value: number, nodes: ASTNode): GraphQLError {
  return new GraphQLError(`\`offset\` must not be negative (got ${value})`, {
    nodes,
    extensions: { code: "INVALID_INPUT", field: "offset" },
  });
}

/** The name of the innermost key holding a NUL character in `value`, or null. */
function nulIn(value: unknown, field: string): string | null {
  if (typeof value === "string") return value.includes(NUL) ? field : null;
  if (Array.isArray(value)) {
    for (const item of value) {
      const found = nulIn(item, field);
      if (found) return found;
    }
    return null;
  }
  if (value !== null && typeof value === "object") {
    for (const [key, item] of Object.entries(value)) {
      if (key.includes(NUL)) return field;
      const found = nulIn(item, key);
      if (found) return found;
    }
  }
  return null;
}

/** The value a literal or a variable holds, for an `offset` check (null if unknown). */
function intValue(
  node: ValueNode,
  variables: Readonly<Record<string, unknown>>,
  defaults: ReadonlyMap<string, ValueNode>,
): number | null {
  if (node.kind === Kind.INT) return Number(node.value);
  if (node.kind !== Kind.VARIABLE) return null;
  const name = node.name.value;
  if (name in variables) {
    const value = variables[name];
    return typeof value === "number" ? value : null;
  }
  const fallback = defaults.get(name);
  return fallback ? intValue(fallback, {}, new Map()) : null;
}

/**
 * The first input of the operation PostgreSQL would refuse (see above), as an INVALID_INPUT
 * error; null when there is none (or the operation is not found: execution reports that).
 */
export function refuseImpossibleInputs(
  document: DocumentNode,
  operationName: string | null | undefined,
  variableValues: Readonly<Record<string, unknown>> | null | undefined,
): { ok: false; error: GraphQLError } | null {
  const error = impossibleInput(document, operationName, variableValues);
  return error ? { ok: false, error } : null;
}

function impossibleInput(
  document: DocumentNode,
  operationName: string | null | undefined,
  variableValues: Readonly<Record<string, unknown>> | null | undefined,
): GraphQLError | null {
  const operations = document.definitions.filter(
    (d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION,
  );
  const operation = operationName
    ? operations.find((o) => o.name?.value === operationName)
    : operations.length === 1
      ? operations[0]
      : undefined;
  if (!operation) return null;
  const variables = variableValues ?? {};

  const defaults = new Map<string, ValueNode>();
  for (const definition of operation.variableDefinitions ?? []) {
    const name = definition.variable.name.value;
    if (definition.defaultValue) defaults.set(name, definition.defaultValue);
    const field = name in variables ? nulIn(variables[name], name) : null;
    if (field) return nulError(field, definition);
  }

  let error: GraphQLError | null = null;
  const fragments = document.definitions.filter((d) => d.kind === Kind.FRAGMENT_DEFINITION);
  for (const definition of [operation, ...fragments]) {
    // the names of the arguments and input fields being visited, innermost last
    const names: string[] = [];
    visit(definition, {
      Argument: {
        enter(node) {
          names.push(node.name.value);
          if (node.name.value !== "offset") return;
          const value = intValue(node.value, variables, defaults);
          if (value !== null && value < 0) error ??= offsetError(value, node);
        },
        leave: () => void names.pop(),
      },
      ObjectField: {
        enter: (node) => void names.push(node.name.value),
        leave: () => void names.pop(),
      },
      VariableDefinition: {
        enter: (node) => void names.push(node.variable.name.value),
        leave: () => void names.pop(),
      },
      StringValue(node) {
        if (node.value.includes(NUL)) error ??= nulError(names.at(-1) ?? "query", node);
      },
    });
    if (error) return error;
  }
  return null;
}
