/**
 * ANALYZE after a migration: new indexes (expression indexes above all) and changed tables get
 * their planner statistics at once instead of whenever autovacuum next looks. Only the tables the
 * connected role owns (ANALYZE refuses, with a warning each, the rest), in one statement.
 */
import type pg from "pg";

/** Analyzes every table and materialised view the current role owns; returns how many. */
export async function analyzeOwnTables(client: pg.ClientBase): Promise<number> {
  const { rows } = await client.query<{ name: string }>(
    `select format('%I.%I', n.nspname, c.relname) as name
       from pg_class c
       join pg_namespace n on n.oid = c.relnamespace
      where c.relkind in ('r', 'p', 'm') and (c.relkind <> 'm' or c.relispopulated)
        and pg_has_role(c.relowner, 'MEMBER')
        and n.nspname not in ('pg_catalog', 'information_schema') and n.nspname !~ '^pg_'
      order by 1`,
  );
  if (rows.length === 0) return 0;
  await client.query(`analyze ${rows.map((r) => r.name).join(", ")}`);
  return rows.length;
}
