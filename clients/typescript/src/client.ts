/**
 * The typed client: queries and mutations over fetch, subscriptions over one websocket, and the
 * session kept fresh behind both (src/auth.ts).
 *
 *   const api = createClient({ url: "http://127.0.0.1:3000" });
 *   await api.signIn("ana@example.com", "correct horse battery");
 *   const { homeFeed } = await api.request(HomeFeedDocument, { first: 20 });
 */
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";

import { Auth, type SessionChange } from "./auth.ts";
import { ApiError } from "./errors.ts";
import type { RegisterInput } from "./generated/graphql.ts";
import { Pager, type FetchPage } from "./paging.ts";
import { Realtime, type ConnectionEvent, type SubscriptionHandlers } from "./realtime.ts";
import { memoryStore, type Session, type SessionStore } from "./session.ts";
import { postOperation, type Fetch } from "./transport.ts";

export interface ClientOptions {
  /** The API's origin, e.g. http://127.0.0.1:3000 (/graphql is added; ws(s):// for sockets). */
  url: string;
  /** Where the session is kept (default: memory; `webStorageStore(localStorage)` in a browser). */
  store?: SessionStore;
  /** Refresh the access token ahead of expiry (default true). */
  autoRefresh?: boolean;
  /** Part of the token's lifetime left when it is refreshed (default 0.2). */
  refreshMargin?: number;
  fetch?: Fetch;
  /** A WebSocket class where there is no global one (graphql-ws's webSocketImpl). */
  webSocketImpl?: unknown;
}

export interface MkingClient {
  /** The API's origin (relative URLs it answers with, such as an uploadUrl, are on it). */
  readonly url: string;
  readonly session: Session | null;
  signUp(input: RegisterInput): Promise<Session>;
  signIn(email: string, password: string): Promise<Session>;
  signOut(): Promise<void>;
  /** Runs a query or mutation; throws an ApiError (typed `code`) when the API refuses it. */
  request<TData, TVariables>(
    document: TypedDocumentNode<TData, TVariables>,
    variables: TVariables,
  ): Promise<TData>;
  /** Subscribes; returns the function that stops it. */
  subscribe<TData, TVariables>(
    document: TypedDocumentNode<TData, TVariables>,
    variables: TVariables,
    handlers: SubscriptionHandlers<TData>,
  ): () => void;
  /** A keyset pager over a connection: `api.pager((after) => fetch a page after the cursor)`. */
  pager<T>(fetchPage: FetchPage<T>): Pager<T>;
  onSessionChange(listener: (change: SessionChange, session: Session | null) => void): () => void;
  onConnection(listener: (event: ConnectionEvent) => void): () => void;
  /** Stops the refresh timer and closes the socket. */
  close(): Promise<void>;
}

export function createClient(options: ClientOptions): MkingClient {
  const endpoint = `${options.url.replace(/\/+$/, "")}/graphql`;
  const fetchImpl: Fetch = options.fetch ?? ((input, init) => fetch(input, init));
  const auth = new Auth({
    endpoint,
    fetch: fetchImpl,
    store: options.store ?? memoryStore(),
    autoRefresh: options.autoRefresh ?? true,
    refreshMargin: options.refreshMargin ?? 0.2,
  });
  const realtime = new Realtime({
    url: endpoint.replace(/^http/, "ws"),
    auth,
    webSocketImpl: options.webSocketImpl,
  });
  // a new sign-in (or a sign-out) gets a socket of its own
  auth.onChange((change) => {
    if (change !== "refreshed") void realtime.restart();
  });

  async function request<TData, TVariables>(
    document: TypedDocumentNode<TData, TVariables>,
    variables: TVariables,
  ): Promise<TData> {
    const token = await auth.accessToken();
    let result = await postOperation(fetchImpl, endpoint, document, variables, token);
    const refusal = result.errors && new ApiError(result.errors, result.status);
    if (token && refusal && result.status === 401 && refusal.code === "UNAUTHENTICATED") {
      if (refusal.reason === "revoked") {
        auth.ended();
        throw refusal;
      }
      const fresh = await auth.afterRefusal(token);
      result = await postOperation(fetchImpl, endpoint, document, variables, fresh);
    }
    if (result.errors) throw new ApiError(result.errors, result.status);
    if (!result.data) throw new ApiError([{ message: "The API answered without data" }]);
    return result.data;
  }

  return {
    url: options.url.replace(/\/+$/, ""),
    get session() {
      return auth.current;
    },
    signUp: (input) => auth.signUp(input),
    signIn: (email, password) => auth.signIn(email, password),
    signOut: () => auth.signOut(),
    request,
    subscribe: (document, variables, handlers) => realtime.subscribe(document, variables, handlers),
    pager: (fetchPage) => new Pager(fetchPage),
    onSessionChange: (listener) => auth.onChange(listener),
    onConnection: (listener) => realtime.onConnection(listener),
    async close() {
      auth.stop();
      await realtime.close();
    },
  };
}
