/**
 * The second-factor flows as plain functions over one transaction's `query` (plugins/twoFactor.ts
 * wires them into GraphQL). Codes and signatures are checked here (src/auth/totp.ts,
 * src/auth/passkeys.ts); what was used, counted and audited is decided by the SQL functions of
 * the migration section "sign-in: second factors". Refusals are returned, never thrown, so that
 * what a failed attempt recorded is committed.
 */
import {
  asAuthenticationResponse,
  asRegistrationResponse,
  checkAssertion,
  checkRegistration,
  registrationOptions,
  type RelyingParty,
} from "./passkeys.ts";
import {
  isoDatetime,
  issueTokens,
  newWebauthnChallenge,
  passkeyRequestOptions,
  type AuthResult,
  type PasskeyRequestOptions,
  type Query,
  type SessionRow,
  type SignInContext,
  type SignInSettings,
} from "./signIn.ts";
import { newTotpSecret, totpStep, totpUri } from "./totp.ts";

export interface SecondFactorSettings {
  signIn: SignInSettings;
  rp: RelyingParty;
  refreshTokenTtlDays: number;
  /** Attempts one challenge takes before it dies. */
  maxAttemptsPerChallenge: number;
  /** Failed factor checks per account within the window (LOGIN_MAX_FAILURES, its window). */
  maxFailures: number;
  failureWindowMinutes: number;
  /** The clock TOTP codes are checked against (tests move it). */
  now?: () => Date;
}

export type Refused = { refused: string };

/** A fresh second factor (disableTotp, regenerateRecoveryCodes, removePasskey) or a second step. */
export interface FactorInput {
  code?: string | null;
  recoveryCode?: string | null;
  /** The WebAuthn assertion (credential.toJSON()); with `passkeyToken` for a fresh factor. */
  passkey?: unknown;
  passkeyToken?: string | null;
}

export interface Ceremony<TOptions> {
  token: string;
  expiresAt: string;
  options: TOptions;
}

interface Descriptor {
  id: string;
  transports: string[];
}

interface OpenChallenge {
  outcome: string;
  challenge_id: string | null;
  user_id: string | null;
  totp_secret: string | null;
  webauthn_challenge: string | null;
}

interface PasskeyRow {
  user_id: string;
  public_key: string;
  counter: string;
  transports: string[];
}

const failureWindow = (s: SecondFactorSettings): string => `${s.failureWindowMinutes} minutes`;

function client(ctx: SignInContext): [string | null, string | null] {
  return [ctx.mkingClient.ip, ctx.mkingClient.userAgent];
}

async function openChallenge(
  s: SecondFactorSettings,
  query: Query,
  token: string,
  purpose: string,
): Promise<OpenChallenge> {
  const [row] = await query<OpenChallenge>(
    `select * from app_hidden.open_challenge($1, $2, $3, $4, $5::interval)`,
    [token, purpose, s.maxAttemptsPerChallenge, s.maxFailures, failureWindow(s)],
  );
  return row!;
}

/** The stored passkey a response names (if it may answer this challenge), and its new counter. */
async function checkPasskey(
  s: SecondFactorSettings,
  query: Query,
  challenge: OpenChallenge,
  response: unknown,
): Promise<{ credentialId: string | null; counter: number | null }> {
  const assertion = asAuthenticationResponse(response);
  if (!assertion || !challenge.webauthn_challenge) return { credentialId: null, counter: null };
  const [stored] = await query<PasskeyRow>(
    `select user_id, encode(public_key, 'base64') as public_key, counter::text as counter, transports
       from app_hidden.challenge_passkey($1, $2) where user_id is not null`,
    [challenge.challenge_id, assertion.id],
  );
  if (!stored) return { credentialId: assertion.id, counter: null };
  const counter = await checkAssertion(s.rp, assertion, challenge.webauthn_challenge, {
    credentialId: assertion.id,
    publicKey: new Uint8Array(Buffer.from(stored.public_key, "base64")),
    counter: Number(stored.counter),
    transports: stored.transports,
  });
  return { credentialId: assertion.id, counter };
}

async function finishSignIn(
  s: SecondFactorSettings,
  query: Query,
  ctx: SignInContext,
  challengeId: string,
  factor: {
    method: string;
    verified: boolean;
    step?: number | null;
    recoveryCode?: string | null;
    credentialId?: string | null;
    counter?: number | null;
  },
): Promise<AuthResult | Refused> {
  const [row] = await query<SessionRow>(
    `select * from app_hidden.finish_sign_in_challenge($1, $2, $3, $4, $5, $6, $7, $8::interval, $9::inet, $10)`,
    [
      challengeId,
      factor.method,
      factor.verified,
      factor.step ?? null,
      factor.recoveryCode ?? null,
      factor.credentialId ?? null,
      factor.counter ?? null,
      `${s.refreshTokenTtlDays} days`,
      ...client(ctx),
    ],
  );
  return issueTokens(s.signIn.tokens, row!, ctx);
}

/** completeSecondStep: the token from login and one factor; tokens when it is right. */
export async function completeSecondStep(
  s: SecondFactorSettings,
  query: Query,
  ctx: SignInContext,
  input: { token: string } & FactorInput,
): Promise<AuthResult | Refused> {
  const given = [input.code, input.recoveryCode, input.passkey].filter((v) => v != null);
  if (given.length !== 1) return { refused: "one_factor" };
  const challenge = await openChallenge(s, query, input.token, "sign_in");
  if (challenge.outcome !== "ok" || !challenge.challenge_id) return { refused: challenge.outcome };
  if (input.code != null) {
    const step = challenge.totp_secret
      ? await totpStep(challenge.totp_secret, input.code, s.now?.())
      : null;
    return finishSignIn(s, query, ctx, challenge.challenge_id, {
      method: "TOTP",
      verified: step !== null,
      step,
    });
  }
  if (input.recoveryCode != null) {
    return finishSignIn(s, query, ctx, challenge.challenge_id, {
      method: "RECOVERY_CODE",
      verified: true,
      recoveryCode: input.recoveryCode,
    });
  }
  const { credentialId, counter } = await checkPasskey(s, query, challenge, input.passkey);
  return finishSignIn(s, query, ctx, challenge.challenge_id, {
    method: "PASSKEY",
    verified: counter !== null,
    credentialId,
    counter,
  });
}

/** startPasskeySignIn: a passwordless sign-in ceremony (for one account when an e-mail is given). */
export async function startPasskeySignIn(
  s: SecondFactorSettings,
  query: Query,
  email: string | null,
): Promise<Ceremony<PasskeyRequestOptions>> {
  const challenge = newWebauthnChallenge();
  const ttl = s.signIn.secondStepTtlSeconds;
  const [row] = await query<{ token: string; expires_at: Date | string; passkeys: Descriptor[] }>(
    `select * from app_hidden.start_passkey_sign_in($1, $2, make_interval(secs => $3))`,
    [email, challenge, ttl],
  );
  return {
    token: row!.token,
    expiresAt: isoDatetime(row!.expires_at),
    options: passkeyRequestOptions(challenge, s.rp.rpId, ttl, row!.passkeys),
  };
}

/** finishPasskeySignIn: the assertion for that ceremony; a passkey counts as both factors. */
export async function finishPasskeySignIn(
  s: SecondFactorSettings,
  query: Query,
  ctx: SignInContext,
  input: { token: string; response: unknown },
): Promise<AuthResult | Refused> {
  const challenge = await openChallenge(s, query, input.token, "passkey_sign_in");
  if (challenge.outcome !== "ok" || !challenge.challenge_id) return { refused: challenge.outcome };
  const { credentialId, counter } = await checkPasskey(s, query, challenge, input.response);
  if (!credentialId) return { refused: "bad_code" };
  return finishSignIn(s, query, ctx, challenge.challenge_id, {
    method: "PASSKEY",
    verified: counter !== null,
    credentialId,
    counter,
  });
}

interface MyFactors {
  user_id: string;
  email: string;
  totp_secret: string | null;
  totp_confirmed: boolean;
  methods: string[];
  passkeys: Descriptor[];
  rate_limited: boolean;
}

async function myFactors(s: SecondFactorSettings, query: Query): Promise<MyFactors> {
  const [row] = await query<MyFactors>(
    `select * from app_hidden.my_second_factors($1, $2::interval)`,
    [s.maxFailures, failureWindow(s)],
  );
  return row!;
}

/**
 * A fresh second factor of the signed-in user before a sensitive change: `ok`, or why not
 * (`one_factor`, `rate_limited`, `bad_code`, `replayed`, `invalid`, `expired`).
 */
export async function useFreshFactor(
  s: SecondFactorSettings,
  query: Query,
  ctx: SignInContext,
  purpose: string,
  input: FactorInput,
): Promise<string> {
  // signed in first (require_user): anonymous callers hear UNAUTHENTICATED whatever they sent
  const mine = await myFactors(s, query);
  const given = [input.code, input.recoveryCode, input.passkey].filter((v) => v != null);
  if (given.length !== 1) return "one_factor";
  if (mine.rate_limited) return "rate_limited";
  let factor: [string, boolean, number | null, string | null, string | null, number | null];
  if (input.code != null) {
    const step =
      mine.totp_secret && mine.totp_confirmed
        ? await totpStep(mine.totp_secret, input.code, s.now?.())
        : null;
    factor = ["TOTP", step !== null, step, null, null, null];
  } else if (input.recoveryCode != null) {
    factor = ["RECOVERY_CODE", true, null, input.recoveryCode, null, null];
  } else {
    const challenge = await openChallenge(s, query, input.passkeyToken ?? "", "verify");
    if (challenge.outcome !== "ok") return challenge.outcome;
    const { credentialId, counter } = await checkPasskey(s, query, challenge, input.passkey);
    factor = ["PASSKEY", counter !== null, null, null, credentialId, counter];
  }
  const [method, verified, step, recoveryCode, credentialId, counter] = factor;
  const [row] = await query<{ outcome: string }>(
    `select app_hidden.use_fresh_factor($1, $2, $3, $4, $5, $6, $7, $8, $9::inet, $10) as outcome`,
    [
      purpose,
      method,
      verified,
      step,
      recoveryCode,
      input.passkeyToken ?? null,
      credentialId,
      counter,
      ...client(ctx),
    ],
  );
  return row!.outcome;
}

/** enrolTotp: a new secret and the QR code's URI (the factor is off until confirmTotp). */
export async function enrolTotp(query: Query): Promise<{ secret: string; otpauthUri: string }> {
  const secret = newTotpSecret();
  const [row] = await query<{ email: string }>(`select app_hidden.enrol_totp($1) as email`, [
    secret,
  ]);
  return { secret, otpauthUri: totpUri(row!.email, secret) };
}

/** confirmTotp: the first code turns the factor on; the recovery codes, once. */
export async function confirmTotp(
  s: SecondFactorSettings,
  query: Query,
  ctx: SignInContext,
  code: string,
): Promise<{ recoveryCodes: string[] } | Refused> {
  const mine = await myFactors(s, query);
  if (mine.rate_limited) return { refused: "rate_limited" };
  if (!mine.totp_secret || mine.totp_confirmed) return { refused: "not_enrolled" };
  const step = await totpStep(mine.totp_secret, code, s.now?.());
  const [row] = await query<{ outcome: string; recovery_codes: string[] | null }>(
    `select * from app_hidden.confirm_totp($1, $2, $3::inet, $4)`,
    [step !== null, step, ...client(ctx)],
  );
  if (row!.outcome !== "ok") return { refused: row!.outcome };
  return { recoveryCodes: row!.recovery_codes ?? [] };
}

/** startPasskeyRegistration / startPasskeyVerification: a WebAuthn ceremony of the signed-in user. */
export async function startMyCeremony(
  s: SecondFactorSettings,
  query: Query,
  purpose: "passkey_registration" | "verify",
  userId: string,
): Promise<Ceremony<unknown>> {
  const challenge = newWebauthnChallenge();
  const ttl = s.signIn.secondStepTtlSeconds;
  const [row] = await query<{
    token: string;
    expires_at: Date | string;
    email: string;
    passkeys: Descriptor[];
  }>(`select * from app_hidden.start_my_challenge($1, $2, make_interval(secs => $3))`, [
    purpose,
    challenge,
    ttl,
  ]);
  const options =
    purpose === "verify"
      ? passkeyRequestOptions(challenge, s.rp.rpId, ttl, row!.passkeys)
      : await registrationOptions(
          s.rp,
          { id: userId, email: row!.email },
          challenge,
          ttl * 1000,
          row!.passkeys,
        );
  return { token: row!.token, expiresAt: isoDatetime(row!.expires_at), options };
}

export interface PasskeyInfo {
  id: string;
  name: string;
  createdAt: string;
  lastUsedAt: string | null;
}

/** finishPasskeyRegistration: the attestation for that ceremony becomes a passkey. */
export async function finishPasskeyRegistration(
  s: SecondFactorSettings,
  query: Query,
  ctx: SignInContext,
  input: { token: string; response: unknown; name?: string | null },
): Promise<{ passkeyId: string; recoveryCodes: string[] | null } | Refused> {
  const challenge = await openChallenge(s, query, input.token, "passkey_registration");
  if (challenge.outcome !== "ok" || !challenge.challenge_id || !challenge.webauthn_challenge) {
    return { refused: challenge.outcome === "ok" ? "invalid" : challenge.outcome };
  }
  const response = asRegistrationResponse(input.response);
  const passkey = response
    ? await checkRegistration(s.rp, response, challenge.webauthn_challenge)
    : null;
  if (!passkey) return { refused: "bad_registration" };
  const [row] = await query<{ passkey_id: string; recovery_codes: string[] | null }>(
    `select * from app_hidden.add_passkey($1, $2, $3, $4, $5, $6, $7::inet, $8)`,
    [
      challenge.challenge_id,
      passkey.credentialId,
      Buffer.from(passkey.publicKey),
      passkey.counter,
      passkey.transports,
      input.name ?? null,
      ...client(ctx),
    ],
  );
  return { passkeyId: row!.passkey_id, recoveryCodes: row!.recovery_codes };
}
