/**
 * The one way a sign-in ends (password now; OpenID Connect and others the same way): a session a
 * sign-in function opened becomes either tokens, or, when the account has a second factor, a
 * second-step challenge the client answers with completeSecondStep (plugins/twoFactor.ts).
 *
 * Every caller runs inside the transaction that opened the session: `completeSignIn` removes it
 * there (app_hidden.hold_for_second_step) so a half-finished sign-in never leaves a live session.
 */
import { randomBytes } from "node:crypto";

import type { ClientInfo } from "./request.ts";
import type { TokenService } from "./tokens.ts";

/** What the `app_hidden` sign-in functions return (type app_hidden.session). */
export interface SessionRow {
  outcome: string;
  user_id: string | null;
  session_id: string | null;
  refresh_token: string | null;
}

export type SecondStepMethod = "TOTP" | "RECOVERY_CODE" | "PASSKEY";

export interface SecondStep {
  token: string;
  expiresAt: string;
  methods: SecondStepMethod[];
  /** PublicKeyCredentialRequestOptionsJSON, when PASSKEY is a method. */
  passkeyOptions: PasskeyRequestOptions | null;
}

export interface PasskeyRequestOptions {
  challenge: string;
  rpId: string;
  timeout: number;
  userVerification: "preferred";
  allowCredentials: { id: string; type: "public-key"; transports?: string[] }[];
}

/** AuthPayload: tokens, or (user and tokens null) the second step still to take. */
export interface AuthResult {
  userId: string | null;
  accessToken: string | null;
  /** ISO-8601, as PostgreSQL renders every other Datetime: 2026-11-30T16:32:07.123000+00:00 */
  accessTokenExpiresAt: string | null;
  refreshToken: string | null;
  /** The sign-in brought back an account that was awaiting erasure (docs: README "Account lifecycle"). */
  accountRestored: boolean;
  secondStep: SecondStep | null;
}

export interface SignInContext {
  pgSettings: Record<string, string | undefined>;
  mkingClient: ClientInfo;
}

export type Query = <R>(text: string, values: unknown[]) => Promise<readonly R[]>;

export interface SignInSettings {
  tokens: TokenService;
  /** How long the second-step token (and a WebAuthn ceremony) lasts. */
  secondStepTtlSeconds: number;
  /** WebAuthn relying party id (WEBAUTHN_RP_ID). */
  rpId: string;
}

export const SECOND_STEP_TTL_SECONDS = 300;

/** A timestamp (a Date, or PostgreSQL's text) as PostgreSQL renders a Datetime. */
export function isoDatetime(value: Date | string): string {
  return new Date(value).toISOString().replace(/Z$/, "000+00:00");
}

/** A fresh WebAuthn challenge, base64url. */
export function newWebauthnChallenge(): string {
  return randomBytes(32).toString("base64url");
}

interface Descriptor {
  id: string;
  transports: string[];
}

export function passkeyRequestOptions(
  challenge: string,
  rpId: string,
  ttlSeconds: number,
  passkeys: readonly Descriptor[],
): PasskeyRequestOptions {
  return {
    challenge,
    rpId,
    timeout: ttlSeconds * 1000,
    userVerification: "preferred",
    allowCredentials: passkeys.map((p) => ({
      id: p.id,
      type: "public-key",
      ...(p.transports.length > 0 ? { transports: p.transports } : {}),
    })),
  };
}

/**
 * Tokens for a session that is complete (both factors, or an account without a second factor),
 * and the rest of the request becomes that user; a refusal otherwise.
 */
export function issueTokens(
  tokens: TokenService,
  row: SessionRow,
  ctx: SignInContext,
): AuthResult | { refused: string } {
  const signedIn = row.outcome === "ok" || row.outcome === "restored";
  if (!signedIn || !row.user_id || !row.session_id || !row.refresh_token) {
    return { refused: row.outcome };
  }
  const { token, expiresAt } = tokens.sign(row.user_id, row.session_id);
  ctx.pgSettings.role = "authenticated";
  ctx.pgSettings["jwt.claims.user_id"] = row.user_id;
  ctx.pgSettings["jwt.claims.session_id"] = row.session_id;
  return {
    userId: row.user_id,
    accessToken: token,
    accessTokenExpiresAt: isoDatetime(expiresAt),
    refreshToken: row.refresh_token,
    accountRestored: row.outcome === "restored",
    secondStep: null,
  };
}

/**
 * Finishes a first-factor sign-in (the row a sign-in function returned, in the same
 * transaction): tokens for an account without a second factor, exactly as before; a second-step
 * challenge (no session, no tokens) for one with a factor; the refusal for a failed sign-in.
 *
 * `pending_deletion`: the first factor of an account awaiting erasure that has a second factor.
 * It was not restored; the challenge remembers it, and the second step restores it
 * (app_hidden.finish_sign_in_challenge). It never becomes tokens here.
 */
export async function completeSignIn(
  settings: SignInSettings,
  query: Query,
  row: SessionRow,
  ctx: SignInContext,
): Promise<AuthResult | { refused: string }> {
  const pendingDeletion = row.outcome === "pending_deletion";
  const signedIn = row.outcome === "ok" || row.outcome === "restored" || pendingDeletion;
  if (signedIn && row.refresh_token) {
    const challenge = newWebauthnChallenge();
    const [held] = await query<{
      token: string | null;
      expires_at: Date | string | null;
      methods: SecondStepMethod[] | null;
      passkeys: Descriptor[] | null;
    }>(`select * from app_hidden.hold_for_second_step($1, $2, $3, make_interval(secs => $4))`, [
      row.refresh_token,
      row.outcome === "restored" || pendingDeletion,
      challenge,
      settings.secondStepTtlSeconds,
    ]);
    if (held?.token && held.expires_at) {
      const methods = held.methods ?? [];
      return {
        userId: null,
        accessToken: null,
        accessTokenExpiresAt: null,
        refreshToken: null,
        accountRestored: false,
        secondStep: {
          token: held.token,
          expiresAt: isoDatetime(held.expires_at),
          methods,
          passkeyOptions: methods.includes("PASSKEY")
            ? passkeyRequestOptions(
                challenge,
                settings.rpId,
                settings.secondStepTtlSeconds,
                held.passkeys ?? [],
              )
            : null,
        },
      };
    }
  }
  // only the second step may restore it (the session held nothing when no factor was found)
  if (pendingDeletion) return { refused: "deleted" };
  return issueTokens(settings.tokens, row, ctx);
}
