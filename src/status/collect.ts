/**
 * What `npm run status` shows, read in one go: the API's /readyz, the worker pools' heartbeats,
 * the database's size, biggest tables and connections, the slowest statements
 * (pg_stat_statements, when installed), the job queue and the newest base backup.
 * Every section is read on its own: one that fails says why, the others still show.
 */
import { existsSync } from "node:fs";

import pg from "pg";

import { backupFoldersFor } from "../backup/archive.ts";
import { backupStatus } from "../backup/catalog.ts";

export type Section<T> = { ok: true; value: T } | { ok: false; reason: string };

export interface ApiHealth {
  url: string;
  status: "ready" | "not ready" | "unreachable" | "not checked";
  detail: string;
}

export interface WorkerPool {
  id: string;
  hostname: string | null;
  pid: number | null;
  secondsSinceBeat: number;
  alive: boolean;
}

export interface DatabaseInfo {
  name: string;
  version: string;
  sizeBytes: number;
  connections: { state: string; count: number }[];
  maxConnections: number;
  longestTransactionSeconds: number;
  tables: { name: string; bytes: number; liveRows: number; deadRows: number }[];
}

export interface Statement {
  query: string;
  calls: number;
  meanMs: number;
  totalMs: number;
}

export interface QueueRow {
  task: string;
  state: string;
  jobs: number;
}

export interface BackupInfo {
  finishedAt: Date | null;
  count: number;
  folder: string | null;
}

export interface StatusReport {
  at: Date;
  api: ApiHealth;
  workers: Section<WorkerPool[]>;
  database: Section<DatabaseInfo>;
  statements: Section<Statement[]>;
  queue: Section<{ rows: QueueRow[]; oldestReadySeconds: number }>;
  backup: Section<BackupInfo>;
}

/** Heartbeats a pool may miss before it counts as gone (as src/worker.ts judges it). */
const MISSED_BEATS = 3;

async function section<T>(read: () => Promise<T>): Promise<Section<T>> {
  try {
    return { ok: true, value: await read() };
  } catch (error) {
    return { ok: false, reason: (error as Error).message.split("\n")[0] ?? "failed" };
  }
}

/** GET /readyz of the API at `baseUrl` (null: the port is chosen at start, nothing to ask). */
export async function checkApi(baseUrl: string | null): Promise<ApiHealth> {
  if (baseUrl === null) return { url: "", status: "not checked", detail: "PORT=0" };
  const url = `${baseUrl}/readyz`;
  const started = performance.now();
  try {
    const response = await fetch(url, { signal: AbortSignal.timeout(2000) });
    const ms = Math.round(performance.now() - started);
    const body = (await response.json().catch(() => ({}))) as { reason?: string };
    return response.ok
      ? { url, status: "ready", detail: `${ms} ms` }
      : { url, status: "not ready", detail: body.reason ?? `HTTP ${response.status}` };
  } catch (error) {
    const cause = (error as { cause?: { code?: string } }).cause?.code;
    return { url, status: "unreachable", detail: cause ?? (error as Error).message };
  }
}

async function readWorkers(client: pg.Client): Promise<WorkerPool[]> {
  const { rows } = await client.query<WorkerPool>(
    `select id, hostname, pid,
            extract(epoch from now() - heartbeat_at)::float8 as "secondsSinceBeat",
            heartbeat_at > now() - $1 * heartbeat_interval as alive
       from app_private.worker_instances
      order by heartbeat_at desc
      limit 5`,
    [MISSED_BEATS],
  );
  return rows;
}

async function readDatabase(client: pg.Client): Promise<DatabaseInfo> {
  const { rows } = await client.query<Omit<DatabaseInfo, "tables" | "connections">>(
    `select current_database() as name,
            current_setting('server_version') as version,
            pg_database_size(current_database())::float8 as "sizeBytes",
            current_setting('max_connections')::int as "maxConnections",
            coalesce((select extract(epoch from max(now() - xact_start))::float8
                        from pg_stat_activity
                       where datname = current_database() and xact_start is not null
                         and pid <> pg_backend_pid()), 0) as "longestTransactionSeconds"`,
  );
  const connections = await client.query<{ state: string; count: number }>(
    `select coalesce(state, 'background') as state, count(*)::int as count
       from pg_stat_activity
      where datname = current_database()
      group by 1 order by 2 desc, 1`,
  );
  const tables = await client.query<DatabaseInfo["tables"][number]>(
    `select n.nspname || '.' || c.relname as name,
            pg_total_relation_size(c.oid)::float8 as bytes,
            coalesce(s.n_live_tup, 0)::float8 as "liveRows",
            coalesce(s.n_dead_tup, 0)::float8 as "deadRows"
       from pg_class c
       join pg_namespace n on n.oid = c.relnamespace
       left join pg_stat_all_tables s on s.relid = c.oid
      where c.relkind in ('r', 'p', 'm')
        and n.nspname not in ('pg_catalog', 'information_schema', 'pg_toast')
      order by 2 desc, 1
      limit 5`,
  );
  return { ...rows[0]!, connections: connections.rows, tables: tables.rows };
}

async function readStatements(client: pg.Client): Promise<Statement[]> {
  const { rows: installed } = await client.query<{ schema: string }>(
    `select n.nspname as schema from pg_extension e join pg_namespace n on n.oid = e.extnamespace
      where e.extname = 'pg_stat_statements'`,
  );
  const schema = installed[0]?.schema;
  if (!schema) {
    throw new Error(
      "pg_stat_statements is not installed in this database (create extension pg_stat_statements; it needs shared_preload_libraries)",
    );
  }
  const { rows } = await client.query<Statement>(
    `select regexp_replace(query, '\\s+', ' ', 'g') as query,
            calls::float8 as calls,
            mean_exec_time as "meanMs",
            total_exec_time as "totalMs"
       from ${pg.escapeIdentifier(schema)}.pg_stat_statements
      where dbid = (select oid from pg_database where datname = current_database())
      order by mean_exec_time desc
      limit 5`,
  );
  return rows;
}

/** Depth by task and state, as src/metrics.ts counts them for mking_jobs. */
async function readQueue(
  client: pg.Client,
): Promise<{ rows: QueueRow[]; oldestReadySeconds: number }> {
  const { rows } = await client.query<{ rows: QueueRow[] | null; oldest: number }>(
    `with jobs as (
       select task_identifier,
              case
                when attempts >= max_attempts then 'failed'
                when locked_at is not null and locked_at > now() - interval '4 hours' then 'running'
                when run_at > now() then case when attempts > 0 then 'retrying' else 'scheduled' end
                else 'ready'
              end as state,
              run_at
         from graphile_worker.jobs
     )
     select (select json_agg(json_build_object('task', task_identifier, 'state', state, 'jobs', n))
               from (select task_identifier, state, count(*)::int as n
                       from jobs group by 1, 2 order by 1, 2) d) as rows,
            coalesce((select extract(epoch from now() - min(run_at))::float8
                        from jobs where state = 'ready'), 0) as oldest`,
  );
  return { rows: rows[0]?.rows ?? [], oldestReadySeconds: rows[0]?.oldest ?? 0 };
}

/**
 * The embedded backups' catalog (src/backup/catalog.ts): of the first of `clusterDirs` that has
 * one, else of the server's data_directory (readable by a superuser) if it is on this machine.
 */
async function readBackup(client: pg.Client, clusterDirs: readonly string[]): Promise<BackupInfo> {
  const fromServer = await client
    .query<{ dir: string }>(`select current_setting('data_directory') as dir`)
    .then((r) => r.rows[0]?.dir ?? null)
    .catch(() => null);
  const candidates = fromServer === null ? clusterDirs : [...clusterDirs, fromServer];
  const dir = candidates.find((d) => existsSync(backupFoldersFor(d).base)) ?? null;
  if (dir === null) return { finishedAt: null, count: 0, folder: null };
  const status = await backupStatus(dir);
  return {
    finishedAt: status.lastBaseBackupAt,
    count: status.baseBackups,
    folder: backupFoldersFor(dir).base,
  };
}

export async function collectStatus(o: {
  /** The database to report on; a superuser one shows every role's statements. */
  databaseUrl: string;
  apiBaseUrl: string | null;
  /** Where the embedded cluster's data folder may be (its backups catalog lies beside it). */
  clusterDirs: readonly string[];
}): Promise<StatusReport> {
  const at = new Date();
  const apiCheck = checkApi(o.apiBaseUrl);
  const client = new pg.Client({
    connectionString: o.databaseUrl,
    connectionTimeoutMillis: 3000,
    application_name: "mking-friend-status",
  });
  client.on("error", () => undefined);
  await client.connect();
  try {
    // one after the other: a pg.Client runs one query at a time anyway
    const workers = await section(() => readWorkers(client));
    const database = await section(() => readDatabase(client));
    const statements = await section(() => readStatements(client));
    const queue = await section(() => readQueue(client));
    const backup = await section(() => readBackup(client, o.clusterDirs));
    return { at, api: await apiCheck, workers, database, statements, queue, backup };
  } finally {
    await client.end();
  }
}
