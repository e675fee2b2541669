/**
 * The keys access tokens are signed and verified with. HS256 uses JWT_SECRET; in development an
 * unset secret is generated once and kept in DATA_DIR/jwt-secret (so tokens survive restarts).
 * RS256 uses JWT_PRIVATE_KEY / JWT_PUBLIC_KEY. Production requires explicit keys (src/config.ts).
 */
import { randomBytes } from "node:crypto";
import { chmodSync, existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";

import type { Config } from "../config.ts";

export interface JwtKeys {
  readonly algorithm: "HS256" | "RS256";
  readonly signingKey: string;
  readonly verifyingKey: string;
}

export function resolveJwtKeys(config: Config): JwtKeys {
  const { auth } = config;
  if (auth.jwtAlgorithm === "RS256") {
    return {
      algorithm: "RS256",
      signingKey: auth.jwtPrivateKey!,
      verifyingKey: auth.jwtPublicKey!,
    };
  }
  const secret = auth.jwtSecret ?? developmentSecret(config.dataDir);
  return { algorithm: "HS256", signingKey: secret, verifyingKey: secret };
}

function developmentSecret(dataDir: string): string {
  const file = path.join(dataDir, "jwt-secret");
  if (existsSync(file)) return readFileSync(file, "utf8").trim();
  mkdirSync(dataDir, { recursive: true });
  const secret = randomBytes(48).toString("base64url");
  writeFileSync(file, secret + "\n", { mode: 0o600, flag: "wx" });
  chmodSync(file, 0o600);
  return secret;
}
