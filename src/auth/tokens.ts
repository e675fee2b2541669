/**
 * Access tokens: short-lived JWTs saying who the caller is. Claims: `sub` (user id), `role`
 * (always `authenticated`), `sid` (the session, i.e. refresh-token family). Verification pins
 * the algorithm and checks audience, issuer and expiry; anything else is refused.
 */
import { createPrivateKey, createPublicKey, createSecretKey, type KeyObject } from "node:crypto";

import jwt from "jsonwebtoken";

import type { JwtKeys } from "./keys.ts";

export interface TokenSettings {
  keys: JwtKeys;
  audience: string;
  issuer: string;
  ttlSeconds: number;
}

export interface VerifiedToken {
  userId: string;
  sessionId: string;
  /** When the token stops being valid (websockets close then). */
  expiresAt: Date;
}

export interface SignedToken {
  token: string;
  expiresAt: Date;
}

/**
 * Why a token was refused; clients may show "session expired" for `expired` (refresh) and
 * "signed out" for `revoked` (its session has ended: sign in again).
 */
export type InvalidTokenReason = "expired" | "invalid" | "revoked";

/** The message for a token whose session has ended, or whose account does not exist. */
export const SESSION_ENDED_MESSAGE = "This session has ended; sign in again";

export class InvalidTokenError extends Error {
  readonly reason: InvalidTokenReason;
  constructor(reason: InvalidTokenReason, message: string) {
    super(message);
    this.name = "InvalidTokenError";
    this.reason = reason;
  }
}

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/**
 * The keys as KeyObjects, made once: given a string, jsonwebtoken first tries to read it as a PEM
 * public key and builds the secret key from it after that throws — on every call (about 100 µs
 * of each request's verification).
 */
function keyObjects(keys: JwtKeys): { signing: KeyObject; verifying: KeyObject } {
  if (keys.algorithm === "HS256") {
    const secret = createSecretKey(Buffer.from(keys.signingKey));
    return { signing: secret, verifying: secret };
  }
  return {
    signing: createPrivateKey(keys.signingKey),
    verifying: createPublicKey(keys.verifyingKey),
  };
}

export class TokenService {
  private readonly settings: TokenSettings;
  private readonly keys: { signing: KeyObject; verifying: KeyObject };
  constructor(settings: TokenSettings) {
    this.settings = settings;
    this.keys = keyObjects(settings.keys);
  }

  sign(userId: string, sessionId: string, now: Date = new Date()): SignedToken {
    const { keys, audience, issuer, ttlSeconds } = this.settings;
    const iat = Math.floor(now.getTime() / 1000);
    const token = jwt.sign({ role: "authenticated", sid: sessionId, iat }, this.keys.signing, {
      algorithm: keys.algorithm,
      subject: userId,
      audience,
      issuer,
      expiresIn: ttlSeconds,
    });
    return { token, expiresAt: new Date((iat + ttlSeconds) * 1000) };
  }

  verify(token: string): VerifiedToken {
    const { keys, audience, issuer } = this.settings;
    let payload: string | jwt.JwtPayload;
    try {
      payload = jwt.verify(token, this.keys.verifying, {
        algorithms: [keys.algorithm],
        audience,
        issuer,
      });
    } catch (error) {
      if (error instanceof jwt.TokenExpiredError) {
        throw new InvalidTokenError("expired", "The access token has expired; refresh it");
      }
      throw new InvalidTokenError("invalid", "The access token is not valid");
    }
    if (
      typeof payload !== "object" ||
      payload.role !== "authenticated" ||
      typeof payload.sub !== "string" ||
      !UUID.test(payload.sub) ||
      typeof payload.sid !== "string" ||
      !UUID.test(payload.sid) ||
      typeof payload.exp !== "number"
    ) {
      throw new InvalidTokenError("invalid", "The access token is not valid");
    }
    return { userId: payload.sub, sessionId: payload.sid, expiresAt: new Date(payload.exp * 1000) };
  }
}
