/**
 * Sessions for the benchmark, and what checking them costs.
 *
 * The API refuses an access token unless its session is live (src/auth/sessions.ts), so every
 * seeded user gets one real session with a deterministic id (`benchSessionId`), inserted
 * idempotently before a run.
 *
 * The cost figure: per request the API now verifies the token AND looks its session up in the
 * instance's registry. Measured in process, interleaved, median of batches: verify alone vs.
 * verify + registry check (the steady state: the session is known live), and the difference
 * set against the median latency (p50) of the cheapest scenario measured in the same run.
 */
import { createHash } from "node:crypto";

import pg from "pg";

import { SessionRegistry } from "../../src/auth/sessions.ts";
import type { TokenService } from "../../src/auth/tokens.ts";
import { median, round } from "./stats.ts";

/** The session id of a seeded user: md5 of a fixed prefix and the user id, as a UUID. */
export function benchSessionId(userId: string): string {
  const h = createHash("md5").update(`mking-bench-session:${userId}`).digest("hex");
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/** Gives every active user a live session `benchSessionId(user)` (idempotent). */
export async function ensureBenchSessions(ownerUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    // the same md5 as benchSessionId; token_hash is unique, so re-runs refresh the row
    await client.query(
      `insert into app_private.refresh_tokens (user_id, family_id, token_hash, expires_at)
       select id, md5('mking-bench-session:' || id)::uuid, 'bench-session:' || id, now() + interval '30 days'
         from app_public.users where status = 'active'
       on conflict (token_hash) do update set expires_at = excluded.expires_at, revoked_at = null`,
    );
  } finally {
    await client.end();
  }
}

export interface SessionCheckCost {
  iterations: number;
  /** Median per request, microseconds. */
  verifyUs: number;
  verifyAndCheckUs: number;
  /** What the session check adds per request. */
  addedUs: number;
  /** The cheapest scenario of the run and its p50 (ms), the yardstick. */
  cheapestCase: string;
  cheapestP50Ms: number;
  /** addedUs as a share of that p50, in percent (the budget: 3). */
  addedPercent: number;
}

/** Measures the per-request cost of the session check; `cheapest` is the run's cheapest p50. */
export async function measureSessionCheck(
  tokens: TokenService,
  cheapest: { caseId: string; p50Ms: number },
  batches = 41,
  perBatch = 2000,
): Promise<SessionCheckCost> {
  const userId = "00000000-0000-4000-8000-000000000001";
  const sessionId = benchSessionId(userId);
  const registry = new SessionRegistry({
    source: { liveSessions: async (ids) => new Map(ids.map((id) => [id, userId])) },
    endedRetentionMs: 60_000,
  });
  await registry.resynchronise();
  const token = tokens.sign(userId, sessionId).token;
  await registry.check(tokens.verify(token)); // known from now on, as in steady state

  let sink = 0;
  const verifyOnly = (): number => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < perBatch; i += 1) sink += tokens.verify(token).expiresAt.getTime() & 1;
    return Number(process.hrtime.bigint() - start) / 1000 / perBatch;
  };
  const verifyAndCheck = (): number => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < perBatch; i += 1) {
      const state = registry.check(tokens.verify(token));
      if (state !== "live") throw new Error("the bench session is not live");
      sink += 1;
    }
    return Number(process.hrtime.bigint() - start) / 1000 / perBatch;
  };
  verifyOnly(); // warm up
  verifyAndCheck();
  const a: number[] = [];
  const b: number[] = [];
  for (let i = 0; i < batches; i += 1) {
    a.push(verifyOnly());
    b.push(verifyAndCheck());
  }
  if (sink < 0) throw new Error("unreachable");
  const verifyUs = median(a);
  const verifyAndCheckUs = median(b);
  const addedUs = Math.max(0, verifyAndCheckUs - verifyUs);
  return {
    iterations: batches * perBatch,
    verifyUs: round(verifyUs, 2),
    verifyAndCheckUs: round(verifyAndCheckUs, 2),
    addedUs: round(addedUs, 3),
    cheapestCase: cheapest.caseId,
    cheapestP50Ms: cheapest.p50Ms,
    addedPercent: round((addedUs / (cheapest.p50Ms * 1000)) * 100, 3),
  };
}
