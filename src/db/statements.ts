/**
 * The SQL statements that cost the most time (pg_stat_statements), for `npm run db:top`
 * (src/db/top.ts) and the metrics server's /debug/statements.
 *
 * pg_stat_statements is loaded by the server (shared_preload_libraries: the embedded server
 * and docker-compose do it) and created as an extension in the database by a superuser: the
 * embedded set-up does it (ensureStatementsExtension); with DATABASE_URL an administrator does
 * (README, "Observability").
 */
import pg from "pg";

export interface StatementStats {
  queryid: string;
  query: string;
  calls: number;
  totalMs: number;
  meanMs: number;
  /**
   * pg_stat_statements keeps no percentiles: an estimate from mean and standard deviation
   * (mean + 1.645 σ, as if times were normally distributed), capped at the slowest call.
   */
  p95EstimateMs: number;
  maxMs: number;
  rows: number;
  /** Share of the time of all statements recorded (0..1). */
  share: number;
}

/** Creates the extension where it is missing (superuser connection to the app's database). */
export async function ensureStatementsExtension(superuserUrl: string): Promise<void> {
  const client = new pg.Client({ connectionString: superuserUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ loaded: boolean }>(
      `select 'pg_stat_statements' = any(string_to_array(current_setting('shared_preload_libraries'), ',')) as loaded`,
    );
    if (rows[0]?.loaded) await client.query("create extension if not exists pg_stat_statements");
  } finally {
    await client.end();
  }
}

/**
 * Creates the extension on this connection if it is missing, loaded, and the role may (a
 * superuser: e.g. docker-compose's owner). Returns whether it is there now.
 */
export async function createStatementsExtensionIfAllowed(client: pg.ClientBase): Promise<boolean> {
  if (await statementsAvailable(client)) return true;
  const { rows } = await client.query<{ may: boolean }>(
    `select r.rolsuper
            and 'pg_stat_statements' = any(string_to_array(current_setting('shared_preload_libraries'), ','))
              as may
       from pg_roles r where r.rolname = current_user`,
  );
  if (!rows[0]?.may) return false;
  await client.query("create extension if not exists pg_stat_statements");
  return true;
}

/** Whether pg_stat_statements can be read in this database. */
export async function statementsAvailable(client: pg.ClientBase): Promise<boolean> {
  const { rows } = await client.query<{ ok: boolean }>(
    `select exists (select 1 from pg_extension where extname = 'pg_stat_statements') as ok`,
  );
  return rows[0]?.ok === true;
}

/** The `limit` statements with the most total execution time, in this database. */
export async function topStatements(client: pg.ClientBase, limit = 10): Promise<StatementStats[]> {
  const { rows } = await client.query<{
    queryid: string;
    query: string;
    calls: string;
    total_ms: number;
    mean_ms: number;
    stddev_ms: number;
    max_ms: number;
    rows: string;
    share: number | null;
  }>(
    `with s as (
       select s.queryid, s.query, s.calls, s.total_exec_time, s.mean_exec_time,
              s.stddev_exec_time, s.max_exec_time, s.rows
         from pg_stat_statements s
        where s.dbid = (select oid from pg_database where datname = current_database())
     )
     select queryid::text, query, calls::text, total_exec_time as total_ms,
            mean_exec_time as mean_ms, stddev_exec_time as stddev_ms, max_exec_time as max_ms,
            rows::text,
            total_exec_time / nullif(sum(total_exec_time) over (), 0) as share
       from s
      order by total_exec_time desc
      limit $1`,
    [limit],
  );
  return rows.map((r) => ({
    queryid: r.queryid,
    query: r.query,
    calls: Number(r.calls),
    totalMs: r.total_ms,
    meanMs: r.mean_ms,
    p95EstimateMs: Math.min(r.mean_ms + 1.645 * r.stddev_ms, r.max_ms),
    maxMs: r.max_ms,
    rows: Number(r.rows),
    share: r.share ?? 0,
  }));
}

const pad = (text: string, width: number, right = false): string =>
  right ? text.padStart(width) : text.padEnd(width);

/** A terminal table of the statements (query text on one line, truncated to `queryWidth`). */
export function formatStatements(statements: readonly StatementStats[], queryWidth = 70): string {
  const header = ["calls", "mean ms", "p95 ms*", "max ms", "rows", "share", "query"];
  const lines = statements.map((s) => [
    String(s.calls),
    s.meanMs.toFixed(2),
    s.p95EstimateMs.toFixed(2),
    s.maxMs.toFixed(2),
    String(s.rows),
    `${(s.share * 100).toFixed(1)}%`,
    (() => {
      const q = s.query.replace(/\s+/g, " ").trim();
      return q.length > queryWidth ? q.slice(0, queryWidth - 1) + "…" : q;
    })(),
  ]);
  const widths = header.map((h, i) => Math.max(h.length, ...lines.map((l) => l[i]!.length)));
  const row = (cells: string[]): string =>
    cells
      .map((c, i) => pad(c, widths[i]!, i < cells.length - 1))
      .join("  ")
      .trimEnd();
  return [
    row(header),
    widths.map((w) => "-".repeat(w)).join("  "),
    ...lines.map(row),
    "",
    "* pg_stat_statements keeps no percentiles: p95 is estimated as mean + 1.645 × stddev, capped at max.",
  ].join("\n");
}
