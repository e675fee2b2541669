/**
 * The measurements of `npm run bench:partitioning` on one table in its two shapes: read and
 * insert latency (alternating the shapes round by round, on a noisy machine only the comparison
 * means anything), buffers touched per read (EXPLAIN, noise-free), and retention by deleting rows
 * against dropping partitions (time, WAL written, space left).
 */
import type pg from "pg";

import { qualified, sizesOf, SHAPES, type ShapeName, type Sizes } from "./shapes.ts";
import { sqlFor, type TableSpec } from "./tables.ts";

export interface Spread {
  median: number;
  p95: number;
  samples: number;
}

const round = (n: number, digits = 3): number => Number(n.toFixed(digits));

export function spread(values: number[]): Spread {
  const sorted = [...values].sort((a, b) => a - b);
  const at = (p: number): number =>
    sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))] ?? NaN;
  return { median: round(at(0.5)), p95: round(at(0.95)), samples: sorted.length };
}

async function timed(fn: () => Promise<unknown>): Promise<number> {
  const started = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - started) / 1e6;
}

export type PerShape<T> = Record<ShapeName, T>;

export interface ReadFigures {
  /** Milliseconds per query, client round trip included. */
  ms: PerShape<Spread>;
  /** Shared buffers touched (hit + read) per query, median over the sampled keys (EXPLAIN). */
  buffers: PerShape<number>;
}

async function buffersOf(client: pg.ClientBase, sql: string, params: string[]): Promise<number> {
  const { rows } = await client.query<{ "QUERY PLAN": [{ Plan: Record<string, number> }] }>(
    `explain (analyze, buffers, format json) ${sql}`,
    params,
  );
  const plan = rows[0]!["QUERY PLAN"][0].Plan;
  return (plan["Shared Hit Blocks"] ?? 0) + (plan["Shared Read Blocks"] ?? 0);
}

/** Every read case: `rounds` rounds, each running `perRound` keys on one shape then the other. */
export async function measureReads(
  client: pg.ClientBase,
  spec: TableSpec,
  scale: number,
  rounds: number,
  perRound: number,
): Promise<Record<string, ReadFigures>> {
  const out: Record<string, ReadFigures> = {};
  for (const read of spec.reads) {
    const keySql = sqlFor(read.keys, qualified("plain", spec.name));
    const { rows } = await client.query<{ array: string[] }>(keySql, [rounds * perRound, scale]);
    const keys = rows.map((r) => r.array);
    const ms: PerShape<number[]> = { plain: [], monthly: [] };
    // warm both shapes' caches once with the same keys
    for (const shape of SHAPES) {
      const sql = sqlFor(read.sql, qualified(shape, spec.name));
      for (const k of keys.slice(0, perRound)) await client.query(sql, k);
    }
    for (let r = 0; r < rounds; r++) {
      const order = r % 2 === 0 ? SHAPES : [...SHAPES].reverse();
      for (const shape of order) {
        const sql = sqlFor(read.sql, qualified(shape, spec.name));
        for (const k of keys.slice(r * perRound, (r + 1) * perRound)) {
          ms[shape].push(await timed(() => client.query(sql, k)));
        }
      }
    }
    const buffers: PerShape<number> = { plain: 0, monthly: 0 };
    for (const shape of SHAPES) {
      const sql = sqlFor(read.sql, qualified(shape, spec.name));
      const counts: number[] = [];
      for (const k of keys.slice(0, 25)) counts.push(await buffersOf(client, sql, k));
      buffers[shape] = spread(counts).median;
    }
    out[read.id] = { ms: { plain: spread(ms.plain), monthly: spread(ms.monthly) }, buffers };
  }
  return out;
}

export interface InsertFigures {
  /** One row per statement (autocommit), ms. */
  single: PerShape<Spread>;
  /** `batchRows` rows per statement, ms per statement. */
  batch: PerShape<Spread>;
  batchRows: number;
}

export async function measureInserts(
  client: pg.ClientBase,
  spec: TableSpec,
  rounds: number,
  perRound: number,
  batchRows: number,
): Promise<InsertFigures> {
  const single: PerShape<number[]> = { plain: [], monthly: [] };
  const batch: PerShape<number[]> = { plain: [], monthly: [] };
  for (let r = 0; r < rounds; r++) {
    const order = r % 2 === 0 ? SHAPES : [...SHAPES].reverse();
    for (const shape of order) {
      const t = qualified(shape, spec.name);
      const one = sqlFor(spec.insertOne, t);
      for (let i = 0; i < perRound; i++) {
        single[shape].push(await timed(() => client.query(one, [String(Math.random())])));
      }
      const many = sqlFor(spec.insertBatch, t);
      for (let i = 0; i < Math.max(1, Math.round(perRound / 20)); i++) {
        batch[shape].push(await timed(() => client.query(many, [batchRows])));
      }
    }
  }
  return {
    single: { plain: spread(single.plain), monthly: spread(single.monthly) },
    batch: { plain: spread(batch.plain), monthly: spread(batch.monthly) },
    batchRows,
  };
}

export interface RetentionFigures {
  /** Rows older than this (a month boundary) are removed. */
  cutoff: string;
  rowsRemoved: PerShape<number>;
  /** Deleting rows (plain) or dropping whole partitions (monthly). */
  seconds: PerShape<number>;
  walBytes: PerShape<number>;
  /** The plain table needs a VACUUM afterwards before the space can be reused. */
  vacuum: { seconds: number; walBytes: number };
  before: PerShape<Sizes>;
  after: PerShape<Sizes>;
  /** Plain, after the VACUUM: the space stays with the table (reused by new rows, not returned). */
  afterVacuum: Sizes;
}

async function walPosition(client: pg.ClientBase): Promise<string> {
  const { rows } = await client.query<{ lsn: string }>(`select pg_current_wal_lsn()::text as lsn`);
  return rows[0]!.lsn;
}

async function walSince(client: pg.ClientBase, from: string): Promise<number> {
  const { rows } = await client.query<{ bytes: string }>(
    `select pg_wal_lsn_diff(pg_current_wal_lsn(), $1::pg_lsn)::text as bytes`,
    [from],
  );
  return Number(rows[0]!.bytes);
}

/** Removes everything older than `retainMonths` whole months, both ways (destructive: last). */
export async function measureRetention(
  client: pg.ClientBase,
  spec: TableSpec,
  retainMonths: number,
): Promise<RetentionFigures> {
  const plain = qualified("plain", spec.name);
  const monthly = qualified("monthly", spec.name);
  const { rows } = await client.query<{ cutoff: string }>(
    `select (date_trunc('month', now()) - make_interval(months => $1::int))::text as cutoff`,
    [retainMonths],
  );
  const cutoff = rows[0]!.cutoff;
  const before = { plain: await sizesOf(client, plain), monthly: await sizesOf(client, monthly) };

  await client.query("checkpoint");
  let lsn = await walPosition(client);
  let started = Date.now();
  const deleted = await client.query(`delete from ${plain} where created_at < $1::timestamptz`, [
    cutoff,
  ]);
  const plainSeconds = (Date.now() - started) / 1000;
  const plainWal = await walSince(client, lsn);

  const afterDelete = await sizesOf(client, plain);
  lsn = await walPosition(client);
  started = Date.now();
  await client.query(`vacuum ${plain}`);
  const vacuum = { seconds: (Date.now() - started) / 1000, walBytes: await walSince(client, lsn) };
  const afterVacuum = await sizesOf(client, plain);

  const old = await client.query<{ name: string }>(
    `select c.oid::regclass::text as name
       from pg_inherits i join pg_class c on c.oid = i.inhrelid
      where i.inhparent = $1::regclass
        and (regexp_match(pg_get_expr(c.relpartbound, c.oid), 'TO \\(''([^'']+)''\\)'))[1]::timestamptz <= $2::timestamptz`,
    [monthly, cutoff],
  );
  const counted = await client.query<{ n: string }>(
    `select count(*)::text as n from ${monthly} where created_at < $1::timestamptz`,
    [cutoff],
  );
  await client.query("checkpoint");
  lsn = await walPosition(client);
  started = Date.now();
  await client.query("begin");
  for (const p of old.rows) await client.query(`drop table ${p.name}`);
  await client.query("commit");
  const monthlySeconds = (Date.now() - started) / 1000;
  const monthlyWal = await walSince(client, lsn);
  const afterDrop = await sizesOf(client, monthly);

  return {
    cutoff,
    rowsRemoved: { plain: deleted.rowCount ?? 0, monthly: Number(counted.rows[0]!.n) },
    seconds: { plain: round(plainSeconds), monthly: round(monthlySeconds) },
    walBytes: { plain: plainWal, monthly: monthlyWal },
    vacuum: { seconds: round(vacuum.seconds), walBytes: vacuum.walBytes },
    before,
    after: { plain: afterDelete, monthly: afterDrop },
    afterVacuum,
  };
}
