/**
 * What each read scenario costs the database: the SQL our server ran for it, with
 * PostgreSQL's EXPLAIN (ANALYZE, BUFFERS) of each statement (from an API instance started in
 * development mode with GRAPHQL_EXPLAIN and @dataplan/pg's explain debug channel on, which put
 * both in the response's `extensions.explain`), and the same for the raw baseline's SQL.
 *
 * N+1 check: each query is also run with every `first: N` cut to a quarter; the number of SQL
 * statements must not change with the page size.
 */
import type { Fixture, Scenario } from "../scenarios.ts";

interface ExplainOperation {
  type: string;
  query?: string;
  explain?: string;
}

export interface ScenarioExplain {
  scenario: string;
  statements: number;
  /** Statements when every page size is a quarter: equal to `statements` means no N+1. */
  statementsSmallPages: number;
  graphqlSql: { sql: string; plan: string }[];
  rawPlans: string[];
}

async function post(url: string, token: string, body: unknown): Promise<unknown> {
  const res = await fetch(url, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify(body),
  });
  return res.json();
}

async function sqlOperations(
  apiUrl: string,
  f: Fixture,
  query: string,
  variables: Record<string, unknown>,
): Promise<ExplainOperation[]> {
  const body = (await post(`${apiUrl}/graphql`, f.token, { query, variables })) as {
    errors?: unknown[];
    extensions?: { explain?: { operations?: ExplainOperation[] } };
  };
  if (body.errors) throw new Error(`explain run failed: ${JSON.stringify(body.errors)}`);
  return (body.extensions?.explain?.operations ?? []).filter((o) => o.type === "sql");
}

export async function explainScenario(
  explainApiUrl: string,
  rawUrl: string,
  scenario: Scenario,
  f: Fixture,
): Promise<ScenarioExplain> {
  const variables = scenario.graphql.variables(f);
  // once to warm the caches for this fixture (as the load runs are), then measured
  await sqlOperations(explainApiUrl, f, scenario.graphql.query, variables);
  const ops = await sqlOperations(explainApiUrl, f, scenario.graphql.query, variables);
  const smaller = scenario.graphql.query.replace(
    /first: (\d+)/g,
    (_m, n: string) => `first: ${Math.max(1, Math.floor(Number(n) / 4))}`,
  );
  const smallOps = await sqlOperations(explainApiUrl, f, smaller, variables);
  const rawBody = { params: scenario.raw.params(f) };
  await post(`${rawUrl}/${scenario.name}?explain`, f.token, rawBody);
  const raw = (await post(`${rawUrl}/${scenario.name}?explain`, f.token, rawBody)) as {
    explain?: string[];
  };
  return {
    scenario: scenario.name,
    statements: ops.length,
    statementsSmallPages: smallOps.length,
    graphqlSql: ops.map((o) => ({ sql: o.query ?? "", plan: o.explain ?? "" })),
    rawPlans: raw.explain ?? [],
  };
}

/** A plan's total execution time, from its "Execution Time: x ms" line. */
export function executionMs(plan: string): number | null {
  const m = /Execution Time: ([\d.]+) ms/.exec(plan);
  return m ? Number(m[1]) : null;
}
