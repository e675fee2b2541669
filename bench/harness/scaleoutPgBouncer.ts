/**
 * Debian's PgBouncer (/usr/sbin/pgbouncer) for `npm run bench:scaleout`: configured as
 * test/ops/pgbouncer.test.ts configures it (transaction pooling, scram-sha-256 with the roles'
 * passwords in an auth_file, no server_reset_query, TCP on the loopback only), in a temporary
 * folder of its own, as the `postgres` system user when we are root (PgBouncer refuses root).
 * Stopped by its PID; the folder is removed.
 */
import { execFile, spawn } from "node:child_process";
import { once } from "node:events";
import { chown, mkdtemp, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import pg from "pg";

import { postgresRunAs } from "../../src/db/postgresUser.ts";

export const PGBOUNCER = "/usr/sbin/pgbouncer";

export interface PgBouncer {
  readonly pid: number;
  /** postgres://127.0.0.1:<port>/<database>, without credentials (DATABASE_POOLER_URL). */
  readonly url: string;
  /** "PgBouncer 1.18.0" */
  readonly version: string;
  log(): string;
  /** Transactions PgBouncer has served for the database so far (SHOW STATS). */
  transactions(): Promise<number>;
  stop(): Promise<void>;
}

export interface PgBouncerOptions {
  port: number;
  /** The PostgreSQL server behind it (loopback). */
  upstreamPort: number;
  database: string;
  /** Roles that log in through it, with their passwords. */
  users: readonly { name: string; password: string }[];
  /** default_pool_size: server connections per database and user. */
  serverConnections: number;
  /** May read SHOW STATS on the admin console (one of `users`). */
  statsUser: string;
}

/** The pgbouncer.ini of the bench (exported for the test of its settings). */
export function pgbouncerIni(o: PgBouncerOptions & { authFile: string }): string {
  return [
    "[databases]",
    `${o.database} = host=127.0.0.1 port=${o.upstreamPort} dbname=${o.database}`,
    "[pgbouncer]",
    "listen_addr = 127.0.0.1",
    `listen_port = ${o.port}`,
    "unix_socket_dir =",
    "auth_type = scram-sha-256",
    `auth_file = ${o.authFile}`,
    "pool_mode = transaction",
    `default_pool_size = ${o.serverConnections}`,
    "max_client_conn = 1000",
    "server_reset_query =",
    `stats_users = ${o.statsUser}`,
    "",
  ].join("\n");
}

export async function pgbouncerVersion(): Promise<string> {
  const { stdout } = await promisify(execFile)(PGBOUNCER, ["--version"]);
  return stdout.split("\n")[0]!.trim();
}

function statsLogin(o: PgBouncerOptions): { name: string; password: string } {
  const u = o.users.find((x) => x.name === o.statsUser);
  if (!u) throw new Error(`pgbouncer: the stats user ${o.statsUser} is not among its users`);
  return u;
}

export async function startPgBouncer(o: PgBouncerOptions): Promise<PgBouncer> {
  const user = await postgresRunAs();
  const dir = await mkdtemp(path.join(os.tmpdir(), "scaleout-pgbouncer-"));
  const authFile = path.join(dir, "userlist.txt");
  const ini = path.join(dir, "pgbouncer.ini");
  await writeFile(authFile, o.users.map((u) => `"${u.name}" "${u.password}"`).join("\n") + "\n", {
    mode: 0o600,
  });
  await writeFile(ini, pgbouncerIni({ ...o, authFile }), { mode: 0o600 });
  for (const file of [dir, authFile, ini]) {
    if (user.uid !== undefined) await chown(file, user.uid, user.gid ?? -1);
  }
  const version = await pgbouncerVersion();
  const child = spawn(PGBOUNCER, [ini], { ...user, cwd: "/", stdio: ["ignore", "pipe", "pipe"] });
  let output = "";
  const collect = (chunk: Buffer): void => void (output = (output + chunk.toString()).slice(-8000));
  child.stdout.on("data", collect);
  child.stderr.on("data", collect);
  const exited = once(child, "exit").then(() => undefined);
  const killOnExit = (): void => void child.kill("SIGKILL");
  process.once("exit", killOnExit);
  const stop = async (): Promise<void> => {
    process.removeListener("exit", killOnExit);
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 5000);
      await exited;
      clearTimeout(timer);
    }
    await rm(dir, { recursive: true, force: true });
  };
  if (child.pid === undefined) {
    await stop();
    throw new Error(`pgbouncer did not start:\n${output}`);
  }
  // up when a role logs in through it and the server behind answers
  const [first] = o.users;
  const deadline = Date.now() + 15_000;
  for (;;) {
    const client = new pg.Client({
      host: "127.0.0.1",
      port: o.port,
      database: o.database,
      user: first!.name,
      password: first!.password,
    });
    client.on("error", () => undefined);
    try {
      await client.connect();
      await client.query("select 1");
      await client.end();
      break;
    } catch (error) {
      await client.end().catch(() => undefined);
      if (child.exitCode !== null || Date.now() > deadline) {
        await stop();
        throw new Error(`pgbouncer is not answering: ${(error as Error).message}\n${output}`);
      }
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }
  return {
    pid: child.pid,
    url: `postgres://127.0.0.1:${o.port}/${o.database}`,
    version,
    log: () => output,
    transactions: async () => {
      const stats = statsLogin(o);
      const client = new pg.Client({
        host: "127.0.0.1",
        port: o.port,
        database: "pgbouncer",
        user: stats.name,
        password: stats.password,
      });
      await client.connect();
      try {
        // the admin console speaks the simple query protocol only (no parameters)
        const { rows } = await client.query<{ database: string; total_xact_count: string }>(
          "SHOW STATS",
        );
        return Number(rows.find((r) => r.database === o.database)?.total_xact_count ?? 0);
      } finally {
        await client.end();
      }
    },
    stop,
  };
}
