/**
 * One GraphQL operation over HTTP: a JSON POST to /graphql (the API takes one operation per
 * request), the access token in the Authorization header.
 */
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { print } from "graphql";

import type { GraphQLErrorBody } from "./errors.ts";

export type Fetch = (input: string, init: RequestInit) => Promise<Response>;

export interface GraphQLResult<TData> {
  status: number;
  data: TData | null;
  errors: GraphQLErrorBody[] | null;
}

const printed = new WeakMap<object, string>();

/** The document's text (printed once per document). */
export function documentText(document: TypedDocumentNode<unknown, never>): string {
  let text = printed.get(document);
  if (text === undefined) {
    text = print(document);
    printed.set(document, text);
  }
  return text;
}

export async function postOperation<TData, TVariables>(
  fetchImpl: Fetch,
  endpoint: string,
  document: TypedDocumentNode<TData, TVariables>,
  variables: TVariables,
  accessToken: string | null,
): Promise<GraphQLResult<TData>> {
  const response = await fetchImpl(endpoint, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      accept: "application/graphql-response+json, application/json",
      ...(accessToken ? { authorization: `Bearer ${accessToken}` } : {}),
    },
    body: JSON.stringify({
      query: documentText(document as TypedDocumentNode<unknown, never>),
      variables,
    }),
  });
  let body: { data?: TData | null; errors?: GraphQLErrorBody[] };
  try {
    body = (await response.json()) as typeof body;
  } catch {
    body = {
      errors: [{ message: `HTTP ${response.status} without a GraphQL body`, extensions: {} }],
    };
  }
  return {
    status: response.status,
    data: body.data ?? null,
    errors: body.errors && body.errors.length > 0 ? body.errors : null,
  };
}
