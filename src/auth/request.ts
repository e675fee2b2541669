/**
 * Per request: who is calling, decided once. The Express middleware verifies
 * `Authorization: Bearer <token>` before GraphQL runs and answers an invalid or expired token
 * with 401 and an UNAUTHENTICATED error (never a silent downgrade to anonymous). The GraphQL
 * context then turns the verified identity into `pgSettings`: the role to switch to and the
 * claims policies read.
 */
import type { IncomingMessage } from "node:http";
import { isIP } from "node:net";

import type { NextFunction, Request, Response } from "express";

import { ANONYMOUS_ROLE, AUTHENTICATED_ROLE } from "../db/roles.ts";
import type { Logger } from "../log.ts";
import type { SessionRegistry, SessionState } from "./sessions.ts";
import {
  InvalidTokenError,
  SESSION_ENDED_MESSAGE,
  type InvalidTokenReason,
  type TokenService,
  type VerifiedToken,
} from "./tokens.ts";

/** The identity verified for each HTTP request (absent: no Authorization header). */
const verifiedRequests = new WeakMap<object, VerifiedToken>();
/** The identity verified when each websocket connected (src/realtime/sockets.ts). */
const verifiedSockets = new WeakMap<object, VerifiedToken>();

export function rememberSocketIdentity(socket: object, identity: VerifiedToken): void {
  verifiedSockets.set(socket, identity);
}

export interface ClientInfo {
  ip: string | null;
  userAgent: string | null;
}

export function bearerToken(header: string | undefined): string | null | "malformed" {
  if (header === undefined || header === "") return null;
  const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
  return m?.[1] ?? "malformed";
}

function refuse(res: Response, reason: InvalidTokenReason, message: string): void {
  res
    .status(401)
    .set("WWW-Authenticate", `Bearer error="invalid_token"`)
    .json({ errors: [{ message, extensions: { code: "UNAUTHENTICATED", reason } }] });
}

/**
 * A token must also belong to a live session of an existing account (src/auth/sessions.ts):
 * known to this instance, that costs a map lookup; otherwise the database is asked once.
 */
export function authenticateRequests(tokens: TokenService, sessions: SessionRegistry, log: Logger) {
  return (req: Request, res: Response, next: NextFunction): void => {
    const token = bearerToken(req.headers.authorization);
    if (token === null) return next();
    if (token === "malformed") {
      return refuse(res, "invalid", "The Authorization header must be `Bearer <access token>`");
    }
    let identity: VerifiedToken;
    try {
      identity = tokens.verify(token);
    } catch (error) {
      if (error instanceof InvalidTokenError) return refuse(res, error.reason, error.message);
      throw error;
    }
    const admit = (state: SessionState): void => {
      if (state === "ended") return refuse(res, "revoked", SESSION_ENDED_MESSAGE);
      verifiedRequests.set(req, identity);
      next();
    };
    const state = sessions.check(identity);
    if (typeof state === "string") return admit(state);
    state.then(admit, (error: unknown) => {
      log.warn("session check failed", { error });
      res.status(503).json({
        errors: [
          {
            message: "The session could not be checked; try again",
            extensions: { code: "INTERNAL_SERVER_ERROR" },
          },
        ],
      });
    });
  };
}

export function verifiedIdentity(req: object | undefined): VerifiedToken | undefined {
  return req ? verifiedRequests.get(req) : undefined;
}

export interface PgSettingsOptions {
  statementTimeoutMs: number;
}

/**
 * The client address of a websocket's upgrade request: with TRUST_PROXY the first address of
 * X-Forwarded-For (as Express's `req.ip` takes it for HTTP requests), else the peer's.
 */
export function socketClientIp(
  request: IncomingMessage | undefined,
  trustProxy: boolean,
): string | null {
  const peer = request?.socket.remoteAddress ?? null;
  if (!trustProxy) return peer;
  const header = request?.headers["x-forwarded-for"];
  const first = (Array.isArray(header) ? header[0] : header)?.split(",")[0]?.trim();
  return first && isIP(first) ? first : peer;
}

/** The settings PostGraphile applies (`set local`) before running the request's SQL. */
export function pgSettingsFor(
  identity: VerifiedToken | undefined,
  options: PgSettingsOptions,
): Record<string, string> {
  const common = { statement_timeout: String(options.statementTimeoutMs) };
  return identity
    ? {
        ...common,
        role: AUTHENTICATED_ROLE,
        "jwt.claims.user_id": identity.userId,
        "jwt.claims.session_id": identity.sessionId,
      }
    : { ...common, role: ANONYMOUS_ROLE };
}

export function clientInfoOf(req: Request | undefined): ClientInfo {
  return {
    ip: req?.ip ?? null,
    userAgent: req?.headers["user-agent"]?.slice(0, 500) ?? null,
  };
}

declare global {
  // eslint-disable-next-line @typescript-eslint/no-namespace -- augmenting Grafast's global namespace
  namespace Grafast {
    interface RequestContext {
      /** For in-process callers (tests, scripts): the identity an HTTP header would carry. */
      mking?: { accessToken?: string; client?: ClientInfo };
    }
    interface Context {
      mkingClient: ClientInfo;
    }
  }
}

/** The GraphQL context of one request: its pgSettings and who is calling from where. */
export function requestContextFor(
  requestContext: Partial<Grafast.RequestContext>,
  tokens: TokenService,
  options: PgSettingsOptions & { trustProxy?: boolean },
): Partial<Grafast.Context> {
  const req = requestContext.expressv4?.req;
  const socket = requestContext.ws?.socket;
  let identity = req ? verifiedIdentity(req) : socket ? verifiedSockets.get(socket) : undefined;
  if (!req && !socket && requestContext.mking?.accessToken) {
    // in-process callers are our own code: the token is verified, its session is not checked
    identity = tokens.verify(requestContext.mking.accessToken);
  }
  const client: ClientInfo = req
    ? clientInfoOf(req)
    : socket
      ? {
          ip: socketClientIp(requestContext.ws?.request, options.trustProxy ?? false),
          userAgent: requestContext.ws?.request?.headers["user-agent"]?.slice(0, 500) ?? null,
        }
      : (requestContext.mking?.client ?? { ip: null, userAgent: null });
  return {
    // where the request comes from, for what the database records (account deletion audit)
    pgSettings: {
      ...pgSettingsFor(identity, options),
      "mking.client_ip": client.ip ?? "",
      "mking.user_agent": client.userAgent ?? "",
    },
    mkingClient: client,
  };
}
