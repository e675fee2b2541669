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
  /**
   * When several fixtures were explained (explainScenarioSamples): each one's SQL time, in the
   * order drawn; the plans above are those of the median GraphQL time.
   */
  samples?: SqlMs[];
}

/** The execution time of a request's plans, summed per side. */
export interface SqlMs {
  graphqlMs: number;
  rawMs: number;
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

const sum = (xs: number[]): number => xs.reduce((a, b) => a + b, 0);
const ms2 = (n: number): number => Math.round(n * 100) / 100;

/** What one explained request cost: the sum of its plans' execution times (ms, 2 decimals). */
export function sqlMs(e: Pick<ScenarioExplain, "graphqlSql" | "rawPlans">): SqlMs {
  return {
    graphqlMs: ms2(sum(e.graphqlSql.map((s) => executionMs(s.plan) ?? 0))),
    rawMs: ms2(sum(e.rawPlans.map((p) => executionMs(p) ?? 0))),
  };
}

/**
 * explainScenario for each fixture in turn (one fixture's cost can be far from typical: a
 * celebrity's profile, a long conversation); keeps the plans of the sample with the median
 * GraphQL SQL time and every sample's times.
 */
export async function explainScenarioSamples(
  explainApiUrl: string,
  rawUrl: string,
  scenario: Scenario,
  fixtures: Fixture[],
): Promise<ScenarioExplain> {
  if (fixtures.length === 0) throw new Error(`no fixture to explain ${scenario.name} with`);
  const runs: ScenarioExplain[] = [];
  for (const f of fixtures) runs.push(await explainScenario(explainApiUrl, rawUrl, scenario, f));
  if (runs.length === 1) return runs[0]!;
  const samples = runs.map(sqlMs);
  const order = runs.map((_, i) => i).sort((a, b) => samples[a]!.graphqlMs - samples[b]!.graphqlMs);
  const median = runs[order[Math.floor((order.length - 1) / 2)]!]!;
  return { ...median, samples };
}

/** The median of the samples' SQL times (or the single request's), per side. */
export function medianSqlMs(e: ScenarioExplain): SqlMs {
  const samples = e.samples ?? [sqlMs(e)];
  const mid = (xs: number[]): number => {
    const s = [...xs].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return ms2(s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2);
  };
  return {
    graphqlMs: mid(samples.map((s) => s.graphqlMs)),
    rawMs: mid(samples.map((s) => s.rawMs)),
  };
}
