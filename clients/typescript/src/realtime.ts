/**
 * Subscriptions over one websocket (graphql-ws, README "Realtime"). The access token goes in the
 * init payload; the server closes the socket with 4401 when that token expires or its session
 * ends. graphql-ws gives up on 4401 (it cannot know the token changed), so each subscription
 * here catches it: it gets a fresh token (refreshing only if the socket's token is still the
 * current one) and subscribes again on a new socket. If the session is over, the subscription
 * fails with UNAUTHENTICATED.
 */
import type { TypedDocumentNode } from "@graphql-typed-document-node/core";
import { createClient, type Client } from "graphql-ws";

import type { Auth } from "./auth.ts";
import { ApiError, type GraphQLErrorBody } from "./errors.ts";
import { documentText } from "./transport.ts";

export const UNAUTHORIZED_CLOSE = 4401;

export interface SubscriptionHandlers<TData> {
  next(data: TData): void;
  /** The subscription ended with an error (an ApiError for refusals); it is not retried. */
  error?(error: unknown): void;
  /** The server completed the subscription. */
  complete?(): void;
  /**
   * Subscribed again after the socket was closed and reopened (events sent in between were
   * missed: refetch what you show).
   */
  resubscribed?(): void;
}

export type ConnectionEvent =
  { type: "connected" } | { type: "closed"; code: number; reason: string };

export interface RealtimeOptions {
  url: string;
  auth: Auth;
  webSocketImpl?: unknown;
}

interface CloseLike {
  code: number;
  reason: string;
}

function closeOf(value: unknown): CloseLike | null {
  if (typeof value !== "object" || value === null || !("code" in value)) return null;
  const { code, reason } = value as { code: unknown; reason?: unknown };
  return typeof code === "number" ? { code, reason: String(reason ?? "") } : null;
}

export class Realtime {
  private readonly auth: Auth;
  private readonly listeners = new Set<(event: ConnectionEvent) => void>();
  private client: Client;
  /** The token the current socket was opened with. */
  private socketToken: string | null = null;
  private readonly options: RealtimeOptions;

  constructor(options: RealtimeOptions) {
    this.options = options;
    this.auth = options.auth;
    this.client = this.open();
  }

  /** Calls `listener` whenever a socket opens (acknowledged) or closes. */
  onConnection(listener: (event: ConnectionEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  subscribe<TData, TVariables>(
    document: TypedDocumentNode<TData, TVariables>,
    variables: TVariables,
    handlers: SubscriptionHandlers<TData>,
  ): () => void {
    const query = documentText(document as TypedDocumentNode<unknown, never>);
    let stopped = false;
    let release: () => void = () => undefined;
    const start = (): void => {
      release = this.client.subscribe<TData>(
        { query, variables: variables as Record<string, unknown> },
        {
          next: (result) => {
            if (result.errors?.length) {
              stopped = true;
              handlers.error?.(new ApiError(result.errors as GraphQLErrorBody[]));
            } else if (result.data) {
              handlers.next(result.data as TData);
            }
          },
          error: (error) => {
            if (stopped) return;
            const close = closeOf(error);
            if (close?.code === UNAUTHORIZED_CLOSE && this.socketToken) {
              this.auth.afterRefusal(this.socketToken).then(
                () => {
                  if (stopped) return;
                  start();
                  handlers.resubscribed?.();
                },
                (refused: unknown) => {
                  stopped = true;
                  handlers.error?.(refused);
                },
              );
              return;
            }
            stopped = true;
            handlers.error?.(
              Array.isArray(error) ? new ApiError(error as GraphQLErrorBody[]) : error,
            );
          },
          complete: () => {
            if (!stopped) handlers.complete?.();
          },
        },
      );
    };
    start();
    return () => {
      stopped = true;
      release();
    };
  }

  /** Closes the socket (its subscriptions complete); the next subscription opens a new one. */
  async restart(): Promise<void> {
    const old = this.client;
    this.client = this.open();
    await old.dispose();
  }

  async close(): Promise<void> {
    await this.client.dispose();
  }

  private open(): Client {
    return createClient({
      url: this.options.url,
      lazy: true,
      retryAttempts: 10,
      ...(this.options.webSocketImpl ? { webSocketImpl: this.options.webSocketImpl } : {}),
      connectionParams: async () => {
        const token = await this.auth.accessToken().catch(() => null);
        this.socketToken = token;
        return token ? { authorization: `Bearer ${token}` } : {};
      },
      on: {
        connected: () => this.emit({ type: "connected" }),
        closed: (event) => {
          const close = closeOf(event);
          this.emit({ type: "closed", code: close?.code ?? 0, reason: close?.reason ?? "" });
        },
      },
    });
  }

  private emit(event: ConnectionEvent): void {
    for (const listener of this.listeners) listener(event);
  }
}
