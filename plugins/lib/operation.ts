/**
 * Which operation of a document a request runs: its type and name, looked up once per document
 * and operation name (grafserv caches parsed documents, so the same document object comes back
 * for the same query text). Used on every request (plugins/metrics.ts, plugins/realtime.ts).
 */
import { getOperationAST, type DocumentNode } from "postgraphile/graphql";

export interface OperationInfo {
  readonly type: "query" | "mutation" | "subscription";
  readonly name: string | null;
}

const operations = new WeakMap<DocumentNode, Map<string, OperationInfo | null>>();

/** The operation `operationName` selects in `document` (null: none, or ambiguous). */
export function operationOf(
  document: DocumentNode,
  operationName: string | null | undefined,
): OperationInfo | null {
  let byName = operations.get(document);
  if (!byName) operations.set(document, (byName = new Map()));
  const key = operationName ?? "";
  let info = byName.get(key);
  if (info === undefined) {
    const operation = getOperationAST(document, operationName);
    info = operation ? { type: operation.operation, name: operation.name?.value ?? null } : null;
    byName.set(key, info);
  }
  return info;
}
