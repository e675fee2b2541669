/**
 * Writes a benchmark result: the whole object as JSON in bench/results/<date>.json, the SQL and
 * plans per scenario in bench/results/<date>/, and the human table in BENCHMARKS.md (between
 * its markers, so the prose around the table is kept).
 */
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

import { medianSqlMs, type ScenarioExplain } from "./harness/explain.ts";
import { metricsOverheadLines } from "./overheadReport.ts";
import type { BenchResult, CaseResult, Target } from "./run.ts";

const START = "<!-- results:start -->";
const END = "<!-- results:end -->";

const fmt = (n: number | undefined): string => (n === undefined ? "–" : String(n));

function cell(c: CaseResult, target: Target, connections: number): string {
  const failed = c.failures[target];
  if (failed) return `failed: ${failed.slice(0, 60)}`;
  const m = c.measurements.find((x) => x.target === target && x.connections === connections);
  if (!m) return "–";
  if (m.rps === 0) return "none completed";
  return `${m.rps} (${m.p50}/${m.p95}/${m.p99})${m.errors ? ` ⚠ ${m.errors} errors` : ""}`;
}

/** The Markdown tables of one result. */
export function markdown(r: BenchResult): string {
  const conc = r.options.concurrency;
  const hasPg4 = r.machine.postgraphile4 !== null;
  const lines: string[] = [];
  lines.push(
    `Run of ${r.date.slice(0, 16).replace("T", " ")} UTC, scale ${r.options.scale} ` +
      `(${(r.rows.posts ?? 0).toLocaleString("en")} posts, ${(r.rows.likes ?? 0).toLocaleString("en")} likes, ` +
      `${(r.rows.users ?? 0).toLocaleString("en")} users), ${r.options.runs} runs of ${r.options.seconds} s ` +
      `per figure (medians).`,
  );
  lines.push("");
  lines.push(
    `Machine: ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memoryGiB} GiB, Node ${r.machine.node}, ` +
      `${r.machine.postgres}${hasPg4 ? `, PostGraphile 4 ${r.machine.postgraphile4}` : ""}. ` +
      `Server, PostgreSQL and load generator share the machine.`,
  );
  lines.push("");
  lines.push("**Headline: GraphQL throughput as a fraction of the raw-SQL baseline** (same run)");
  lines.push("");
  lines.push(
    `| scenario | ${conc.map((c) => `c=${c}`).join(" | ")}${hasPg4 ? ` | vs PG4 (c=${conc.join("/")})` : ""} |`,
  );
  lines.push(`| --- | ${conc.map(() => "---:").join(" | ")}${hasPg4 ? " | ---: |" : ""}`);
  for (const c of r.cases) {
    if (c.skipped) {
      lines.push(`| ${c.id} | ${conc.map(() => "–").join(" | ")}${hasPg4 ? " | –" : ""} |`);
      continue;
    }
    const pg4 = hasPg4
      ? ` | ${c.kind === "read" ? conc.map((x) => fmt(c.ratioToPg4[String(x)])).join(" / ") : "–"}`
      : "";
    lines.push(
      `| ${c.id} | ${conc.map((x) => `${fmt(c.ratioToRaw[String(x)])}×`).join(" | ")}${pg4} |`,
    );
  }
  lines.push("");
  lines.push("**Throughput and latency**: requests/s (p50/p95/p99 ms)");
  lines.push("");
  const targets: Target[] = hasPg4 ? ["graphql", "raw", "pg4"] : ["graphql", "raw"];
  lines.push(`| scenario | target | ${conc.map((c) => `c=${c}`).join(" | ")} |`);
  lines.push(`| --- | --- | ${conc.map(() => "---:").join(" | ")} |`);
  for (const c of r.cases) {
    for (const t of targets) {
      if (!c.measurements.some((m) => m.target === t) && !c.failures[t]) continue;
      lines.push(`| ${c.id} | ${t} | ${conc.map((x) => cell(c, t, x)).join(" | ")} |`);
    }
  }
  const skipped = r.cases.filter((c) => c.skipped);
  if (skipped.length > 0) {
    lines.push(
      `Not measured at this scale: ${skipped.map((c) => `${c.id} (${c.skipped})`).join(", ")}.`,
    );
  }
  lines.push("");
  if (r.worker) {
    const w = r.worker;
    lines.push("**Worker** (during the mutation scenarios)");
    lines.push("");
    lines.push(
      `- jobs/s: ${
        Object.entries(w.throughput.jobsPerSecond)
          .map(([t, n]) => `${t} ${n}`)
          .join(", ") || "none"
      }; ` +
        `backlog when the load stopped: ${w.throughput.backlog} jobs, drained in ${w.throughput.drainSeconds} s ` +
        `(jobs run in all: ${Object.entries(w.throughput.jobsCompleted)
          .map(([t, n]) => `${t} ${n}`)
          .join(", ")})`,
    );
    const l = w.likeToNotificationMs;
    lines.push(
      `- like → notification (${l.count} likes): p50 ${l.p50} ms, p95 ${l.p95} ms, p99 ${l.p99} ms` +
        (l.missed ? `, ${l.missed} never arrived` : ""),
    );
    lines.push("");
  }
  if (r.realtime) {
    const rt = r.realtime;
    lines.push(
      `**Realtime**: ${rt.subscribers} subscriptions over ${rt.conversations} conversations, ` +
        `${rt.messages} messages → ${rt.deliveries} deliveries${rt.missed ? ` (${rt.missed} missed)` : ""}: ` +
        `send → receive p50 ${rt.latencyMs.p50} ms, p95 ${rt.latencyMs.p95} ms, p99 ${rt.latencyMs.p99} ms`,
    );
    lines.push("");
  }
  if (r.sessionCheck) {
    const s = r.sessionCheck;
    lines.push(
      `**Session check** (immediate sign-out, per request, in process, median of ${s.iterations} verifications): ` +
        `verify ${s.verifyUs} µs, verify + session check ${s.verifyAndCheckUs} µs: +${s.addedUs} µs, ` +
        `${s.addedPercent} % of the p50 of the cheapest scenario (${s.cheapestCase}, ${s.cheapestP50Ms} ms; budget 3 %)`,
    );
    lines.push("");
  }
  if (r.observerCost) {
    const o = r.observerCost;
    const cpu =
      o.apiCpuUsPerRequest !== null
        ? ` and ${o.percentOfApiCpu} % of the API's CPU time per request (${o.apiCpuUsPerRequest} µs, c=1)`
        : "";
    lines.push(
      `**Metrics and access log per request** (request observer and GraphQL metrics hooks, in process, median of ${o.iterations} requests, the access log line built and discarded): ` +
        `${o.offUs} µs with both off, ${o.onUs} µs with both on: +${o.addedUs} µs, ` +
        `${o.percentOfP50} % of the p50 of the cheapest scenario (${o.cheapestCase}, ${o.cheapestP50Ms} ms)${cpu}; ` +
        `writing the line: ${o.lineWriteUs} µs per write(2) (one per request at c=1, gathered per event-loop turn above; budget ${o.budgetPercent} %)`,
    );
    if (o.database) {
      const d = o.database;
      lines.push(
        `- database metrics: one collection ${d.wallMs} ms (median of ${d.samples}; the collecting process's CPU ${d.processCpuMs} ms) every ${d.intervalSeconds} s: ` +
          `${d.percentOfCore} % of one core at most`,
      );
    }
    lines.push("");
  }
  if (r.metricsOverhead) lines.push(...metricsOverheadLines(r.metricsOverhead), "");
  if (r.explain.length > 0) {
    lines.push(
      `**SQL per request** (statements at the scenario's page sizes / at a quarter of them; execution time of the plans, ${(r.options.explainSamples ?? 1) > 1 ? `median of ${r.options.explainSamples} warm requests with different fixtures` : "one warm request each"})`,
    );
    lines.push("");
    lines.push("| scenario | statements | N+1? | GraphQL SQL ms | raw SQL ms |");
    lines.push("| --- | ---: | --- | ---: | ---: |");
    for (const e of r.explain) {
      const { graphqlMs, rawMs } = medianSqlMs(e);
      lines.push(
        `| ${e.scenario} | ${e.statements} / ${e.statementsSmallPages} | ${e.statements === e.statementsSmallPages ? "no" : "**yes**"} | ${graphqlMs} | ${rawMs} |`,
      );
    }
    lines.push("");
  }
  return lines.join("\n");
}

export interface Written {
  json: string;
  plans: string;
  markdown: string;
}

export async function writeReport(
  r: BenchResult,
  resultsDir: string,
  benchmarksMd: string | null,
): Promise<Written> {
  const stamp = r.date.replace(/[:.]/g, "-");
  await mkdir(resultsDir, { recursive: true });
  const json = path.join(resultsDir, `${stamp}.json`);
  await writeFile(json, JSON.stringify(r, null, 2) + "\n");
  const plans = path.join(resultsDir, stamp);
  await writePlans(r.explain, plans);
  const md = markdown(r);
  if (benchmarksMd) {
    const current = await readFile(benchmarksMd, "utf8").catch(() => "");
    const block = `${START}\n${md}\n${END}`;
    const next =
      current.includes(START) && current.includes(END)
        ? current.slice(0, current.indexOf(START)) +
          block +
          current.slice(current.indexOf(END) + END.length)
        : `${current}${current ? "\n" : ""}${block}\n`;
    await writeFile(benchmarksMd, next);
  }
  return { json, plans, markdown: md };
}

/** One Markdown file per scenario in `dir`: its SQL statements and their plans. */
export async function writePlans(explain: ScenarioExplain[], dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  for (const e of explain) {
    const text = [
      `# ${e.scenario}: ${e.statements} SQL statement(s) (${e.statementsSmallPages} with a quarter of the page sizes)`,
      ...e.graphqlSql.map(
        (s, i) =>
          `\n## GraphQL statement ${i + 1}\n\n${s.sql}\n\n### EXPLAIN (ANALYZE, BUFFERS)\n\n${s.plan}`,
      ),
      ...e.rawPlans.map(
        (p, i) => `\n## raw SQL statement ${i + 1}: EXPLAIN (ANALYZE, BUFFERS)\n\n${p}`,
      ),
    ].join("\n");
    await writeFile(path.join(dir, `${e.scenario}.md`), text + "\n");
  }
}
