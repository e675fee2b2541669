/**
 * Builds monitoring/grafana/dashboards/mking-friend.json, the Grafana dashboard the monitoring
 * profile provisions. Edit the panels here, then regenerate and commit the JSON:
 *
 *   npx node monitoring/grafana/dashboard.ts && npx prettier --write monitoring/grafana/dashboards
 *
 * test/monitoring/dashboards.test.ts checks the committed JSON is this output, and that every
 * metric a panel names is one the service exports.
 */
import { writeFileSync } from "node:fs";

/** The uid of the provisioned Prometheus (monitoring/grafana/provisioning/datasources). */
export const DATASOURCE_UID = "mking-prometheus";
const datasource = { type: "prometheus", uid: DATASOURCE_UID };

interface Query {
  expr: string;
  legend: string;
}
interface PanelSpec {
  title: string;
  description?: string;
  queries: Query[];
  unit?: string;
  kind?: "timeseries" | "stat";
  width?: number;
  thresholds?: { value: number; color: string }[];
  min?: number;
  max?: number;
}
type Panel = Record<string, unknown>;

const q = (expr: string, legend: string): Query => ({ expr, legend });

function grid(sections: [string, PanelSpec[]][]): Panel[] {
  const panels: Panel[] = [];
  let id = 1;
  let y = 0;
  for (const [title, specs] of sections) {
    panels.push({
      id: id++,
      type: "row",
      title,
      collapsed: false,
      gridPos: { h: 1, w: 24, x: 0, y },
      panels: [],
    });
    y += 1;
    let x = 0;
    let lineHeight = 0;
    for (const spec of specs) {
      const w = spec.width ?? 8;
      const h = spec.kind === "stat" ? 4 : 8;
      if (x + w > 24) {
        x = 0;
        y += lineHeight;
        lineHeight = 0;
      }
      panels.push(panel(id++, spec, { h, w, x, y }));
      x += w;
      lineHeight = Math.max(lineHeight, h);
    }
    y += lineHeight;
  }
  return panels;
}

function panel(id: number, spec: PanelSpec, gridPos: Record<string, number>): Panel {
  const thresholds = {
    mode: "absolute",
    steps: [{ color: "green", value: null }, ...(spec.thresholds ?? [])],
  };
  return {
    id,
    type: spec.kind ?? "timeseries",
    title: spec.title,
    ...(spec.description ? { description: spec.description } : {}),
    datasource,
    gridPos,
    fieldConfig: {
      defaults: {
        unit: spec.unit ?? "short",
        thresholds,
        ...(spec.min !== undefined ? { min: spec.min } : {}),
        ...(spec.max !== undefined ? { max: spec.max } : {}),
      },
      overrides: [],
    },
    options:
      spec.kind === "stat"
        ? { reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false } }
        : { legend: { displayMode: "list", placement: "bottom" }, tooltip: { mode: "multi" } },
    targets: spec.queries.map((query, i) => ({
      refId: String.fromCharCode(65 + i),
      datasource,
      expr: query.expr,
      legendFormat: query.legend,
    })),
  };
}

const api: PanelSpec[] = [
  {
    title: "Requests by code",
    description: "GraphQL responses per second by extensions.code (OK when there was no error).",
    queries: [q("sum by (code) (rate(mking_graphql_responses_total[5m]))", "{{code}}")],
    unit: "reqps",
  },
  {
    title: "Error rate (INTERNAL_SERVER_ERROR, TIMEOUT)",
    description: "Share of responses that failed on our side. Alert: MkingHighErrorRate (2%).",
    queries: [
      q(
        'sum(rate(mking_graphql_responses_total{code=~"INTERNAL_SERVER_ERROR|TIMEOUT"}[5m])) / sum(rate(mking_graphql_responses_total[5m]))',
        "errors",
      ),
    ],
    unit: "percentunit",
    thresholds: [{ value: 0.02, color: "red" }],
    min: 0,
  },
  {
    title: "p95 latency per operation",
    description: "Alert: MkingSlowOperation (over 1 s for 10 minutes).",
    queries: [
      q(
        'histogram_quantile(0.95, sum by (operation_name, le) (rate(mking_graphql_request_duration_seconds_bucket{operation_type!="subscription"}[5m])))',
        "{{operation_name}}",
      ),
    ],
    unit: "s",
  },
  {
    title: "Requests in flight",
    queries: [q("sum by (instance) (mking_http_requests_in_flight)", "{{instance}}")],
  },
  {
    title: "Refusals by guard",
    description: "Requests refused before they ran: limits, rate limits, transport, origin.",
    queries: [q("sum by (guard) (rate(mking_requests_refused_total[5m]))", "{{guard}}")],
    unit: "reqps",
  },
  {
    title: "Websockets and subscriptions",
    queries: [
      q("sum(mking_websocket_connections)", "websockets"),
      q("sum(mking_subscriptions_running)", "subscriptions"),
    ],
  },
  {
    title: "Realtime events delivered and dropped",
    queries: [
      q(
        "sum by (subscription) (rate(mking_realtime_events_delivered_total[5m]))",
        "{{subscription}}",
      ),
      q("sum by (reason) (rate(mking_realtime_events_dropped_total[5m]))", "dropped: {{reason}}"),
    ],
    unit: "ops",
  },
  {
    title: "LISTEN connection up",
    description: "1 while an API instance's LISTEN connection (realtime) is up.",
    queries: [q("mking_realtime_listen_connected", "{{instance}}")],
    min: 0,
    max: 1,
  },
  {
    title: "Connection pools",
    description: "Alert: MkingPgPoolSaturated (requests waiting for 5 minutes).",
    queries: [q("sum by (pool, state) (mking_pg_pool_connections)", "{{pool}} {{state}}")],
  },
];

const jobs: PanelSpec[] = [
  {
    title: "Job queue by state",
    queries: [q("sum by (state) (max by (task, state) (mking_jobs))", "{{state}}")],
  },
  {
    title: "Job queue by task (ready and running)",
    queries: [
      q('sum by (task) (max by (task, state) (mking_jobs{state=~"ready|running"}))', "{{task}}"),
    ],
  },
  {
    title: "Oldest ready job",
    description: "How long the oldest due job has waited. Alert: MkingJobBacklogOld (5 minutes).",
    queries: [q("max(mking_jobs_oldest_ready_seconds)", "oldest ready")],
    unit: "s",
    thresholds: [{ value: 300, color: "red" }],
  },
  {
    title: "Failed jobs (in the queue)",
    description: "Jobs that used all their attempts; they stay until deleted or retried.",
    queries: [q('sum by (task) (max by (task) (mking_jobs{state="failed"}))', "{{task}}")],
  },
  {
    title: "Job outcomes",
    queries: [
      q("sum by (task) (rate(mking_worker_jobs_completed_total[5m]))", "done {{task}}"),
      q("sum by (task) (rate(mking_worker_job_errors_total[5m]))", "error {{task}}"),
      q("sum by (task) (increase(mking_worker_jobs_given_up_total[15m]))", "given up {{task}}"),
    ],
    unit: "ops",
  },
  {
    title: "Worker pools alive",
    description: "Alert: MkingWorkerGone (none for 2 minutes).",
    queries: [
      q("max(mking_worker_pools_alive)", "pools"),
      q("sum by (task) (rate(mking_worker_job_seconds_total[5m]))", "busy seconds/s {{task}}"),
    ],
  },
];

const database: PanelSpec[] = [
  {
    title: "Database up",
    queries: [q("max(mking_db_up)", "up")],
    kind: "stat",
    width: 6,
    thresholds: [],
  },
  {
    title: "Transaction ID age",
    description: "Alerts: MkingXidAgeHigh (1e9), MkingXidAgeCritical (1.5e9).",
    queries: [q("max(mking_db_xid_age)", "xid age")],
    kind: "stat",
    width: 6,
    thresholds: [
      { value: 1e9, color: "orange" },
      { value: 1.5e9, color: "red" },
    ],
  },
  {
    title: "Cache hit ratio",
    queries: [q("max(mking_db_cache_hit_ratio)", "hit ratio")],
    kind: "stat",
    width: 6,
    unit: "percentunit",
  },
  {
    title: "Database size",
    queries: [q("max by (database) (mking_db_size_bytes)", "{{database}}")],
    kind: "stat",
    width: 6,
    unit: "bytes",
  },
  {
    title: "Connections by state",
    queries: [q("max by (state, role) (mking_db_connections)", "{{role}} {{state}}")],
  },
  {
    title: "Longest transaction and query",
    description: "Alert: MkingLongTransaction (10 minutes).",
    queries: [
      q("max(mking_db_longest_transaction_seconds)", "transaction"),
      q("max(mking_db_longest_query_seconds)", "query"),
    ],
    unit: "s",
  },
  {
    title: "Locks waiting",
    queries: [q("max(mking_db_locks_waiting)", "waiting")],
  },
  {
    title: "Largest tables",
    queries: [q("topk(10, max by (table) (mking_db_table_size_bytes))", "{{table}}")],
    unit: "bytes",
  },
  {
    title: "Dead tuples",
    queries: [q("topk(10, max by (table) (mking_db_table_dead_tuples))", "{{table}}")],
  },
  {
    title: "Time since autovacuum / autoanalyze",
    queries: [
      q("topk(5, max by (table) (mking_db_table_last_autovacuum_age_seconds))", "vacuum {{table}}"),
      q(
        "topk(5, max by (table) (mking_db_table_last_autoanalyze_age_seconds))",
        "analyze {{table}}",
      ),
    ],
    unit: "s",
  },
];

const durability: PanelSpec[] = [
  {
    title: "WAL archive failures",
    description: "pg_stat_archiver.failed_count. Alert: MkingWalArchiveFailing (any rise).",
    queries: [q("max(mking_db_archive_failed_total)", "failed")],
  },
  {
    title: "Last WAL archived",
    description: "Alert: MkingWalArchiveStale (10 minutes).",
    queries: [q("max(mking_db_archive_last_archived_age_seconds)", "age")],
    unit: "s",
    thresholds: [{ value: 600, color: "red" }],
  },
  {
    title: "Replication lag",
    description: "Alert: MkingReplicationLag (60 s).",
    queries: [q("max by (standby) (mking_db_replication_lag_seconds)", "{{standby}}")],
    unit: "s",
    thresholds: [{ value: 60, color: "red" }],
  },
  {
    title: "Replication lag (bytes)",
    queries: [q("max by (standby) (mking_db_replication_lag_bytes)", "{{standby}}")],
    unit: "bytes",
  },
  {
    title: "Standbys streaming",
    description: "Alert: MkingStandbyGone (fewer than in the last 6 hours).",
    queries: [q("max(mking_db_standbys)", "standbys")],
  },
  {
    title: "Disk free",
    description:
      "The data folder's file system. Alerts: MkingDiskFilling (20%), MkingDiskAlmostFull (10%).",
    queries: [q("max(mking_db_disk_free_ratio)", "free")],
    unit: "percentunit",
    min: 0,
    max: 1,
  },
  {
    title: "Last backup age",
    description: "Since the newest base backup finished. Alert: MkingNoRecentBackup (26 h).",
    queries: [q("time() - max(mking_backup_last_success_timestamp_seconds)", "age")],
    kind: "stat",
    unit: "s",
    thresholds: [{ value: 26 * 3600, color: "red" }],
  },
];

export function buildDashboard(): Record<string, unknown> {
  return {
    uid: "mking-friend",
    title: "MKing Friend",
    description: "Is it healthy, what is slow, what is about to fill up (docs/OPERATIONS.md).",
    tags: ["mking-friend"],
    timezone: "browser",
    editable: false,
    graphTooltip: 1,
    refresh: "30s",
    schemaVersion: 39,
    version: 1,
    time: { from: "now-6h", to: "now" },
    templating: { list: [] },
    annotations: { list: [] },
    panels: grid([
      ["API", api],
      ["Jobs", jobs],
      ["Database", database],
      ["Archiving, replication, disk and backups", durability],
    ]),
  };
}

export const DASHBOARD_FILE = new URL("dashboards/mking-friend.json", import.meta.url);

if (import.meta.url === `file://${process.argv[1]}`) {
  writeFileSync(DASHBOARD_FILE, JSON.stringify(buildDashboard(), null, 2) + "\n");
}
