/**
 * Connections through a transaction-mode pooler (PgBouncer; DATABASE_POOLER_URL, docs/SCALING.md
 * "Pooling"). In transaction mode a client holds a server connection only for one transaction
 * (or one statement outside of one), so only what lives inside a transaction works there:
 *
 * - works: PostGraphile's requests (`begin`, `set_config(…, true)` for the role and the claims,
 *   the statements, `commit`), graphile-worker's job queries, single statements;
 * - does not: LISTEN, session advisory locks, session `set`, and named prepared statements
 *   (PgBouncer 1.18, Debian 12's, has no `max_prepared_statements`; a statement prepared on one
 *   server connection is unknown on the next).
 *
 * So the query pools go through the pooler with a client that never names its statements, and
 * what needs a session keeps a direct connection to DATABASE_URL's server: the API's realtime
 * LISTEN, session registry and presence feeds; the worker's LISTEN and the tasks in
 * SESSION_TASKS; migrations.
 */
import type { JobHelpers, Task, TaskList } from "graphile-worker";
import pg from "pg";

import { withUrlParts } from "./urls.ts";

/**
 * DATABASE_POOLER_URL names the pooler's host, port and database; each connection through it
 * logs in as its own role (the owner for the worker, the authenticator for the API), with the
 * user and password of its direct URL.
 */
export function throughPooler(poolerUrl: string, directUrl: string): string {
  const direct = new URL(directUrl);
  return withUrlParts(poolerUrl, {
    user: decodeURIComponent(direct.username),
    password: decodeURIComponent(direct.password),
  });
}

/** A query config without its statement name (anything else is passed on as it is). */
function unnamed(config: unknown): unknown {
  if (config === null || typeof config !== "object" || !("name" in config)) return config;
  // a Submittable (a cursor, a pg.Query) is not ours to rewrite
  if ("submit" in config) return config;
  const { name: _name, ...rest } = config as Record<string, unknown>;
  return rest;
}

/**
 * A pg client that sends every statement unnamed (parsed each time, valid on any server
 * connection). @dataplan/pg names its statements (an LRU of 100 per connection; the only other
 * switch is the process-wide DATAPLAN_PG_PREPARED_STATEMENT_CACHE_SIZE=0, read when the module
 * loads), and so does graphile-worker unless `preparedStatements: false`.
 */
export class UnnamedStatementsClient extends pg.Client {}
const namedQuery = pg.Client.prototype.query as (...args: unknown[]) => unknown;
UnnamedStatementsClient.prototype.query = function (
  this: pg.Client,
  config: unknown,
  ...rest: unknown[]
) {
  return namedQuery.call(this, unnamed(config), ...rest);
} as unknown as pg.Client["query"];

/**
 * A pool of connections to `directUrl`'s role: through the pooler when `poolerUrl` is set
 * (unnamed statements), else direct.
 */
export function queryPool(
  directUrl: string,
  poolerUrl: string | null,
  options: Omit<pg.PoolConfig, "connectionString" | "Client">,
): pg.Pool {
  return poolerUrl === null
    ? new pg.Pool({ connectionString: directUrl, ...options })
    : new pg.Pool({
        connectionString: throughPooler(poolerUrl, directUrl),
        Client: UnnamedStatementsClient,
        ...options,
      });
}

type ConnectCallback = (
  err: Error | undefined,
  client: pg.PoolClient | undefined,
  done: (release?: unknown) => void,
) => void;

/**
 * graphile-worker 0.18 takes one pg.Pool. It checks out its LISTEN connection (jobs:insert)
 * with the callback form, `pgPool.connect(listenForChanges)` (dist/main.js), and every job query
 * with `await pgPool.connect()`. This pool serves the callback form from `direct`, so the
 * LISTEN keeps a session while the jobs go through the pooler (test/ops/pgbouncer.test.ts
 * checks that new jobs still wake the worker at once).
 */
export class ListenDirectPool extends pg.Pool {
  readonly direct: pg.Pool;

  constructor(config: pg.PoolConfig, direct: pg.Pool) {
    super(config);
    this.direct = direct;
  }

  override connect(): Promise<pg.PoolClient>;
  override connect(callback: ConnectCallback): void;
  override connect(callback?: ConnectCallback): Promise<pg.PoolClient> | void {
    if (callback) return this.direct.connect(callback);
    return super.connect();
  }

  override end(): Promise<void>;
  override end(callback: () => void): void;
  override end(callback?: () => void): Promise<void> | void {
    const ended = Promise.all([super.end(), this.direct.end()]).then(() => undefined);
    if (!callback) return ended;
    void ended.then(callback, callback);
  }
}

/**
 * Tasks that need a session (src/tasks/reindex.ts: a session advisory lock held across
 * REINDEX CONCURRENTLY statements, which cannot run in a transaction): with a pooler their
 * `helpers.withPgClient` hands out direct connections.
 */
export const SESSION_TASKS: readonly string[] = ["maintenance__reindex_bloated"];

/** `tasks` with the SESSION_TASKS given direct connections from `direct`. */
export function withSessionTasksOn(tasks: TaskList, direct: pg.Pool): TaskList {
  const withDirectClient = async <T>(callback: (client: pg.PoolClient) => Promise<T>) => {
    const client = await direct.connect();
    try {
      return await callback(client);
    } finally {
      client.release();
    }
  };
  const withPgClient = Object.assign(withDirectClient, { withRetries: withDirectClient });
  const out: TaskList = { ...tasks };
  for (const name of SESSION_TASKS) {
    const task = tasks[name] as Task | undefined;
    if (!task) continue;
    out[name] = (payload: unknown, helpers: JobHelpers) =>
      task(payload, { ...helpers, withPgClient });
  }
  return out;
}
