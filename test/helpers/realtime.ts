/**
 * A real websocket client (graphql-ws over `ws`) for subscription tests: open a socket as
 * someone, subscribe, and await events, errors, completion or the socket's close.
 */
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";

import type { GraphQLBody, TestServer } from "./server.ts";

export interface Closed {
  code: number;
  reason: string;
}

export interface LiveSubscription<T> {
  /** Every event received so far. */
  readonly events: T[];
  /** Resolves with the `index`-th event (0-based), waiting for it if needed. */
  event(index: number): Promise<T>;
  /** Resolves with the errors if the subscription fails. */
  readonly failed: Promise<GraphQLBody["errors"]>;
  /** Resolves when the server completes the subscription. */
  readonly completed: Promise<void>;
  stop(): void;
}

export interface LiveSocket {
  readonly client: Client;
  /** Resolves when the socket closes, with the close code and reason. */
  readonly closed: Promise<Closed>;
  subscribe<T = Record<string, unknown>>(
    query: string,
    variables?: Record<string, unknown>,
  ): LiveSubscription<T>;
  dispose(): Promise<void>;
}

/** Connects to the server's /graphql websocket; `connectionParams` is the init payload. */
export function connect(
  server: TestServer,
  connectionParams: Record<string, unknown> = {},
): LiveSocket {
  let onClosed!: (c: Closed) => void;
  const closed = new Promise<Closed>((resolve) => (onClosed = resolve));
  const client = createClient({
    url: `${server.url.replace(/^http/, "ws")}/graphql`,
    webSocketImpl: WebSocket,
    connectionParams,
    lazy: false,
    retryAttempts: 0,
    on: {
      closed: (event) => {
        const e = event as { code?: number; reason?: unknown };
        onClosed({ code: e.code ?? 0, reason: String(e.reason ?? "") });
      },
    },
    onNonLazyError: () => undefined,
  });
  return {
    client,
    closed,
    subscribe<T>(query: string, variables: Record<string, unknown> = {}): LiveSubscription<T> {
      const events: T[] = [];
      const waiting = new Map<number, (value: T) => void>();
      let fail!: (errors: GraphQLBody["errors"]) => void;
      let complete!: () => void;
      const failed = new Promise<GraphQLBody["errors"]>((resolve) => (fail = resolve));
      const completed = new Promise<void>((resolve) => (complete = resolve));
      const stop = client.subscribe<Record<string, unknown>>(
        { query, variables },
        {
          next: (result) => {
            if (result.errors) {
              fail(result.errors as GraphQLBody["errors"]);
              return;
            }
            const data = result.data ?? {};
            const value = Object.values(data)[0] as T;
            events.push(value);
            waiting.get(events.length - 1)?.(value);
          },
          error: (error) => {
            fail(
              Array.isArray(error)
                ? (error as GraphQLBody["errors"])
                : [{ message: String((error as { reason?: string }).reason ?? error) }],
            );
          },
          complete: () => complete(),
        },
      );
      return {
        events,
        failed,
        completed,
        stop,
        event(index) {
          const existing = events[index];
          if (existing !== undefined) return Promise.resolve(existing);
          return new Promise<T>((resolve) => waiting.set(index, resolve));
        },
      };
    },
    dispose: () => client.dispose() as Promise<void>,
  };
}
