/**
 * The key of the analytics pseudonyms (docs/SECURITY.md, "Analytics without personal data").
 * The views hash every id with HMAC-SHA256 under the key in app_private.analytics_key, which the
 * first migration fills with random bytes. ANALYTICS_PSEUDONYM_KEY, when set, replaces it at
 * every start, so several databases (or a rebuilt one) can share pseudonyms and an operator can
 * rotate them by changing the variable. Unset, the database's key stays as it is.
 */
import { createHmac } from "node:crypto";

import pg from "pg";

import type { Logger } from "../log.ts";

/** Stores `key` (null: nothing to do); true when it replaced a different key. */
export async function applyPseudonymKey(
  ownerUrl: string,
  key: string | null,
  log: Logger,
): Promise<boolean> {
  if (key === null) return false;
  const client = new pg.Client({ connectionString: ownerUrl });
  client.on("error", (error) => log.warn("analytics key connection failed", { error }));
  await client.connect();
  try {
    const { rows } = await client.query<{ changed: boolean }>(
      `select app_private.set_analytics_key($1::bytea) as changed`,
      [Buffer.from(key, "utf8")],
    );
    const changed = rows[0]?.changed === true;
    // never the key itself, only that it changed: every analytics pseudonym is new from now on
    if (changed) log.info("analytics pseudonym key set: every analytics pseudonym has changed");
    return changed;
  } finally {
    await client.end();
  }
}

/** The pseudonym app_private.pseudonym gives `id` under `key`, for checks outside the database. */
export function pseudonymOf(id: string, key: string): string {
  return createHmac("sha256", Buffer.from(key, "utf8")).update(id).digest("hex").slice(0, 32);
}
