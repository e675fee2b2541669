/**
 * Subscribers open the whole run: one graphql-ws socket per user of the world, to one API
 * instance, with `messageAdded` for each of the user's conversations and `notificationAdded`.
 * Every message received is written in the ledger's session of that subscription. A closed
 * socket ends the sessions ("closed <code>", counted by code) and the user connects again a
 * second later — whatever the code, also one that closed it before it was acknowledged (graphql-ws
 * then rejects `dispose()` with the close event: caught, never an unhandled rejection); a subscription
 * that ends with an error (CLIENT_TOO_SLOW, SUBSCRIPTION_INTERRUPTED, …; sent as the `error`
 * message, or as a result with errors before `complete`) ends its session with that code and
 * subscribes again a second later. A plain completion from the server is not followed by a new
 * subscription: a client would take it as the end, and the invariant holds such a session to
 * every later message of its conversation.
 */
import { createClient, type Client } from "graphql-ws";
import WebSocket from "ws";

import type { Ledger, SubscriptionSession } from "./ledger.ts";

const MESSAGE_ADDED = `subscription ($c: UUID!) { messageAdded(conversationId: $c) { id } }`;
const NOTIFICATION_ADDED = `subscription { notificationAdded { unreadCount } }`;

export interface SubscribersOptions {
  ledger: Ledger;
  users: readonly string[];
  conversationsOf: ReadonlyMap<string, readonly string[]>;
  apis: readonly string[];
  token: (userId: string) => string;
}

export interface Subscribers {
  notificationEvents(): number;
  /** Sockets closed by the server or the network, by close code (e.g. "1006", "4500"). */
  closesByCode(): Record<string, number>;
  /** Closes every socket; the open sessions end now. */
  close(): Promise<void>;
}

function errorCode(error: unknown): string {
  if (Array.isArray(error)) {
    const code = (error[0] as { extensions?: { code?: string } } | undefined)?.extensions?.code;
    return code ?? "GRAPHQL_ERROR";
  }
  if (error && typeof error === "object" && "code" in error) return "closed";
  return "error";
}

export function startSubscribers(o: SubscribersOptions): Subscribers {
  let closing = false;
  let notificationEvents = 0;
  const closes: Record<string, number> = {};
  // graphql-ws rejects dispose() with the close event of a socket closed while connecting
  const dispose = (client: Client): Promise<void> =>
    (client.dispose() as Promise<void>).catch(() => undefined);
  const clients = new Set<Client>();
  const timers = new Set<NodeJS.Timeout>();
  const later = (fn: () => void, ms: number): void => {
    if (closing) return;
    const t = setTimeout(() => {
      timers.delete(t);
      if (!closing) fn();
    }, ms);
    timers.add(t);
  };
  const end = (session: SubscriptionSession, reason: string): void => {
    if (session.endedAt !== null) return;
    session.endedAt = Date.now();
    session.endReason = reason;
  };

  const connect = (userId: string, apiIndex: number): void => {
    const api = o.apis[apiIndex % o.apis.length]!;
    const open = new Set<SubscriptionSession>();
    let reconnecting = false;
    let socketClosed = false;
    const client = createClient({
      url: `${api.replace(/^http/, "ws")}/graphql`,
      webSocketImpl: WebSocket,
      connectionParams: { authorization: `Bearer ${o.token(userId)}` },
      lazy: false,
      retryAttempts: 0,
      keepAlive: 5_000,
      onNonLazyError: () => undefined,
      on: {
        closed: (event) => {
          socketClosed = true;
          const code = String((event as { code?: unknown } | undefined)?.code ?? "unknown");
          if (!closing) closes[code] = (closes[code] ?? 0) + 1;
          for (const s of open) end(s, `closed ${code}`);
          open.clear();
          clients.delete(client);
          if (reconnecting) return;
          reconnecting = true;
          void dispose(client);
          later(() => connect(userId, apiIndex), 1_000);
        },
      },
    });
    clients.add(client);

    const subscribe = (conversationId: string): void => {
      const session = o.ledger.openSession(userId, conversationId, api);
      open.add(session);
      const told = (reason: string): void => {
        if (session.endedAt !== null) return;
        end(session, reason);
        open.delete(session);
        // told: subscribe again (on this socket while it is open; a closed one reconnects)
        later(() => {
          if (!socketClosed) subscribe(conversationId);
        }, 1_000);
      };
      let stop = (): void => undefined;
      stop = client.subscribe<{ messageAdded: { id: string } | null }>(
        { query: MESSAGE_ADDED, variables: { c: conversationId } },
        {
          next: (result) => {
            // an error that ended the subscription after it started (CLIENT_TOO_SLOW,
            // SUBSCRIPTION_INTERRUPTED) arrives as a result with errors, then `complete`
            if (result.errors?.length) {
              told(errorCode(result.errors));
              stop(); // its new session replaces it
              return;
            }
            const id = result.data?.messageAdded?.id;
            if (!id) return;
            session.liveFrom ??= Date.now();
            session.received.add(id);
          },
          error: (error) => told(errorCode(error)),
          complete: () => {
            end(session, "complete");
            open.delete(session);
          },
        },
      );
    };
    for (const c of o.conversationsOf.get(userId) ?? []) subscribe(c);
    client.subscribe(
      { query: NOTIFICATION_ADDED },
      {
        next: () => void (notificationEvents += 1),
        error: () => undefined,
        complete: () => undefined,
      },
    );
  };

  o.users.forEach((u, i) => connect(u, i));

  return {
    notificationEvents: () => notificationEvents,
    closesByCode: () => ({ ...closes }),
    close: async () => {
      closing = true;
      for (const t of timers) clearTimeout(t);
      const now = Date.now();
      for (const s of o.ledger.sessions) {
        if (s.endedAt === null) {
          s.endedAt = now;
          s.endReason = "end";
        }
      }
      await Promise.all([...clients].map(dispose));
    },
  };
}
