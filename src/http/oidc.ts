/**
 * GET /auth/oidc/:provider/callback?code&state — where an OpenID Connect provider sends the
 * browser back (register `<OIDC_REDIRECT_BASE_URL>/auth/oidc/<name>/callback` at the provider).
 *
 * 1. The state is taken, once (app_hidden.oidc_take_state, committed first): unknown, used,
 *    expired or another provider's → 400 OIDC_STATE_INVALID (there is nowhere safe to send the
 *    browser back to).
 * 2. The code is exchanged with the PKCE verifier and the ID token verified (src/auth/oidc.ts).
 * 3. app_hidden.oidc_resolve decides (sign in, sign up, link) and makes a one-time code.
 * 4. The browser goes back to the client app's redirect URI (given to startOidcSignIn, one of
 *    OIDC_APP_REDIRECT_URIS) with `signin_code` (→ completeOidcSignIn), `link_code` and
 *    `link_reason` (→ linkIdentity, signed in), or `error=<code>` (docs/error_codes.md). Tokens
 *    never travel in a URL.
 */
import express, { type Request, type Response, type Router } from "express";
import type pg from "pg";

import { OidcRejected, type OidcService } from "../auth/oidc.ts";
import { ANONYMOUS_ROLE } from "../db/roles.ts";
import type { ErrorCode } from "../errors.ts";
import type { Logger } from "../log.ts";
import { refuse } from "./respond.ts";

export interface OidcCallbackOptions {
  /** The API's authenticator pool: the callback runs as `anonymous`. */
  pool: pg.Pool;
  oidc: OidcService;
  /** How long the one-time code for the client app lasts. */
  codeTtlSeconds: number;
  log: Logger;
}

interface TakenState {
  outcome: "ok" | "invalid" | "expired";
  state_id: string | null;
  nonce: string | null;
  code_verifier: string | null;
  app_redirect_uri: string | null;
}

/** What the client app is told when the flow ends without a code (docs/error_codes.md). */
const REFUSALS: Readonly<Record<string, ErrorCode>> = {
  email_not_verified: "OIDC_EMAIL_NOT_VERIFIED",
  email_required: "OIDC_EMAIL_REQUIRED",
  identity_in_use: "IDENTITY_ALREADY_LINKED",
  invalid: "OIDC_STATE_INVALID",
};

async function asAnonymous<R extends pg.QueryResultRow>(
  pool: pg.Pool,
  text: string,
  values: unknown[],
): Promise<R> {
  const client = await pool.connect();
  try {
    await client.query("begin");
    await client.query(`select set_config('role', $1, true)`, [ANONYMOUS_ROLE]);
    const { rows } = await client.query<R>(text, values);
    await client.query("commit");
    return rows[0]!;
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    throw error;
  } finally {
    client.release();
  }
}

function sendBack(res: Response, appRedirectUri: string, params: Record<string, string>): void {
  const target = new URL(appRedirectUri);
  for (const [key, value] of Object.entries(params)) target.searchParams.set(key, value);
  res
    .set({ "Cache-Control": "no-store", "Referrer-Policy": "no-referrer" })
    .redirect(303, target.href);
}

export function oidcCallbacks(options: OidcCallbackOptions): Router {
  const router = express.Router();
  const { pool, oidc } = options;
  const log = options.log.child({ component: "oidc" });

  const callback = async (req: Request, res: Response): Promise<void> => {
    const provider = String(req.params.provider);
    if (!oidc.has(provider)) return refuse(res, 404, "NOT_FOUND", "No such sign-in provider");
    const state = typeof req.query.state === "string" ? req.query.state : "";
    const taken = await asAnonymous<TakenState>(
      pool,
      `select * from app_hidden.oidc_take_state($1, $2)`,
      [provider, state],
    );
    if (taken.outcome !== "ok" || !taken.state_id || !taken.app_redirect_uri) {
      log.info("oidc callback refused", { provider, reason: `state ${taken.outcome}` });
      return refuse(
        res,
        400,
        "OIDC_STATE_INVALID",
        "This sign-in link is invalid, used or expired; start the sign-in again",
      );
    }
    const ip = req.ip ?? null;
    const userAgent = req.get("user-agent") ?? null;
    const fail = async (reason: string, code: ErrorCode): Promise<void> => {
      log.warn("oidc sign-in failed", { provider, reason });
      await asAnonymous(pool, `select app_hidden.oidc_fail($1, $2, $3::inet, $4)`, [
        taken.state_id,
        reason,
        ip,
        userAgent,
      ]);
      sendBack(res, taken.app_redirect_uri!, { error: code });
    };

    if (typeof req.query.error === "string") {
      return fail(`provider answered ${req.query.error.slice(0, 100)}`, "OIDC_PROVIDER_ERROR");
    }
    let identity;
    try {
      identity = await oidc.finish(provider, new URL(req.originalUrl, "http://callback.invalid"), {
        state,
        nonce: taken.nonce!,
        codeVerifier: taken.code_verifier!,
      });
    } catch (error) {
      if (error instanceof OidcRejected) return fail(error.message, "OIDC_TOKEN_REJECTED");
      return fail(
        `provider unreachable: ${error instanceof Error ? error.message : String(error)}`,
        "OIDC_PROVIDER_ERROR",
      );
    }
    const resolved = await asAnonymous<{ outcome: string; code: string | null }>(
      pool,
      `select * from app_hidden.oidc_resolve($1, $2, $3, $4, $5, $6, $7, make_interval(secs => $8), $9::inet, $10)`,
      [
        taken.state_id,
        identity.subject,
        identity.email,
        identity.emailVerified,
        identity.name,
        identity.preferredUsername,
        identity.issuer,
        options.codeTtlSeconds,
        ip,
        userAgent,
      ],
    );
    log.info("oidc callback", { provider, outcome: resolved.outcome });
    if (resolved.code && resolved.outcome === "sign_in") {
      return sendBack(res, taken.app_redirect_uri, { signin_code: resolved.code });
    }
    if (resolved.code && (resolved.outcome === "link_required" || resolved.outcome === "link")) {
      return sendBack(res, taken.app_redirect_uri, {
        link_code: resolved.code,
        link_reason: resolved.outcome === "link" ? "requested" : "email_match",
        provider,
      });
    }
    sendBack(res, taken.app_redirect_uri, {
      error: REFUSALS[resolved.outcome] ?? "OIDC_STATE_INVALID",
    });
  };

  router.get("/:provider/callback", (req, res, next) => {
    callback(req, res).catch(next);
  });
  return router;
}
