/**
 * TOTP (RFC 6238: SHA-1, 6 digits, 30-second steps) on otplib. The database keeps the secret and
 * the last step accepted (replay protection, app_private.totp_factors); this module only makes
 * secrets and URIs and says whether a code fits a secret, and in which step.
 */
import { generateSecret, generateURI, verify } from "otplib";

export const TOTP_ISSUER = "MKing Friend";
const PERIOD_SECONDS = 30;

/** A new base32 secret (160 bits). */
export function newTotpSecret(): string {
  return generateSecret({ length: 20 });
}

/** otpauth://totp/MKing%20Friend:<email>?secret=…&issuer=MKing%20Friend: what the QR code holds. */
export function totpUri(email: string, secret: string): string {
  return generateURI({ issuer: TOTP_ISSUER, label: email, secret, period: PERIOD_SECONDS });
}

/**
 * The 30-second step a 6-digit code belongs to (the current step or the one before or after, for
 * clocks that drift), or null when it fits none. `now` is injectable for tests.
 */
export async function totpStep(
  secret: string,
  code: string,
  now: Date = new Date(),
): Promise<number | null> {
  const token = code.replace(/\s+/g, "");
  if (!/^\d{6}$/.test(token)) return null;
  const result = await verify({
    secret,
    token,
    epoch: Math.floor(now.getTime() / 1000),
    period: PERIOD_SECONDS,
    epochTolerance: PERIOD_SECONDS,
  });
  return result.valid && "timeStep" in result ? result.timeStep : null;
}
