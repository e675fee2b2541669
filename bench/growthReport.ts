/**
 * The growth table: every read case's latency and SQL time at each scale, and how much the SQL
 * time grew from the smallest scale to the largest (flagged above GROWTH_LIMIT: the keyset and
 * index design should keep reads flat as the data grows). Written as
 * bench/results/growth-<date>.json, a Markdown block (growth-<date>.md) to paste into
 * BENCHMARKS.md, and the plans of each scale in growth-<date>/s<scale>/.
 */
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";

import { medianSqlMs } from "./harness/explain.ts";
import { writePlans } from "./report.ts";
import type { BenchResult } from "./run.ts";

/** SQL(largest scale) / SQL(smallest) above this is flagged. */
export const GROWTH_LIMIT = 1.5;

export interface GrowthScale {
  scale: number;
  database: string;
  /** Whether this run seeded the data set (false: reused). */
  seeded: boolean;
  /** Seconds seeding took, in this run or when the reused data set was made (null: unknown). */
  seedSeconds: number | null;
  databaseBytes: number;
  result: BenchResult;
}

export interface GrowthCell {
  rps: number;
  p50: number;
  p95: number;
  /** Median GraphQL SQL execution time over the explained fixtures. */
  sqlMs: number;
  rawSqlMs: number;
  statements: number;
}

export interface GrowthRow {
  id: string;
  /** Keyed by String(scale); null where the case was skipped at that scale. */
  cells: Record<string, GrowthCell | null>;
  /** SQL ms at the largest scale / at the smallest (null: not measured at both). */
  sqlRatio: number | null;
  flagged: boolean;
}

export interface GrowthResult {
  date: string;
  scales: number[];
  connections: number;
  seconds: number;
  runs: number;
  explainSamples: number;
  limit: number;
  /** Wall-clock seconds of the whole run, seeding included. */
  totalSeconds: number;
  machine: BenchResult["machine"] | null;
  perScale: GrowthScale[];
  rows: GrowthRow[];
}

const round2 = (n: number): number => Math.round(n * 100) / 100;

function cellOf(r: BenchResult, id: string, connections: number): GrowthCell | null {
  const c = r.cases.find((x) => x.id === id);
  const m = c?.measurements.find((x) => x.target === "graphql" && x.connections === connections);
  const e = r.explain.find((x) => x.scenario === id);
  if (!c || c.skipped || !m || !e) return null;
  const sql = medianSqlMs(e);
  return {
    rps: m.rps,
    p50: m.p50,
    p95: m.p95,
    sqlMs: sql.graphqlMs,
    rawSqlMs: sql.rawMs,
    statements: e.statements,
  };
}

/** The rows of the table, one per read case seen at any scale, in the run's case order. */
export function growthRows(
  perScale: Pick<GrowthScale, "scale" | "result">[],
  connections: number,
  limit = GROWTH_LIMIT,
): GrowthRow[] {
  const sorted = [...perScale].sort((a, b) => a.scale - b.scale);
  const ids: string[] = [];
  for (const s of sorted) {
    for (const c of s.result.cases) {
      if (c.kind === "read" && !ids.includes(c.id)) ids.push(c.id);
    }
  }
  return ids.map((id) => {
    const cells: Record<string, GrowthCell | null> = {};
    for (const s of sorted) cells[String(s.scale)] = cellOf(s.result, id, connections);
    const first = cells[String(sorted[0]?.scale)];
    const last = cells[String(sorted.at(-1)?.scale)];
    const sqlRatio =
      sorted.length > 1 && first && last && first.sqlMs > 0
        ? round2(last.sqlMs / first.sqlMs)
        : null;
    return { id, cells, sqlRatio, flagged: sqlRatio !== null && sqlRatio > limit };
  });
}

const mb = (bytes: number): string => `${Math.round(bytes / 2 ** 20).toLocaleString("en")} MB`;

/** The Markdown block for BENCHMARKS.md. */
export function growthMarkdown(g: GrowthResult): string {
  const scales = [...g.scales].sort((a, b) => a - b);
  const lo = scales[0];
  const hi = scales.at(-1);
  const lines: string[] = [];
  lines.push(
    `Growth run of ${g.date.slice(0, 16).replace("T", " ")} UTC: read scenarios on our API at ` +
      `c=${g.connections}, ${g.runs} run(s) of ${g.seconds} s per figure; SQL ms is the execution ` +
      `time of the request's plans (EXPLAIN ANALYZE), the median over ${g.explainSamples} warm ` +
      `requests with different fixtures. Whole run: ${Math.round(g.totalSeconds / 60)} min.`,
  );
  if (g.machine) {
    lines.push("");
    lines.push(
      `Machine: ${g.machine.cpus} × ${g.machine.cpuModel}, ${g.machine.memoryGiB} GiB, ` +
        `Node ${g.machine.node}, ${g.machine.postgres}.`,
    );
  }
  lines.push("");
  lines.push("| scale | users | posts | likes | messages | database | seeded in |");
  lines.push("| ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
  for (const s of [...g.perScale].sort((a, b) => a.scale - b.scale)) {
    const n = (t: string): string => (s.result.rows[t] ?? 0).toLocaleString("en");
    lines.push(
      `| ${s.scale} | ${n("users")} | ${n("posts")} | ${n("likes")} | ${n("messages")} | ` +
        `${mb(s.databaseBytes)} | ${s.seedSeconds === null ? "–" : `${Math.round(s.seedSeconds)} s`}${s.seeded ? "" : " (reused)"} |`,
    );
  }
  lines.push("");
  lines.push(
    `**Latency and SQL time by scale**: p50 / p95 ms (SQL ms); the last column is SQL at scale ` +
      `${hi} over SQL at scale ${lo}, ⚠ above ${g.limit}×`,
  );
  lines.push("");
  lines.push(`| scenario | ${scales.map((s) => `scale ${s}`).join(" | ")} | SQL ${hi} / ${lo} |`);
  lines.push(`| --- | ${scales.map(() => "---:").join(" | ")} | ---: |`);
  for (const row of g.rows) {
    const cells = scales.map((s) => {
      const c = row.cells[String(s)];
      return c ? `${c.p50} / ${c.p95} (${c.sqlMs})` : "–";
    });
    const ratio =
      row.sqlRatio === null ? "–" : row.flagged ? `**${row.sqlRatio}× ⚠**` : `${row.sqlRatio}×`;
    lines.push(`| ${row.id} | ${cells.join(" | ")} | ${ratio} |`);
  }
  const flagged = g.rows.filter((r) => r.flagged);
  lines.push("");
  lines.push(
    flagged.length === 0
      ? `No read scenario's SQL time grows more than ${g.limit}× from scale ${lo} to ${hi}.`
      : `Growing more than ${g.limit}× from scale ${lo} to ${hi}: ${flagged.map((r) => r.id).join(", ")} ` +
          `(plans per scale in bench/results/growth-<date>/).`,
  );
  return lines.join("\n");
}

export interface GrowthWritten {
  json: string;
  markdown: string;
  plans: string;
  text: string;
}

/** Writes growth-<date>.json, growth-<date>.md and the plans of each scale. */
export async function writeGrowthReport(
  g: GrowthResult,
  resultsDir: string,
): Promise<GrowthWritten> {
  const stamp = `growth-${g.date.replace(/[:.]/g, "-")}`;
  await mkdir(resultsDir, { recursive: true });
  const json = path.join(resultsDir, `${stamp}.json`);
  await writeFile(json, JSON.stringify(g, null, 2) + "\n");
  const text = growthMarkdown(g);
  const markdown = path.join(resultsDir, `${stamp}.md`);
  await writeFile(markdown, text + "\n");
  const plans = path.join(resultsDir, stamp);
  for (const s of g.perScale) {
    await writePlans(s.result.explain, path.join(plans, `s${String(s.scale).replace(".", "_")}`));
  }
  return { json, markdown, plans, text };
}
