/**
 * A PostgreSQL 15 server from Debian's `postgresql-15` package, started by a test in a folder
 * of its own and stopped by its PID: nothing system-wide is touched (no pg_ctlcluster, no
 * service). As root it runs as the system user `postgres` (src/db/postgresUser.ts), so its
 * folder lives under /var/tmp, owned by that user, where it can enter.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { chown, mkdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import pg from "pg";

import { isRoot, postgresRunAs, runAs, type RunAs } from "../../../src/db/postgresUser.ts";

export const PG15_BIN = "/usr/lib/postgresql/15/bin";

/** A folder the server's user owns (mode 0700), removed by `remove()`. */
export interface OpsFolder {
  readonly dir: string;
  /** Who the servers and tools run as: `postgres` when we are root, else ourselves. */
  readonly user: RunAs;
  /** Creates `dir/...parts` owned by `user` and returns its path. */
  sub(...parts: string[]): Promise<string>;
  remove(): Promise<void>;
}

export async function opsFolder(name: string): Promise<OpsFolder> {
  const user = await postgresRunAs();
  const base = isRoot() ? "/var/tmp" : tmpdir();
  const dir = path.join(base, `mking-ops-${name}-${process.pid}-${randomBytes(3).toString("hex")}`);
  const make = async (folder: string): Promise<string> => {
    await mkdir(folder, { recursive: true, mode: 0o700 });
    if (user.uid !== undefined) await chown(folder, user.uid, user.gid ?? user.uid);
    return folder;
  };
  await make(dir);
  return {
    dir,
    user,
    sub: (...parts) => make(path.join(dir, ...parts)),
    remove: () => rm(dir, { recursive: true, force: true }),
  };
}

/** Runs a program as `user`; throws with its output when it fails. Returns its output. */
export async function mustRun(
  file: string,
  args: readonly string[],
  user: RunAs,
  env: NodeJS.ProcessEnv,
): Promise<string> {
  const { output, failure } = await runAs(file, args, user, env);
  if (failure !== null) {
    throw new Error(`${path.basename(file)} ${args.join(" ")}: ${failure}\n${output}`);
  }
  return output;
}

/** initdb: a new cluster in `dataDir` (which must not exist yet or be empty). */
export async function initCluster(dataDir: string, user: RunAs): Promise<void> {
  await mustRun(
    path.join(PG15_BIN, "initdb"),
    ["-D", dataDir, "-U", "postgres", "--auth=trust", "--encoding=UTF8", "--locale=C"],
    user,
    { PATH: process.env.PATH ?? "/usr/bin:/bin", LANG: "C" },
  );
}

export interface ServerOptions {
  readonly dataDir: string;
  readonly port: number;
  /** Where the Unix socket goes (tools such as pgBackRest connect there). */
  readonly socketDir: string;
  readonly user: RunAs;
  /** Extra `-c name=value` settings. */
  readonly settings?: Readonly<Record<string, string>>;
  /** The server's environment (archive_command and restore_command inherit it). */
  readonly env?: NodeJS.ProcessEnv;
  /**
   * What "started" means: `primary` (default) — read-write, out of recovery; `standby` — in
   * recovery, accepting read-only connections (hot standby).
   */
  readonly role?: "primary" | "standby";
}

export interface Server {
  readonly pid: number;
  /** Everything the server has logged so far. */
  log(): string;
  /** A URL to `database` as the superuser `postgres`, over TCP on the loopback. */
  url(database?: string): string;
  /** Fast shutdown (SIGINT to its PID), resolved once the process has exited. */
  stop(): Promise<void>;
}

const READY = {
  primary: /database system is ready to accept connections/,
  standby: /database system is ready to accept read-only connections/,
};

/**
 * Starts `postgres` in the foreground of a child process and resolves once it accepts
 * connections in the expected role: a primary must have left recovery (after a point-in-time
 * restore that means: reached its target and promoted).
 */
export async function startServer(options: ServerOptions): Promise<Server> {
  const settings: Record<string, string> = {
    listen_addresses: "127.0.0.1",
    port: String(options.port),
    unix_socket_directories: options.socketDir,
    ...options.settings,
  };
  const args = ["-D", options.dataDir];
  for (const [name, value] of Object.entries(settings)) args.push("-c", `${name}=${value}`);
  const child: ChildProcess = spawn(path.join(PG15_BIN, "postgres"), args, {
    ...options.user,
    cwd: "/",
    env: { PATH: "/usr/bin:/bin", LANG: "C", ...options.env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let log = "";
  let onLog = (): void => undefined;
  const collect = (chunk: Buffer): void => {
    log += chunk.toString("utf8");
    onLog();
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  const exited = once(child, "exit").then(() => undefined);
  const url = (database = "postgres"): string =>
    `postgres://postgres@127.0.0.1:${options.port}/${database}`;
  const stop = async (): Promise<void> => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGINT");
    await exited;
  };

  const role = options.role ?? "primary";
  await new Promise<void>((resolve, reject) => {
    onLog = () => {
      if (READY[role].test(log)) resolve();
    };
    onLog();
    void exited.then(() => reject(new Error(`postgres exited while starting:\n${log}`)));
  });
  onLog = () => undefined;
  const client = new pg.Client({ connectionString: url() });
  try {
    await client.connect();
    const { rows } = await client.query<{ recovering: boolean }>(
      "select pg_is_in_recovery() as recovering",
    );
    if (rows[0]?.recovering !== (role === "standby")) {
      throw new Error(`postgres started, but not as a ${role}:\n${log}`);
    }
  } catch (error) {
    await stop();
    throw error;
  } finally {
    await client.end().catch(() => undefined);
  }
  return { pid: child.pid ?? 0, log: () => log, url, stop };
}
