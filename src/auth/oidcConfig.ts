/**
 * OIDC_PROVIDERS: the OpenID Connect providers people may sign in with, as a JSON array:
 *
 *   [{"name": "google", "issuer": "https://accounts.google.com",
 *     "clientId": "…", "clientSecret": "…", "scopes": "openid email profile"}]
 *
 * `name` (1 to 32 lowercase letters, digits, _ or -) is what clients pass to startOidcSignIn and
 * is part of the callback URL; `scopes` is optional. Every mistake is reported at start-up.
 */

export interface OidcProviderConfig {
  readonly name: string;
  /** The issuer URL; its /.well-known/openid-configuration is read at first use. */
  readonly issuer: string;
  readonly clientId: string;
  readonly clientSecret: string;
  readonly scopes: string;
}

const NAME = /^[a-z0-9_-]{1,32}$/;
const FIELDS = new Set(["name", "issuer", "clientId", "clientSecret", "scopes"]);

function isLoopback(hostname: string): boolean {
  return hostname === "localhost" || hostname === "127.0.0.1" || hostname === "[::1]";
}

/** Whether requests to this issuer may use plain http (loopback only). */
export function allowsInsecureIssuer(issuer: string): boolean {
  const url = new URL(issuer);
  return url.protocol === "http:" && isLoopback(url.hostname);
}

function providerProblems(entry: unknown, index: number): string[] {
  const where = `OIDC_PROVIDERS[${index}]`;
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    return [`${where} must be an object {name, issuer, clientId, clientSecret}`];
  }
  const record = entry as Record<string, unknown>;
  const problems: string[] = [];
  for (const key of Object.keys(record)) {
    if (!FIELDS.has(key)) problems.push(`${where}: unknown field "${key}"`);
  }
  for (const key of ["name", "issuer", "clientId", "clientSecret"]) {
    if (typeof record[key] !== "string" || (record[key] as string).trim() === "") {
      problems.push(`${where}.${key} must be a non-empty string`);
    }
  }
  if (typeof record.name === "string" && !NAME.test(record.name)) {
    problems.push(
      `${where}.name must be 1 to 32 lowercase letters, digits, _ or - (got "${record.name}")`,
    );
  }
  if (record.scopes !== undefined && typeof record.scopes !== "string") {
    problems.push(`${where}.scopes must be a string such as "openid email profile"`);
  } else if (typeof record.scopes === "string" && !record.scopes.split(/\s+/).includes("openid")) {
    problems.push(`${where}.scopes must include "openid"`);
  }
  if (typeof record.issuer === "string") {
    let url: URL | null = null;
    try {
      url = new URL(record.issuer);
    } catch {
      problems.push(`${where}.issuer must be a URL (got "${record.issuer}")`);
    }
    if (
      url &&
      url.protocol !== "https:" &&
      !(url.protocol === "http:" && isLoopback(url.hostname))
    ) {
      problems.push(`${where}.issuer must be an https:// URL (http only on a loopback address)`);
    }
  }
  return problems;
}

/** Parses OIDC_PROVIDERS (undefined: none); `problems` gets one line per mistake. */
export function parseOidcProviders(
  value: string | undefined,
  problems: string[],
): readonly OidcProviderConfig[] {
  if (value === undefined) return Object.freeze([]);
  let parsed: unknown;
  try {
    parsed = JSON.parse(value);
  } catch {
    problems.push(
      'OIDC_PROVIDERS must be a JSON array, e.g. [{"name":"google","issuer":"https://accounts.google.com","clientId":"…","clientSecret":"…"}]',
    );
    return Object.freeze([]);
  }
  if (!Array.isArray(parsed)) {
    problems.push("OIDC_PROVIDERS must be a JSON array of providers");
    return Object.freeze([]);
  }
  const found = parsed.flatMap((entry, index) => providerProblems(entry, index));
  const names = parsed.map((entry) => (entry as { name?: unknown } | null)?.name);
  const duplicate = names.find((name, i) => typeof name === "string" && names.indexOf(name) !== i);
  if (duplicate !== undefined)
    found.push(`OIDC_PROVIDERS: the name "${String(duplicate)}" is used twice`);
  if (found.length > 0) {
    problems.push(...found);
    return Object.freeze([]);
  }
  return Object.freeze(
    (parsed as Record<string, string>[]).map((p) =>
      Object.freeze({
        name: p.name!,
        issuer: p.issuer!.trim(),
        clientId: p.clientId!,
        clientSecret: p.clientSecret!,
        scopes: p.scopes?.trim() ?? "openid email profile",
      }),
    ),
  );
}

/** OIDC_APP_REDIRECT_URIS: where the callback may send the browser back (exact URIs). */
export function parseAppRedirectUris(
  value: string | undefined,
  fallback: string,
  problems: string[],
): readonly string[] {
  const entries = (value ?? fallback).split(/[\s,]+/).filter((e) => e !== "");
  for (const entry of entries) {
    let url: URL | null = null;
    try {
      url = new URL(entry);
    } catch {
      // reported below
    }
    if (!url || url.hash !== "" || /^(javascript|data|file):$/.test(url.protocol)) {
      problems.push(
        `OIDC_APP_REDIRECT_URIS: "${entry}" must be an absolute URI without a fragment (https://app.example.com/auth/callback, or an app's own scheme)`,
      );
    }
  }
  return Object.freeze(entries);
}
