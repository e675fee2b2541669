/**
 * Passkeys (WebAuthn) on @simplewebauthn/server: the ceremony options and the checks of what the
 * authenticator answered. Challenges, keys and counters live in the database
 * (app_private.second_step_challenges, app_private.webauthn_credentials); this module is pure.
 */
import {
  generateRegistrationOptions,
  verifyAuthenticationResponse,
  verifyRegistrationResponse,
  type AuthenticationResponseJSON,
  type PublicKeyCredentialCreationOptionsJSON,
  type RegistrationResponseJSON,
} from "@simplewebauthn/server";

export const RP_NAME = "MKing Friend";

export interface RelyingParty {
  rpId: string;
  origins: readonly string[];
}

export interface StoredPasskey {
  credentialId: string;
  publicKey: Uint8Array;
  counter: number;
  transports: string[];
}

export interface NewPasskey {
  credentialId: string;
  publicKey: Uint8Array;
  counter: number;
  transports: string[];
}

export async function registrationOptions(
  rp: RelyingParty,
  user: { id: string; email: string },
  challenge: string,
  timeoutMs: number,
  existing: readonly { id: string; transports: string[] }[],
): Promise<PublicKeyCredentialCreationOptionsJSON> {
  return generateRegistrationOptions({
    rpName: RP_NAME,
    rpID: rp.rpId,
    userName: user.email,
    userID: new Uint8Array(Buffer.from(user.id.replace(/-/g, ""), "hex")),
    // as bytes: a string would be taken as text and encoded again
    challenge: new Uint8Array(Buffer.from(challenge, "base64url")),
    timeout: timeoutMs,
    attestationType: "none",
    excludeCredentials: existing.map((p) => ({ id: p.id, transports: p.transports })),
    authenticatorSelection: { residentKey: "preferred", userVerification: "preferred" },
  });
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

/** The shape a browser's credential.toJSON() has; the library checks the rest. */
function looksLikeCredential(value: unknown): boolean {
  return (
    isObject(value) &&
    typeof value.id === "string" &&
    typeof value.rawId === "string" &&
    value.type === "public-key" &&
    isObject(value.response) &&
    typeof value.response.clientDataJSON === "string"
  );
}

export function asRegistrationResponse(value: unknown): RegistrationResponseJSON | null {
  if (!looksLikeCredential(value)) return null;
  const response = (value as { response: Record<string, unknown> }).response;
  if (typeof response.attestationObject !== "string") return null;
  return { clientExtensionResults: {}, ...(value as object) } as RegistrationResponseJSON;
}

export function asAuthenticationResponse(value: unknown): AuthenticationResponseJSON | null {
  if (!looksLikeCredential(value)) return null;
  const response = (value as { response: Record<string, unknown> }).response;
  if (typeof response.authenticatorData !== "string" || typeof response.signature !== "string") {
    return null;
  }
  return { clientExtensionResults: {}, ...(value as object) } as AuthenticationResponseJSON;
}

/** The new credential, or null when the attestation does not check out. */
export async function checkRegistration(
  rp: RelyingParty,
  response: RegistrationResponseJSON,
  expectedChallenge: string,
): Promise<NewPasskey | null> {
  try {
    const result = await verifyRegistrationResponse({
      response,
      expectedChallenge,
      expectedOrigin: [...rp.origins],
      expectedRPID: rp.rpId,
      requireUserVerification: false,
    });
    if (!result.verified) return null;
    const { credential } = result.registrationInfo;
    return {
      credentialId: credential.id,
      publicKey: credential.publicKey,
      counter: credential.counter,
      transports: credential.transports ?? response.response.transports ?? [],
    };
  } catch {
    return null;
  }
}

/** The authenticator's new counter, or null when the assertion does not check out. */
export async function checkAssertion(
  rp: RelyingParty,
  response: AuthenticationResponseJSON,
  expectedChallenge: string,
  passkey: StoredPasskey,
): Promise<number | null> {
  try {
    const result = await verifyAuthenticationResponse({
      response,
      expectedChallenge,
      expectedOrigin: [...rp.origins],
      expectedRPID: rp.rpId,
      credential: {
        id: passkey.credentialId,
        publicKey: new Uint8Array(passkey.publicKey),
        counter: passkey.counter,
        transports: passkey.transports,
      },
      requireUserVerification: false,
    });
    return result.verified ? result.authenticationInfo.newCounter : null;
  } catch {
    return null;
  }
}
