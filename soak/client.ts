/**
 * One GraphQL request over HTTP, and what its outcome says about the write it carried:
 *
 * - `ok`: answered without errors: the mutation was acknowledged, it must be in the database;
 * - `refused`: answered with an error (a code): the mutation's transaction was rolled back;
 *   except INTERNAL_SERVER_ERROR, SERVICE_UNAVAILABLE and TIMEOUT, which count as unknown: the
 *   connection to the database may have broken at COMMIT, after the server had committed (the
 *   contract of SERVICE_UNAVAILABLE in docs/error_codes.md: only a re-read tells);
 * - `unsent`: the connection was refused: nothing reached the server, nothing happened;
 * - `unknown`: the connection broke or timed out after sending: it may or may not have happened.
 */
import type { Stats } from "./stats.ts";

export type Outcome =
  | { kind: "ok"; data: Record<string, unknown> }
  | { kind: "refused"; code: string }
  | { kind: "unsent"; code: string }
  | { kind: "unknown"; code: string };

interface GraphQLBody {
  data?: Record<string, unknown> | null;
  errors?: { message?: string; extensions?: { code?: string } }[];
}

/** Codes that do not say whether the write happened. */
const AMBIGUOUS = new Set(["INTERNAL_SERVER_ERROR", "SERVICE_UNAVAILABLE", "TIMEOUT"]);

function causeCode(error: unknown): string {
  const cause = (error as { cause?: { code?: string } }).cause;
  if ((error as { name?: string }).name === "TimeoutError") return "TIMEOUT";
  return cause?.code ?? "NETWORK";
}

export async function graphql(
  url: string,
  token: string | null,
  query: string,
  variables: Record<string, unknown>,
  stats: Stats,
  kind: string,
  timeoutMs = 15_000,
): Promise<Outcome> {
  const started = performance.now();
  let outcome: Outcome;
  try {
    const res = await fetch(`${url}/graphql`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ query, variables }),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await res.text();
    let body: GraphQLBody | null = null;
    try {
      body = JSON.parse(text) as GraphQLBody;
    } catch {
      body = null;
    }
    if (!body) outcome = { kind: "unknown", code: `HTTP_${res.status}` };
    else if (body.errors && body.errors.length > 0) {
      const code = body.errors[0]?.extensions?.code ?? `HTTP_${res.status}`;
      // the error may have come after the commit (the database connection lost at COMMIT)
      outcome = AMBIGUOUS.has(code) ? { kind: "unknown", code } : { kind: "refused", code };
    } else if (body.data) outcome = { kind: "ok", data: body.data };
    else outcome = { kind: "unknown", code: `HTTP_${res.status}` };
  } catch (error) {
    const code = causeCode(error);
    outcome = code === "ECONNREFUSED" ? { kind: "unsent", code } : { kind: "unknown", code };
  }
  stats.record(kind, outcome, performance.now() - started);
  return outcome;
}
