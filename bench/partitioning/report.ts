/** The Markdown block of `npm run bench:partitioning` (bench/results/partitioning-<date>.md). */
import type { InsertFigures, ReadFigures, RetentionFigures } from "./measure.ts";
import type { Sizes } from "./shapes.ts";

export interface TableResult {
  scale: number;
  table: string;
  rows: number;
  loadSeconds: { generate: number; copyToMonthly: number };
  indexBuildSeconds: { plain: number; monthly: number };
  sizes: { plain: Sizes; monthly: Sizes };
  reads: Record<string, ReadFigures>;
  inserts: InsertFigures;
  retention: RetentionFigures;
  keyChanges: string[];
}

export interface PartitioningRun {
  startedAt: string;
  machine: string;
  settings: Record<string, number | string>;
  skipped: string[];
  results: TableResult[];
}

const mb = (bytes: number): string => (bytes / 1024 / 1024).toFixed(1);
const ratio = (a: number, b: number): string => (b === 0 ? "–" : `${(a / b).toFixed(2)}×`);

export function markdown(run: PartitioningRun): string {
  const lines: string[] = [];
  lines.push(
    `Run of ${run.startedAt} (${run.machine}); \`npm run bench:partitioning\` with ${Object.entries(
      run.settings,
    )
      .map(([k, v]) => `${k} ${v}`)
      .join(
        ", ",
      )}. Each table is built twice from the migrated schema: **plain** (as it is) and **monthly** (range-partitioned by month on created_at, ${run.results[0]?.sizes.monthly.partitions ?? "?"} partitions), indexes built after the load on both. Latencies alternate the shapes round by round on a shared, noisy machine: compare the two columns, not the absolute numbers; buffers (from EXPLAIN) do not depend on the noise.`,
  );
  if (run.skipped.length) lines.push("", `Not measured: ${run.skipped.join("; ")}.`);
  lines.push(
    "",
    "**Sizes** (MB; the plain table's heap and all its indexes vs the same summed over partitions)",
    "",
  );
  lines.push(
    "| scale | table | rows | heap plain / monthly | indexes plain / monthly | largest index plain / monthly |",
  );
  lines.push("| --- | --- | --- | --- | --- | --- |");
  for (const r of run.results) {
    const biggest = Object.entries(r.sizes.plain.indexBytes).sort((a, b) => b[1] - a[1])[0];
    const name = biggest?.[0] ?? "";
    const monthlyBiggest = r.sizes.monthly.indexBytes[name] ?? 0;
    lines.push(
      `| ${r.scale} | ${r.table} | ${r.rows.toLocaleString("en")} | ${mb(r.sizes.plain.tableBytes)} / ${mb(r.sizes.monthly.tableBytes)} | ${mb(r.sizes.plain.totalIndexBytes)} / ${mb(r.sizes.monthly.totalIndexBytes)} | ${name} ${mb(biggest?.[1] ?? 0)} / ${mb(monthlyBiggest)} |`,
    );
  }
  lines.push(
    "",
    "**Reads** (ms per query, median / p95, client round trip; buffers touched per query, median)",
    "",
  );
  lines.push(
    "| scale | table | read | plain ms | monthly ms | monthly/plain | buffers plain / monthly |",
  );
  lines.push("| --- | --- | --- | --- | --- | --- | --- |");
  for (const r of run.results) {
    for (const [id, f] of Object.entries(r.reads)) {
      lines.push(
        `| ${r.scale} | ${r.table} | ${id} | ${f.ms.plain.median} / ${f.ms.plain.p95} | ${f.ms.monthly.median} / ${f.ms.monthly.p95} | ${ratio(f.ms.monthly.median, f.ms.plain.median)} | ${f.buffers.plain} / ${f.buffers.monthly} |`,
      );
    }
  }
  lines.push("", "**Inserts** (ms per statement, median / p95; synchronous_commit on)", "");
  lines.push(
    "| scale | table | single row plain | single row monthly | batch plain | batch monthly |",
  );
  lines.push("| --- | --- | --- | --- | --- | --- |");
  for (const r of run.results) {
    const i = r.inserts;
    lines.push(
      `| ${r.scale} | ${r.table} | ${i.single.plain.median} / ${i.single.plain.p95} | ${i.single.monthly.median} / ${i.single.monthly.p95} | ${i.batch.plain.median} / ${i.batch.plain.p95} (${i.batchRows} rows) | ${i.batch.monthly.median} / ${i.batch.monthly.p95} |`,
    );
  }
  lines.push(
    "",
    "**Retention**: remove every row older than the cutoff (a month boundary): `delete` on the plain table (then the `vacuum` it needs) vs `drop table` of the whole old partitions",
    "",
  );
  lines.push(
    "| scale | table | rows removed | delete s / WAL MB | vacuum s / WAL MB | drop partitions s / WAL MB | size after (MB, heap + indexes): plain after vacuum / monthly |",
  );
  lines.push("| --- | --- | --- | --- | --- | --- | --- |");
  for (const r of run.results) {
    const x = r.retention;
    const total = (s: Sizes): string => mb(s.tableBytes + s.totalIndexBytes);
    lines.push(
      `| ${r.scale} | ${r.table} | ${x.rowsRemoved.plain.toLocaleString("en")} | ${x.seconds.plain} / ${mb(x.walBytes.plain)} | ${x.vacuum.seconds} / ${mb(x.vacuum.walBytes)} | ${x.seconds.monthly} / ${mb(x.walBytes.monthly)} | ${total(x.afterVacuum)} (was ${total(x.before.plain)}) / ${total(x.after.monthly)} (was ${total(x.before.monthly)}) |`,
    );
  }
  lines.push("", "**What partitioning by created_at does to the design's keys**", "");
  const seen = new Set<string>();
  for (const r of run.results) {
    if (seen.has(r.table)) continue;
    seen.add(r.table);
    for (const c of r.keyChanges) lines.push(`- ${r.table}: ${c}`);
    if (r.keyChanges.length === 0) lines.push(`- ${r.table}: nothing`);
  }
  return lines.join("\n") + "\n";
}
