/**
 * Cross-origin calls from browsers: the origins on CORS_ORIGINS (src/http/origins.ts), and the
 * server's own origin (Ruru at /graphiql), may call /graphql and open its websocket; every
 * other origin is refused with 403 ORIGIN_NOT_ALLOWED: its preflights, its requests and its
 * websocket upgrades. Requests without an Origin header (servers, mobile apps, curl) are not
 * browsers' cross-origin calls and pass. Tokens travel in the Authorization header, not in
 * cookies, so no credentials are allowed.
 */
import type { IncomingMessage } from "node:http";
import type { Duplex } from "node:stream";

import type { NextFunction, Request, Response } from "express";

import { originMatcher } from "./origins.ts";
import { refuse, refusalBody } from "./respond.ts";

export const CORS_ALLOWED_METHODS = "POST, OPTIONS";
export const CORS_ALLOWED_HEADERS = "Authorization, Content-Type, Accept";
/** How long a browser may cache a preflight answer, in seconds. */
export const CORS_MAX_AGE_SECONDS = 600;

const NOT_ALLOWED = "Requests from this origin are not allowed (see CORS_ORIGINS).";

export interface OriginPolicy {
  /** Whether a request with this Origin header, sent to this Host, may go ahead. */
  allows(origin: string, host: string | undefined): boolean;
}

export function originPolicy(entries: readonly string[]): OriginPolicy {
  const listed = originMatcher(entries);
  return {
    allows(origin, host) {
      if (listed(origin)) return true;
      // Same origin: the page was served by this server (e.g. Ruru).
      try {
        return host !== undefined && new URL(origin).host === host.toLowerCase();
      } catch {
        return false;
      }
    },
  };
}

/** What a route lets cross-origin browsers do, beyond the default (POST with JSON and a token). */
export interface CorsRoute {
  methods: string;
  headers: string;
  /** Response headers a page's script may read (`Access-Control-Expose-Headers`). */
  expose?: string;
}

/** /graphql and /exports: POST with a bearer token. */
export const GRAPHQL_CORS: CorsRoute = {
  methods: CORS_ALLOWED_METHODS,
  headers: CORS_ALLOWED_HEADERS,
};

/**
 * /media: signed uploads (PUT of the bytes with their content type) and downloads (GET, ranges
 * for video, revalidation by ETag). The URL's signature is the authorisation, not a header.
 */
export const MEDIA_CORS: CorsRoute = {
  methods: "GET, HEAD, PUT, OPTIONS",
  headers: "Content-Type, Range, If-None-Match",
  expose: "ETag, Content-Length, Content-Range, Accept-Ranges",
};

/** Express middleware: answers preflights, marks allowed responses, refuses other origins. */
export function corsMiddleware(policy: OriginPolicy, route: CorsRoute = GRAPHQL_CORS) {
  return (req: Request, res: Response, next: NextFunction): void => {
    res.vary("Origin");
    const origin = req.headers.origin;
    if (origin === undefined) return next();
    if (!policy.allows(origin, req.headers.host)) {
      return refuse(res, 403, "ORIGIN_NOT_ALLOWED", NOT_ALLOWED);
    }
    res.set("Access-Control-Allow-Origin", origin);
    if (route.expose) res.set("Access-Control-Expose-Headers", route.expose);
    const isPreflight =
      req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined;
    if (!isPreflight) return next();
    res
      .status(204)
      .set({
        "Access-Control-Allow-Methods": route.methods,
        "Access-Control-Allow-Headers": route.headers,
        "Access-Control-Max-Age": String(CORS_MAX_AGE_SECONDS),
      })
      .end();
  };
}

/**
 * For the websocket upgrade (src/realtime/sockets.ts): true when the request may become a
 * websocket; otherwise it answers 403 ORIGIN_NOT_ALLOWED on the raw socket and closes it.
 */
export function upgradeOriginCheck(policy: OriginPolicy) {
  return (req: IncomingMessage, socket: Duplex): boolean => {
    const origin = req.headers.origin;
    if (origin === undefined || policy.allows(origin, req.headers.host)) return true;
    const body = JSON.stringify(refusalBody("ORIGIN_NOT_ALLOWED", NOT_ALLOWED));
    socket.once("finish", () => socket.destroy());
    socket.end(
      "HTTP/1.1 403 Forbidden\r\n" +
        "Content-Type: application/json; charset=utf-8\r\n" +
        `Content-Length: ${Buffer.byteLength(body)}\r\n` +
        "Connection: close\r\n\r\n" +
        body,
    );
    return false;
  };
}
