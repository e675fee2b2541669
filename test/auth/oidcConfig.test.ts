/** OIDC_PROVIDERS and OIDC_APP_REDIRECT_URIS are checked at start-up, one line per mistake. */
import { ConfigError, loadConfig } from "../../src/config.ts";

function problems(env: Record<string, string>): readonly string[] {
  try {
    loadConfig({ JWT_SECRET: "x".repeat(32), ...env });
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

const good = {
  name: "google",
  issuer: "https://accounts.google.com",
  clientId: "id",
  clientSecret: "s",
};

it("reads providers from a JSON array, with default scopes", () => {
  const config = loadConfig({ JWT_SECRET: "x".repeat(32), OIDC_PROVIDERS: JSON.stringify([good]) });
  expect(config.oidc.providers).toEqual([{ ...good, scopes: "openid email profile" }]);
  expect(config.oidc.appRedirectUris).toEqual(["http://localhost:3000/auth/callback"]);
});

it("names every mistake", () => {
  expect(problems({ OIDC_PROVIDERS: "google=https://x|id|secret" })).toEqual([
    expect.stringMatching(/^OIDC_PROVIDERS must be a JSON array/),
  ]);
  expect(
    problems({
      OIDC_PROVIDERS: JSON.stringify([
        { ...good, name: "Google!", issuer: "http://accounts.example.com", extra: 1 },
        { ...good, clientSecret: "", scopes: "email" },
        good,
      ]),
    }),
  ).toEqual([
    'OIDC_PROVIDERS[0]: unknown field "extra"',
    'OIDC_PROVIDERS[0].name must be 1 to 32 lowercase letters, digits, _ or - (got "Google!")',
    "OIDC_PROVIDERS[0].issuer must be an https:// URL (http only on a loopback address)",
    "OIDC_PROVIDERS[1].clientSecret must be a non-empty string",
    'OIDC_PROVIDERS[1].scopes must include "openid"',
    'OIDC_PROVIDERS: the name "google" is used twice',
  ]);
  expect(
    problems({ OIDC_APP_REDIRECT_URIS: "not a uri, https://app.example.com/cb#x" }),
  ).toHaveLength(4);
});
