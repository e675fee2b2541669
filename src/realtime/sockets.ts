/**
 * Websockets at /graphql (the graphql-transport-ws protocol, graphql-ws's server driven by
 * grafserv's execution config), with what grafserv's own handler leaves out:
 *
 * - who is calling: the access token from the connection's init payload (`authorization:
 *   "Bearer …"`, or `accessToken`), else the upgrade request's Authorization header. A bad token
 *   closes the socket with 4401 and the reason; a good one closes it (4401, "Access token
 *   expired") the moment it expires, or (4401, "This session has ended; sign in again") the
 *   moment its session ends (src/auth/sessions.ts). Without a token the socket works, but every private
 *   subscription is refused with UNAUTHENTICATED.
 * - limits per user (per client address when signed out), per instance: open sockets (4429
 *   beyond them) and running operations (TOO_MANY_SUBSCRIPTIONS beyond them);
 * - keepalive pings, so dead peers are noticed and their subscriptions ended.
 */
import type { IncomingMessage, Server as HttpServer } from "node:http";
import type { Duplex } from "node:stream";

import { GraphQLError } from "graphql";
import { makeServer, type Context } from "graphql-ws";
import { makeGraphQLWSConfig } from "postgraphile/grafserv";
import type { ExpressGrafserv } from "postgraphile/grafserv/express/v4";
import { WebSocketServer, type WebSocket } from "ws";

import { bearerToken, rememberSocketIdentity } from "../auth/request.ts";
import type { SessionRegistry } from "../auth/sessions.ts";
import {
  InvalidTokenError,
  SESSION_ENDED_MESSAGE,
  type TokenService,
  type VerifiedToken,
} from "../auth/tokens.ts";
import { tooDeepJson } from "../http/jsonDepth.ts";
import type { Logger } from "../log.ts";
import type { ApiMetrics } from "../metrics/api.ts";
import type { PresenceHook } from "./presence.ts";
import { SocketMetrics } from "./socketMetrics.ts";

/** Close codes sent to clients (README, "Realtime"). */
export const CLOSE = {
  unauthorized: 4401,
  tooManyConnections: 4429,
  /**
   * The standard "Try Again Later": the token's session could not be checked (the database is
   * unreachable, e.g. restarting). graphql-ws clients retry it; 4500 (an internal error), which
   * this used to be, they take as final.
   */
  tryAgainLater: 1013,
} as const;

export interface SocketLimits {
  maxConnectionsPerUser: number;
  maxSubscriptionsPerUser: number;
}

export interface WebSocketOptions {
  path: string;
  tokens: TokenService;
  /** Live sessions: a socket of a session that ends is closed (4401) at once. */
  sessions: SessionRegistry;
  limits: SocketLimits;
  /**
   * Largest websocket message accepted, in bytes (MAX_REQUEST_BYTES, as for an HTTP body):
   * beyond it the socket closes with 1009 (Message Too Big). ws's own default is 100 MiB.
   */
  maxMessageBytes: number;
  log: Logger;
  /** Ping interval; a peer that misses a pong for this long is dropped. */
  keepaliveMs?: number;
  /** Checks an upgrade request (its Origin: src/http/cors.ts); false: it already answered. */
  acceptUpgrade?: (req: IncomingMessage, socket: Duplex) => boolean;
  /** The API's metrics: sockets, subscriptions, events, operations (src/realtime/socketMetrics.ts). */
  metrics?: ApiMetrics | null;
  /** Told when a signed-in user's socket opens and closes (src/realtime/presence.ts). */
  presence?: PresenceHook | null;
}

interface Extra {
  socket: WebSocket;
  request: IncomingMessage;
}

interface SocketState {
  key: string;
  identity: VerifiedToken | undefined;
  expiry: NodeJS.Timeout | null;
  operations: Set<string>;
}

/** How many sockets and operations each user (or client address) holds right now. */
class Usage {
  readonly #sockets = new Map<string, number>();
  readonly #operations = new Map<string, number>();

  sockets(key: string): number {
    return this.#sockets.get(key) ?? 0;
  }
  operations(key: string): number {
    return this.#operations.get(key) ?? 0;
  }
  add(map: "sockets" | "operations", key: string, delta: number): void {
    const m = map === "sockets" ? this.#sockets : this.#operations;
    const next = (m.get(key) ?? 0) + delta;
    if (next <= 0) m.delete(key);
    else m.set(key, next);
  }
}

/** The open sockets of each session. */
class SocketsBySession {
  readonly #sockets = new Map<string, Set<WebSocket>>();

  of(sessionId: string): WebSocket[] {
    return [...(this.#sockets.get(sessionId) ?? [])];
  }
  add(sessionId: string, socket: WebSocket): void {
    const set = this.#sockets.get(sessionId) ?? new Set();
    set.add(socket);
    this.#sockets.set(sessionId, set);
  }
  remove(sessionId: string, socket: WebSocket): void {
    const set = this.#sockets.get(sessionId);
    if (set?.delete(socket) && set.size === 0) this.#sockets.delete(sessionId);
  }
}

function tokenFrom(
  ctx: Context<Record<string, unknown> | undefined, Extra>,
): string | null | "malformed" {
  const params = ctx.connectionParams ?? {};
  const authorization = Object.entries(params).find(
    ([k]) => k.toLowerCase() === "authorization",
  )?.[1];
  if (typeof authorization === "string") return bearerToken(authorization);
  const accessToken = params.accessToken ?? params.token;
  if (typeof accessToken === "string" && accessToken !== "") return accessToken;
  if (accessToken !== undefined) return "malformed";
  return bearerToken(ctx.extra.request.headers.authorization);
}

export interface WebSocketHandler {
  /** Sockets open right now. */
  readonly openSockets: number;
  /** Stops accepting sockets and closes the open ones (1001), dropping those that do not answer. */
  close(graceMs?: number): Promise<void>;
}

/** Serves GraphQL over websockets on `httpServer` for upgrade requests to `options.path`. */
export function attachWebSockets(
  serv: ExpressGrafserv,
  httpServer: HttpServer,
  options: WebSocketOptions,
): WebSocketHandler {
  const log = options.log.child({ component: "realtime" });
  const usage = new Usage();
  const states = new WeakMap<WebSocket, SocketState>();
  const base = makeGraphQLWSConfig(serv);
  const metrics = options.metrics ? new SocketMetrics(options.metrics) : null;

  const closeWith = (socket: WebSocket, code: number, reason: string): void => {
    if (socket.readyState === socket.OPEN || socket.readyState === socket.CONNECTING)
      socket.close(code, reason);
  };

  // a session that ends closes its sockets at once, on every instance (src/auth/sessions.ts)
  const bySession = new SocketsBySession();
  const stopWatchingSessions = options.sessions.onEnded((sessionId) => {
    for (const socket of bySession.of(sessionId))
      closeWith(socket, CLOSE.unauthorized, SESSION_ENDED_MESSAGE);
  });

  const server = makeServer<Record<string, unknown> | undefined, Extra>({
    ...base,
    async onConnect(ctx) {
      const { socket, request } = ctx.extra;
      const token = tokenFrom(ctx);
      let identity: VerifiedToken | undefined;
      if (token === "malformed") {
        closeWith(
          socket,
          CLOSE.unauthorized,
          "The access token must be sent as `authorization: Bearer <token>`",
        );
        return false;
      }
      if (token !== null) {
        try {
          identity = options.tokens.verify(token);
        } catch (error) {
          if (!(error instanceof InvalidTokenError)) throw error;
          closeWith(socket, CLOSE.unauthorized, error.message);
          return false;
        }
        let state: Awaited<ReturnType<SessionRegistry["check"]>>;
        try {
          state = await options.sessions.check(identity);
        } catch (error) {
          log.warn("websocket refused: its session could not be checked", { error });
          closeWith(socket, CLOSE.tryAgainLater, "Sessions cannot be checked right now; try again");
          return false;
        }
        if (state === "ended") {
          closeWith(socket, CLOSE.unauthorized, SESSION_ENDED_MESSAGE);
          return false;
        }
      }
      const key = identity
        ? `user:${identity.userId}`
        : `ip:${request.socket.remoteAddress ?? "unknown"}`;
      if (usage.sockets(key) >= options.limits.maxConnectionsPerUser) {
        closeWith(
          socket,
          CLOSE.tooManyConnections,
          `Too many open connections (at most ${options.limits.maxConnectionsPerUser})`,
        );
        return false;
      }
      usage.add("sockets", key, 1);
      let expiry: NodeJS.Timeout | null = null;
      if (identity) {
        rememberSocketIdentity(socket, identity);
        bySession.add(identity.sessionId, socket);
        const ms = Math.min(identity.expiresAt.getTime() - Date.now(), 2 ** 31 - 1);
        expiry = setTimeout(
          () => closeWith(socket, CLOSE.unauthorized, "Access token expired"),
          Math.max(ms, 0),
        );
        expiry.unref();
      }
      states.set(socket, { key, identity, expiry, operations: new Set() });
      if (identity) options.presence?.connected(identity.userId);
      return true;
    },
    async onSubscribe(ctx, id, payload) {
      const state = states.get(ctx.extra.socket);
      if (!state)
        return [
          new GraphQLError("Connection not initialised", {
            extensions: { code: "UNAUTHENTICATED" },
          }),
        ];
      const tooDeep = tooDeepJson(payload.variables, payload.extensions);
      if (tooDeep !== null) {
        return [new GraphQLError(tooDeep, { extensions: { code: "BAD_REQUEST" } })];
      }
      if (usage.operations(state.key) >= options.limits.maxSubscriptionsPerUser) {
        return [
          new GraphQLError(
            `Too many subscriptions (at most ${options.limits.maxSubscriptionsPerUser})`,
            {
              extensions: { code: "TOO_MANY_SUBSCRIPTIONS" },
            },
          ),
        ];
      }
      state.operations.add(id);
      usage.add("operations", state.key, 1);
      metrics?.started(ctx.extra.socket, id, payload.operationName);
      try {
        return await base.onSubscribe!(ctx, id, payload);
      } catch (error) {
        state.operations.delete(id);
        usage.add("operations", state.key, -1);
        throw error;
      }
    },
    ...(metrics && {
      onOperation(ctx, id, _payload, args, result) {
        metrics.executed(ctx.extra.socket, id, args, Symbol.asyncIterator in result);
      },
      async onNext(ctx, id, payload, args, result) {
        const masked = await base.onNext?.(ctx, id, payload, args, result);
        metrics.sent(ctx.extra.socket, id, (masked ?? result).errors);
        return masked;
      },
      async onError(ctx, id, payload, errors) {
        const masked = await base.onError?.(ctx, id, payload, errors);
        metrics.refused(ctx.extra.socket, id, masked ?? errors);
        return masked;
      },
    }),
    onComplete(ctx, id) {
      metrics?.completed(ctx.extra.socket, id);
      const state = states.get(ctx.extra.socket);
      if (state?.operations.delete(id)) usage.add("operations", state.key, -1);
    },
    onClose(ctx) {
      const state = states.get(ctx.extra.socket);
      if (!state) return;
      states.delete(ctx.extra.socket);
      if (state.identity) bySession.remove(state.identity.sessionId, ctx.extra.socket);
      if (state.expiry) clearTimeout(state.expiry);
      usage.add("operations", state.key, -state.operations.size);
      state.operations.clear();
      usage.add("sockets", state.key, -1);
      if (state.identity) options.presence?.disconnected(state.identity.userId);
    },
  });

  const wsServer = new WebSocketServer({ noServer: true, maxPayload: options.maxMessageBytes });
  let open = 0;
  wsServer.on("connection", (socket: WebSocket, request: IncomingMessage) => {
    open += 1;
    metrics?.opened();
    // A frame ws refuses (over maxPayload, invalid UTF-8, a bad opcode, an unmasked frame…)
    // closes that socket with the matching code (1009, 1007, 1002) and emits 'error': without a
    // listener, one such frame from anyone ended the whole process.
    socket.on("error", (error: Error & { code?: string }) => {
      options.metrics?.refused(
        error.code === "WS_ERR_UNSUPPORTED_MESSAGE_LENGTH" ? "body_size" : "transport",
      );
      log.info("websocket closed: the client sent a frame it may not send", {
        code: error.code ?? "unknown",
        reason: error.message,
      });
    });
    const stopKeepalive = keepalive(socket, options.keepaliveMs ?? 12_000);
    const closed = server.opened(
      {
        protocol: socket.protocol,
        send: (data) =>
          new Promise<void>((resolve, reject) =>
            socket.send(data, (error) => (error ? reject(error) : resolve())),
          ),
        close: (code, reason) => socket.close(code, reason),
        onMessage: (callback) =>
          socket.on("message", (data) => {
            callback(String(data)).catch((error: unknown) => {
              log.warn("websocket message failed", { error });
              closeWith(socket, 4500, "Internal error");
            });
          }),
      },
      { socket, request },
    );
    socket.once("close", (code, reason) => {
      open -= 1;
      metrics?.closed(socket);
      stopKeepalive();
      void closed(code, String(reason));
    });
  });

  const onUpgrade = (req: IncomingMessage, socket: Duplex, head: Buffer): void => {
    const path = (req.url ?? "").split("?")[0];
    if (path !== options.path) {
      socket.destroy();
      return;
    }
    if (options.acceptUpgrade && !options.acceptUpgrade(req, socket)) {
      options.metrics?.refused("origin");
      return;
    }
    wsServer.handleUpgrade(req, socket, head, (ws) => wsServer.emit("connection", ws, req));
  };
  httpServer.on("upgrade", onUpgrade);

  return {
    get openSockets() {
      return open;
    },
    async close(graceMs = 1000) {
      httpServer.off("upgrade", onUpgrade);
      stopWatchingSessions();
      const clients = [...wsServer.clients];
      await Promise.all(
        clients.map(
          (client) =>
            new Promise<void>((resolve) => {
              if (client.readyState === client.CLOSED) return resolve();
              const timer = setTimeout(() => client.terminate(), graceMs);
              client.once("close", () => {
                clearTimeout(timer);
                resolve();
              });
              client.close(1001, "Server shutting down");
            }),
        ),
      );
      await new Promise<void>((resolve) => wsServer.close(() => resolve()));
    },
  };
}

/** Pings every `intervalMs`; a peer that has not answered the previous ping is terminated. */
function keepalive(socket: WebSocket, intervalMs: number): () => void {
  let alive = true;
  socket.on("pong", () => (alive = true));
  const timer = setInterval(() => {
    if (!alive) {
      socket.terminate();
      return;
    }
    alive = false;
    socket.ping();
  }, intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
