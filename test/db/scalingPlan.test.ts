/**
 * docs/scaling-plan.json (the distributed-PostgreSQL plan of docs/SCALING.md, "Distributed
 * PostgreSQL (Citus)") against the migrated schema, so the plan cannot silently rot: a new table,
 * key, foreign key, trigger or policy fails here until the plan says what happens to it.
 *
 * The rules are Citus's: a distributed table's primary key and unique constraints must include
 * its distribution column; a foreign key between distributed tables must be co-located and join
 * on the distribution column; distributed and local tables may reference reference tables, but
 * nothing may reference a distributed table except a co-located distributed table.
 */
import { readFileSync } from "node:fs";
import path from "node:path";

import { PROJECT_ROOT } from "../../src/paths.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";

const PLAN_FILE = "docs/scaling-plan.json";

type Placement = "distributed" | "reference" | "local";
interface TablePlan {
  placement: Placement;
  column?: string;
  colocation?: string;
  /** The distribution column does not exist yet: the plan adds it (say why). */
  addColumn?: string;
  why: string;
  /** What happens to the table's row-level security policies. */
  policies?: string;
}
interface Plan {
  schemas: string[];
  tables: Record<string, TablePlan>;
  /** `<schema>.<table>.<constraint or unique index>` → what must change and why. */
  mustChange: Record<string, string>;
  /** Trigger name → what happens to it on a distributed or reference table. */
  triggers: Record<string, string>;
}

const plan = JSON.parse(readFileSync(path.join(PROJECT_ROOT, PLAN_FILE), "utf8")) as Plan;

interface Key {
  table: string;
  name: string;
  /** Plain columns; null entries for expressions. */
  columns: (string | null)[];
  partial: boolean;
}
interface ForeignKey {
  table: string;
  name: string;
  columns: string[];
  refTable: string;
  refColumns: string[];
}
interface Schema {
  tables: string[];
  /** `<schema>.<table>.<column>` → its type. */
  columns: Map<string, string>;
  keys: Key[];
  foreignKeys: ForeignKey[];
  triggers: { table: string; name: string }[];
  policies: { table: string; name: string }[];
}

let db: TestDatabase;
let schema: Schema;

beforeAll(async () => {
  db = await createTestDatabase();
  schema = await withClient(db.ownerUrl, async (c) => {
    const rel = `c.relnamespace = any (array(select oid from pg_namespace where nspname = any ($1)))`;
    const tables = await c.query<{ name: string }>(
      `select c.oid::regclass::text as name from pg_class c where c.relkind in ('r', 'p') and not c.relispartition and ${rel} order by 1`,
      [plan.schemas],
    );
    const columns = await c.query<{ name: string; type: string }>(
      `select c.oid::regclass::text || '.' || a.attname as name, format_type(a.atttypid, a.atttypmod) as type
         from pg_attribute a join pg_class c on c.oid = a.attrelid
        where c.relkind in ('r', 'p') and a.attnum > 0 and not a.attisdropped and ${rel}`,
      [plan.schemas],
    );
    // every unique index: those behind primary key / unique constraints carry the constraint's name
    const keys = await c.query<Key>(
      `select c.oid::regclass::text as table, coalesce(con.conname, ic.relname) as name,
              array(select a.attname::text from unnest(i.indkey::int2[]) with ordinality k(n, o)
                      left join pg_attribute a on a.attrelid = i.indrelid and a.attnum = k.n
                     where o <= i.indnkeyatts order by o) as columns,
              i.indpred is not null as partial
         from pg_index i join pg_class c on c.oid = i.indrelid join pg_class ic on ic.oid = i.indexrelid
         left join pg_constraint con on con.conindid = i.indexrelid and con.contype in ('p', 'u', 'x')
        where i.indisunique and ${rel} order by 1, 2`,
      [plan.schemas],
    );
    const foreignKeys = await c.query<ForeignKey>(
      `select con.conrelid::regclass::text as table, con.conname as name,
              array(select a.attname::text from unnest(con.conkey) with ordinality k(n, o)
                      join pg_attribute a on a.attrelid = con.conrelid and a.attnum = k.n order by o) as columns,
              con.confrelid::regclass::text as "refTable",
              array(select a.attname::text from unnest(con.confkey) with ordinality k(n, o)
                      join pg_attribute a on a.attrelid = con.confrelid and a.attnum = k.n order by o) as "refColumns"
         from pg_constraint con join pg_class c on c.oid = con.conrelid
        where con.contype = 'f' and ${rel} order by 1, 2`,
      [plan.schemas],
    );
    const triggers = await c.query<{ table: string; name: string }>(
      `select c.oid::regclass::text as table, t.tgname as name
         from pg_trigger t join pg_class c on c.oid = t.tgrelid
        where not t.tgisinternal and ${rel} order by 1, 2`,
      [plan.schemas],
    );
    const policies = await c.query<{ table: string; name: string }>(
      `select c.oid::regclass::text as table, p.polname as name
         from pg_policy p join pg_class c on c.oid = p.polrelid where ${rel} order by 1, 2`,
      [plan.schemas],
    );
    return {
      tables: tables.rows.map((r) => r.name),
      columns: new Map(columns.rows.map((r) => [r.name, r.type])),
      keys: keys.rows,
      foreignKeys: foreignKeys.rows,
      triggers: triggers.rows,
      policies: policies.rows,
    };
  });
});
afterAll(() => db.drop());

const where = `Update ${PLAN_FILE} (and the "Distributed PostgreSQL (Citus)" section of docs/SCALING.md)`;
const planOf = (table: string): TablePlan | undefined => plan.tables[table];

test("every table of the planned schemas is in the plan, and the plan names no table that is gone", () => {
  const missing = schema.tables.filter((t) => !planOf(t));
  const stale = Object.keys(plan.tables).filter((t) => !schema.tables.includes(t));
  expect({
    [`${where}: add these tables to "tables" (placement distributed with its column and colocation, reference, or local, and why)`]:
      missing,
    [`${where}: remove these tables from "tables", they no longer exist`]: stale,
  }).toEqual({
    [`${where}: add these tables to "tables" (placement distributed with its column and colocation, reference, or local, and why)`]:
      [],
    [`${where}: remove these tables from "tables", they no longer exist`]: [],
  });
});

test("every distributed table names an existing distribution column (or says which it adds) and a colocation group", () => {
  const problems: string[] = [];
  for (const [table, p] of Object.entries(plan.tables)) {
    if (!p.why) problems.push(`${table}: say why ("why")`);
    if (p.placement !== "distributed") continue;
    if (!p.column || !p.colocation) problems.push(`${table}: needs "column" and "colocation"`);
    else if (!schema.columns.has(`${table}.${p.column}`) && !p.addColumn)
      problems.push(
        `${table}: distribution column ${p.column} does not exist: fix "column" or explain in "addColumn" how it is added`,
      );
    else if (schema.columns.has(`${table}.${p.column}`) && p.addColumn)
      problems.push(`${table}: ${p.column} exists now: remove "addColumn"`);
  }
  expect(problems).toEqual([]);
});

test("every primary key and unique constraint of a distributed table includes its distribution column, or is listed under mustChange", () => {
  const problems: string[] = [];
  for (const key of schema.keys) {
    const p = planOf(key.table);
    if (!p || p.placement !== "distributed") continue;
    const id = `${key.table}.${key.name}`;
    const ok = !p.addColumn && key.columns.includes(p.column ?? "");
    if (!ok && !plan.mustChange[id])
      problems.push(
        `${where}: "mustChange" needs "${id}" (unique on (${key.columns.map((c) => c ?? "<expression>").join(", ")}) does not include the distribution column ${p.column}): say what replaces it`,
      );
    if (ok && plan.mustChange[id])
      problems.push(`${where}: "${id}" includes ${p.column} now: remove it from "mustChange"`);
  }
  expect(problems).toEqual([]);
});

/** Why a foreign key cannot stay as it is under Citus, or null when it can. */
function foreignKeyProblem(fk: ForeignKey): string | null {
  const from = planOf(fk.table);
  const to = planOf(fk.refTable);
  if (!from || !to) return null; // reported by the first test
  if (to.placement === "reference")
    return from.placement === "reference" ||
      from.placement === "distributed" ||
      from.placement === "local"
      ? null
      : "unknown placement";
  if (to.placement === "local")
    return from.placement === "local"
      ? null
      : `a ${from.placement} table cannot reference a local table`;
  // to a distributed table
  if (from.placement !== "distributed")
    return `a ${from.placement} table cannot reference the distributed ${fk.refTable}`;
  if (from.colocation !== to.colocation)
    return `${fk.table} (colocation ${from.colocation}) and ${fk.refTable} (colocation ${to.colocation}) are not co-located`;
  if (from.addColumn || to.addColumn) return `the distribution column is not there yet`;
  const at = fk.columns.indexOf(from.column ?? "");
  if (at < 0 || fk.refColumns[at] !== to.column)
    return `it does not join ${fk.table}.${from.column} to ${fk.refTable}.${to.column}`;
  return null;
}

test("every foreign key survives distribution (co-located, on the distribution column, or to a reference table), or is listed under mustChange", () => {
  const problems: string[] = [];
  for (const fk of schema.foreignKeys) {
    const id = `${fk.table}.${fk.name}`;
    const problem = foreignKeyProblem(fk);
    if (problem && !plan.mustChange[id])
      problems.push(
        `${where}: "mustChange" needs "${id}" ((${fk.columns.join(", ")}) → ${fk.refTable} (${fk.refColumns.join(", ")}): ${problem}): say what replaces it`,
      );
    if (!problem && plan.mustChange[id])
      problems.push(`${where}: "${id}" survives distribution now: remove it from "mustChange"`);
  }
  expect(problems).toEqual([]);
});

test("mustChange names only constraints that exist", () => {
  const known = new Set([
    ...schema.keys.map((k) => `${k.table}.${k.name}`),
    ...schema.foreignKeys.map((f) => `${f.table}.${f.name}`),
  ]);
  const stale = Object.keys(plan.mustChange).filter((id) => !known.has(id));
  expect({ [`${where}: remove these from "mustChange", they no longer exist`]: stale }).toEqual({
    [`${where}: remove these from "mustChange", they no longer exist`]: [],
  });
});

test("every trigger of a distributed or reference table says what happens to it, and every policy-bearing one what happens to its policies", () => {
  const problems: string[] = [];
  for (const t of schema.triggers) {
    const p = planOf(t.table);
    if (!p || p.placement === "local") continue;
    if (!plan.triggers[t.name])
      problems.push(
        `${where}: "triggers" needs "${t.name}" (on ${p.placement} ${t.table}): survives as is, or what must change`,
      );
  }
  const used = new Set(schema.triggers.map((t) => t.name));
  for (const name of Object.keys(plan.triggers))
    if (!used.has(name))
      problems.push(`${where}: remove trigger "${name}" from "triggers": it no longer exists`);
  for (const table of new Set(schema.policies.map((p) => p.table))) {
    const p = planOf(table);
    if (p && p.placement !== "local" && !p.policies)
      problems.push(
        `${where}: ${table} has row-level security policies: say in its "policies" what happens to them`,
      );
  }
  expect(problems).toEqual([]);
});

test("reference tables are planned, and the distributed tables of one colocation group share a column type", () => {
  expect(
    Object.values(plan.tables).filter((t) => t.placement === "reference").length,
  ).toBeGreaterThan(0);
  const types = new Map<string, Set<string>>();
  for (const [table, p] of Object.entries(plan.tables)) {
    if (p.placement !== "distributed" || !p.colocation || !p.column) continue;
    const type = schema.columns.get(`${table}.${p.column}`) ?? p.addColumn?.split(":")[0] ?? "?";
    types.set(p.colocation, (types.get(p.colocation) ?? new Set()).add(type));
  }
  const mixed = [...types]
    .filter(([, set]) => set.size > 1)
    .map(([g, set]) => `${g}: ${[...set].join(", ")}`);
  expect({ [`${where}: a colocation group needs one column type`]: mixed }).toEqual({
    [`${where}: a colocation group needs one column type`]: [],
  });
});
