/**
 * The two shapes `npm run bench:partitioning` compares, both copied from the migrated
 * `app_public` table (columns, defaults, CHECK constraints, storage, and every index it has):
 *
 * - `plain`: the table as the schema has it;
 * - `monthly`: the same, range-partitioned by month on `created_at`. PostgreSQL requires every
 *   primary key and unique constraint of a partitioned table to include the partition key, so
 *   each gets `created_at` appended: that, and what it does to the design's keys, is recorded
 *   (`keyChanges`).
 *
 * Indexes are built after the data is loaded, on both shapes alike.
 */
import type pg from "pg";

export type ShapeName = "plain" | "monthly";
export const SHAPES: readonly ShapeName[] = ["plain", "monthly"];

export interface IndexDef {
  name: string;
  definition: string;
  unique: boolean;
}

export interface KeyFacts {
  /** Primary key and unique constraints: name and columns. */
  uniques: { name: string; primary: boolean; columns: string[] }[];
  /** Foreign keys elsewhere that reference this table. */
  referencedBy: { name: string; table: string; columns: string[]; refColumns: string[] }[];
  createdAtNullable: boolean;
}

/** What partitioning by created_at does to the table's keys (empty: nothing). */
export function keyChanges(table: string, facts: KeyFacts): string[] {
  const changes: string[] = [];
  if (facts.createdAtNullable)
    changes.push(
      `${table}.created_at is not declared NOT NULL: as part of the primary key it becomes NOT NULL`,
    );
  for (const u of facts.uniques) {
    if (u.columns.includes("created_at")) continue;
    const kind = u.primary ? "primary key" : "unique constraint";
    const meaning = u.primary
      ? `(${u.columns.join(", ")}) alone is no longer unique by constraint, and nothing can reference it`
      : `the same (${u.columns.join(", ")}) may then exist once per month: the rule it enforces is lost`;
    changes.push(
      `${kind} ${u.name} (${u.columns.join(", ")}) becomes (${[...u.columns, "created_at"].join(", ")}): ${meaning}`,
    );
  }
  for (const fk of facts.referencedBy) {
    changes.push(
      `foreign key ${fk.name} (${fk.table}.${fk.columns.join(", ")} → ${table}.${fk.refColumns.join(", ")}) needs a unique key on (${fk.refColumns.join(", ")}) that a partitioned ${table} cannot have: it must carry created_at too, or be dropped`,
    );
  }
  return changes;
}

export async function keyFacts(client: pg.ClientBase, table: string): Promise<KeyFacts> {
  const rel = `app_public.${table}`;
  const uniques = await client.query<{ name: string; primary: boolean; columns: string[] }>(
    `select conname as name, contype = 'p' as primary,
            array(select attname::text from unnest(conkey) with ordinality k(n, o)
                    join pg_attribute a on a.attrelid = conrelid and a.attnum = k.n order by o) as columns
       from pg_constraint where conrelid = $1::regclass and contype in ('p', 'u') order by conname`,
    [rel],
  );
  const refs = await client.query<{
    name: string;
    table: string;
    columns: string[];
    refColumns: string[];
  }>(
    `select conname as name, conrelid::regclass::text as table,
            array(select attname::text from unnest(conkey) with ordinality k(n, o)
                    join pg_attribute a on a.attrelid = conrelid and a.attnum = k.n order by o) as columns,
            array(select attname::text from unnest(confkey) with ordinality k(n, o)
                    join pg_attribute a on a.attrelid = confrelid and a.attnum = k.n order by o) as "refColumns"
       from pg_constraint where confrelid = $1::regclass and contype = 'f' order by conname`,
    [rel],
  );
  const nullable = await client.query<{ nullable: boolean }>(
    `select not attnotnull as nullable from pg_attribute where attrelid = $1::regclass and attname = 'created_at'`,
    [rel],
  );
  return {
    uniques: uniques.rows,
    referencedBy: refs.rows,
    createdAtNullable: nullable.rows[0]?.nullable ?? true,
  };
}

export async function indexDefs(client: pg.ClientBase, table: string): Promise<IndexDef[]> {
  const { rows } = await client.query<IndexDef>(
    `select c.relname as name, pg_get_indexdef(i.indexrelid) as definition, i.indisunique as unique
       from pg_index i join pg_class c on c.oid = i.indexrelid
      where i.indrelid = $1::regclass order by c.relname`,
    [`app_public.${table}`],
  );
  return rows;
}

const schemaOf = (shape: ShapeName): string => `part_${shape}`;
export const qualified = (shape: ShapeName, table: string): string => `${schemaOf(shape)}.${table}`;

/** Months covered: from 13 months ago to 2 months ahead (the data spans the last year). */
export async function createShape(
  client: pg.ClientBase,
  shape: ShapeName,
  table: string,
  facts: KeyFacts,
): Promise<void> {
  const schema = schemaOf(shape);
  const t = qualified(shape, table);
  await client.query(`drop schema if exists ${schema} cascade`);
  await client.query(`create schema ${schema}`);
  const like = `like app_public.${table} including defaults including constraints including generated including storage`;
  if (shape === "plain") {
    await client.query(`create table ${t} (${like})`);
    return;
  }
  await client.query(`create table ${t} (${like}) partition by range (created_at)`);
  if (facts.createdAtNullable) await client.query(`alter table ${t} alter created_at set not null`);
  await client.query(
    `do $$
     declare m timestamptz;
     begin
       for m in select generate_series(date_trunc('month', now() - interval '13 months'),
                                       date_trunc('month', now() + interval '2 months'), interval '1 month')
       loop
         execute format('create table %s partition of %s for values from (%L) to (%L)',
                        '${t}_p' || to_char(m, 'YYYYMM'), '${t}', m, m + interval '1 month');
       end loop;
     end $$`,
  );
}

/** The index's definition on the shape: unique ones get created_at on a partitioned table. */
export function indexOn(shape: ShapeName, table: string, index: IndexDef): string {
  let sql = index.definition.replace(` ON app_public.${table} `, ` ON ${qualified(shape, table)} `);
  if (shape === "monthly" && index.unique && !/\bcreated_at\b/.test(sql)) {
    sql = sql.replace(/USING btree \(([^)]*)\)/, "USING btree ($1, created_at)");
  }
  return sql;
}

export interface Sizes {
  rows: number;
  tableBytes: number;
  indexBytes: Record<string, number>;
  totalIndexBytes: number;
  partitions: number;
}

export async function sizesOf(client: pg.ClientBase, t: string): Promise<Sizes> {
  const table = await client.query<{ bytes: string; partitions: string; rows: string }>(
    `with tree as (select relid, isleaf from pg_partition_tree($1::regclass)
                   union all select $1::regclass, true where not exists (select from pg_partition_tree($1::regclass)))
     select coalesce(sum(pg_table_size(relid)) filter (where isleaf), 0)::text as bytes,
            (count(*) filter (where isleaf))::text as partitions,
            (select count(*) from ${t})::text as rows
       from tree`,
    [t],
  );
  const indexes = await client.query<{ name: string; bytes: string }>(
    `select c.relname as name,
            coalesce((select sum(pg_relation_size(p.relid)) from pg_partition_tree(i.indexrelid) p),
                     pg_relation_size(i.indexrelid))::text as bytes
       from pg_index i join pg_class c on c.oid = i.indexrelid
      where i.indrelid = $1::regclass order by c.relname`,
    [t],
  );
  const indexBytes = Object.fromEntries(indexes.rows.map((r) => [r.name, Number(r.bytes)]));
  const row = table.rows[0]!;
  return {
    rows: Number(row.rows),
    tableBytes: Number(row.bytes),
    indexBytes,
    totalIndexBytes: Object.values(indexBytes).reduce((a, b) => a + b, 0),
    partitions: Number(row.partitions),
  };
}
