/**
 * The monitoring profile's files (monitoring/): the alert rules are complete and point at a
 * runbook section that exists, the dashboard is the generator's output and uses the provisioned
 * data source, and every metric the rules and the dashboard name is one the service exports —
 * checked against the /metrics of a real `npm start` process (API + worker, METRICS_PORT).
 */
import { readFileSync } from "node:fs";

import { parse } from "yaml";

import {
  buildDashboard,
  DASHBOARD_FILE,
  DATASOURCE_UID,
} from "../../monitoring/grafana/dashboard.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { startProcess, type RunningProcess } from "../helpers/process.ts";

const read = (file: string): string =>
  readFileSync(new URL(`../../${file}`, import.meta.url), "utf8");

interface Rule {
  alert?: string;
  record?: string;
  expr: string;
  for?: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
}
const rules = (
  parse(read("monitoring/prometheus/alerts.yml")) as { groups: { name: string; rules: Rule[] }[] }
).groups.flatMap((g) => g.rules);

interface Target {
  expr: string;
  datasource: { type: string; uid: string };
}
interface Panel {
  type: string;
  title: string;
  datasource?: { type: string; uid: string };
  targets?: Target[];
  gridPos: { x: number; y: number; w: number; h: number };
}
const dashboard = JSON.parse(readFileSync(DASHBOARD_FILE, "utf8")) as { panels: Panel[] };
const queries = dashboard.panels.flatMap((p) => p.targets ?? []);

const HISTOGRAM_SUFFIX = /_(bucket|sum|count)$/;

/** Every mking_* name in PromQL expressions. */
function metricNames(exprs: readonly string[]): Set<string> {
  return new Set(exprs.flatMap((expr) => expr.match(/\bmking_[a-z0-9_]+/g) ?? []));
}

/**
 * A cheap PromQL sanity check: brackets and quotes balance, no empty selector or call, and
 * every range is a duration.
 */
function promqlProblems(expr: string): string[] {
  const problems: string[] = [];
  const stack: string[] = [];
  const pairs: Record<string, string> = { ")": "(", "]": "[", "}": "{" };
  let quote: string | null = null;
  for (const c of expr) {
    if (quote) {
      if (c === quote) quote = null;
    } else if (c === '"' || c === "'") quote = c;
    else if ("([{".includes(c)) stack.push(c);
    else if (c in pairs && stack.pop() !== pairs[c]) problems.push(`unbalanced ${c}`);
  }
  if (quote || stack.length) problems.push("unclosed bracket or quote");
  for (const [, range] of expr.matchAll(/\[([^\]]*)\]/g))
    if (!/^\d+[smhdw]$/.test(range!)) problems.push(`bad range [${range}]`);
  if (/\(\s*\)|\{\s*\}/.test(expr.replace(/time\(\)/g, "")))
    problems.push("empty call or selector");
  return problems;
}

describe("alert rules (monitoring/prometheus/alerts.yml)", () => {
  const runbook = read("docs/OPERATIONS.md");
  /** GitHub's anchors of the runbook's headings. */
  const anchors = new Set(
    [...runbook.matchAll(/^#+ (.+)$/gm)].map(([, title]) =>
      title!
        .trim()
        .toLowerCase()
        .replace(/[^\w\- ]/g, "")
        .replace(/ /g, "-"),
    ),
  );

  it("has the alerts the issue asks for", () => {
    const names = rules.map((r) => r.alert);
    for (const name of [
      "MkingApiDown",
      "MkingDatabaseDown",
      "MkingWorkerGone",
      "MkingHighErrorRate",
      "MkingSlowOperation",
      "MkingPgPoolSaturated",
      "MkingJobBacklogOld",
      "MkingJobsFailing",
      "MkingWalArchiveFailing",
      "MkingWalArchiveStale",
      "MkingReplicationLag",
      "MkingStandbyGone",
      "MkingDiskFilling",
      "MkingXidAgeHigh",
      "MkingXidAgeCritical",
      "MkingNoRecentBackup",
    ])
      expect(names).toContain(name);
    expect(new Set(names).size).toBe(names.length);
  });

  it.each(rules.map((r) => [r.alert ?? r.record ?? "?", r] as const))(
    "%s has an expression, a for:, a severity, a summary and a runbook section that exists",
    (_name, rule) => {
      expect(rule.alert).toMatch(/^Mking[A-Za-z]+$/);
      expect(promqlProblems(rule.expr)).toEqual([]);
      expect(rule.for).toMatch(/^\d+[smh]$/);
      expect(["warning", "critical"]).toContain(rule.labels?.severity);
      expect(rule.annotations?.summary).toEqual(expect.any(String));
      expect(rule.annotations?.description).toEqual(expect.any(String));
      const [file, anchor] = (rule.annotations?.runbook_url ?? "").split("#");
      expect(file).toBe("docs/OPERATIONS.md");
      expect({ anchor, inRunbook: anchors.has(anchor!) }).toEqual({ anchor, inRunbook: true });
    },
  );
});

describe("Grafana (monitoring/grafana)", () => {
  it("the dashboard JSON is monitoring/grafana/dashboard.ts's output (regenerate it after edits)", () => {
    expect(JSON.parse(readFileSync(DASHBOARD_FILE, "utf8"))).toEqual(buildDashboard());
  });

  it("queries the provisioned Prometheus data source", () => {
    const provisioned = parse(
      read("monitoring/grafana/provisioning/datasources/prometheus.yml"),
    ) as {
      datasources: { uid: string; type: string; url: string }[];
    };
    expect(provisioned.datasources).toEqual([
      expect.objectContaining({ uid: DATASOURCE_UID, type: "prometheus" }),
    ]);
    const prometheus = parse(read("monitoring/prometheus/prometheus.yml")) as {
      scrape_configs: { job_name: string }[];
    };
    expect(prometheus.scrape_configs.map((c) => c.job_name)).toEqual(
      expect.arrayContaining(["mking-api", "mking-worker"]),
    );
    for (const panel of dashboard.panels.filter((p) => p.type !== "row")) {
      expect(panel.datasource?.uid).toBe(DATASOURCE_UID);
      expect(panel.targets!.length).toBeGreaterThan(0);
      for (const target of panel.targets!) {
        expect(target.datasource.uid).toBe(DATASOURCE_UID);
        expect({ expr: target.expr, problems: promqlProblems(target.expr) }).toEqual({
          expr: target.expr,
          problems: [],
        });
      }
    }
  });

  it("lays the panels out on the 24-column grid without overlaps", () => {
    const cells = new Set<string>();
    for (const { gridPos: g, title } of dashboard.panels) {
      expect(g.x + g.w).toBeLessThanOrEqual(24);
      for (let x = g.x; x < g.x + g.w; x += 1)
        for (let y = g.y; y < g.y + g.h; y += 1) {
          expect({ title, cell: cells.has(`${x},${y}`) }).toEqual({ title, cell: false });
          cells.add(`${x},${y}`);
        }
    }
  });

  it("has the panels the issue asks for", () => {
    const names = metricNames(queries.map((q) => q.expr));
    for (const name of [
      "mking_graphql_responses_total",
      "mking_graphql_request_duration_seconds_bucket",
      "mking_http_requests_in_flight",
      "mking_requests_refused_total",
      "mking_websocket_connections",
      "mking_realtime_events_dropped_total",
      "mking_pg_pool_connections",
      "mking_jobs",
      "mking_jobs_oldest_ready_seconds",
      "mking_db_connections",
      "mking_db_longest_transaction_seconds",
      "mking_db_locks_waiting",
      "mking_db_table_size_bytes",
      "mking_db_table_dead_tuples",
      "mking_db_cache_hit_ratio",
      "mking_db_xid_age",
      "mking_db_archive_failed_total",
      "mking_db_replication_lag_seconds",
      "mking_db_disk_free_ratio",
      "mking_backup_last_success_timestamp_seconds",
    ])
      expect(names).toContain(name);
  });
});

describe("every metric named in the rules and the dashboard", () => {
  let db: TestDatabase;
  let proc: RunningProcess;
  let exported: Map<string, string>;

  beforeAll(async () => {
    db = await createTestDatabase();
    proc = startProcess(["src/main.ts"], {
      DATABASE_URL: db.ownerUrl,
      AUTH_DATABASE_URL: db.authUrl,
      HOST: "127.0.0.1",
      PORT: "0",
      METRICS_PORT: "0",
      LOG_LEVEL: "info",
    });
    const [, metricsUrl] = await proc.waitFor(/metrics at (http:\/\/\S+\/metrics)/);
    await proc.waitFor(/GraphQL API ready at/);
    const text = await (await fetch(metricsUrl!)).text();
    // families from the TYPE lines: registered metrics print them even without samples
    exported = new Map(
      [...text.matchAll(/^# TYPE (\S+) (\S+)$/gm)].map(([, name, type]) => [name!, type!]),
    );
  });
  afterAll(async () => {
    proc.child.kill("SIGTERM");
    await proc.exited;
    await db.drop();
  });

  it("is exported on METRICS_PORT by the service (API + worker)", () => {
    const named = metricNames([...rules.map((r) => r.expr), ...queries.map((q) => q.expr)]);
    // a histogram's series are its family's name with _bucket, _sum or _count
    const missing = [...named]
      .map((name) => (exported.has(name) ? name : name.replace(HISTOGRAM_SUFFIX, "")))
      .filter((family) => !exported.has(family));
    expect([...new Set(missing)].sort()).toEqual([]);
  });
});
