/**
 * The soak's processes: PostgreSQL (the embedded server, started by src/db/embedded.ts from this
 * process: its postmaster is a child we can SIGQUIT or SIGKILL and start again on the same data
 * folder), and the API and worker instances, each `src/main.ts server|worker` as a child process
 * with DATABASE_URL pointing at it (the environment bench/harness/processes.ts uses).
 *
 * Every child is killed when the soak's process exits; an instance that exits without being
 * asked to is reported (`onUnexpectedExit`) and started again by the caller.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";

import { serviceEnv, type ServiceEnv } from "../bench/harness/processes.ts";
import { ensureOwnerAndDatabase } from "../src/db/connection.ts";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "../src/db/embedded.ts";
import type { Logger } from "../src/log.ts";
import { PROJECT_ROOT } from "../src/paths.ts";

export type InstanceKind = "api" | "worker";

/** A running (or restarting) API or worker instance. */
export interface Instance {
  readonly name: string;
  readonly kind: InstanceKind;
  /** The API's base URL (fixed across restarts: the same port). */
  readonly url: string | null;
  pid(): number | null;
  /** SIGKILL; resolves once the process is gone. */
  kill(): Promise<void>;
  /** Starts it again; resolves once it printed its ready line. */
  start(): Promise<void>;
  /** SIGTERM (SIGKILL after 15 s); no restart. */
  stop(): Promise<void>;
}

export interface InstanceOptions {
  name: string;
  kind: InstanceKind;
  port: number | null;
  service: ServiceEnv;
  extraEnv: Record<string, string>;
  /** Called when the process exits without kill() or stop(): a finding. */
  onUnexpectedExit: (
    name: string,
    code: number | null,
    signal: string | null,
    tail: string,
  ) => void;
}

const READY: Record<InstanceKind, RegExp> = {
  api: /GraphQL API ready at/,
  worker: /worker ready/,
};

function exitOf(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => child.once("exit", () => resolve()));
}

export function makeInstance(o: InstanceOptions): Instance {
  let child: ChildProcess | null = null;
  let expectingExit = false;
  let tail = "";
  const env = serviceEnv(o.service, {
    ...(o.port === null ? {} : { PORT: String(o.port) }),
    ...o.extraEnv,
  });
  const killOnExit = (): void => void child?.kill("SIGKILL");
  process.on("exit", killOnExit);

  const start = async (): Promise<void> => {
    expectingExit = false;
    tail = "";
    const c = spawn(process.execPath, ["src/main.ts", o.kind === "api" ? "server" : "worker"], {
      cwd: PROJECT_ROOT,
      env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = c;
    const remember = (chunk: Buffer): void => void (tail = (tail + chunk.toString()).slice(-4000));
    c.stderr?.on("data", remember);
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => {
        c.kill("SIGKILL");
        reject(new Error(`${o.name} was not ready within 90 s:\n${tail}`));
      }, 90_000);
      let buffered = "";
      c.stdout?.on("data", (chunk: Buffer) => {
        remember(chunk);
        buffered += chunk.toString();
        const lines = buffered.split("\n");
        buffered = lines.pop() ?? "";
        if (lines.some((line) => READY[o.kind].test(line))) {
          clearTimeout(timer);
          resolve();
        }
      });
      c.once("exit", (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`${o.name} exited (${code ?? signal}) before it was ready:\n${tail}`));
      });
    });
    c.once("exit", (code, signal) => {
      if (!expectingExit) o.onUnexpectedExit(o.name, code, signal, tail);
    });
  };

  const kill = async (): Promise<void> => {
    const c = child;
    if (!c) return;
    expectingExit = true;
    c.kill("SIGKILL");
    await exitOf(c);
  };

  const stop = async (): Promise<void> => {
    const c = child;
    if (!c) return;
    expectingExit = true;
    c.kill("SIGTERM");
    const timer = setTimeout(() => c.kill("SIGKILL"), 15_000);
    await exitOf(c);
    clearTimeout(timer);
    process.removeListener("exit", killOnExit);
  };

  return {
    name: o.name,
    kind: o.kind,
    url: o.port === null ? null : `http://127.0.0.1:${o.port}`,
    pid: () => child?.pid ?? null,
    kill,
    start,
    stop,
  };
}

/** The embedded PostgreSQL of the soak, which a fault may kill and start again. */
export interface Database {
  readonly port: number;
  readonly dataDir: string;
  readonly ownerUrl: string;
  readonly superuserUrl: string;
  /** Whether faults may restart it (false with DATABASE_URL: someone else's server). */
  readonly restartable: boolean;
  /**
   * Stops the server the hard way: `immediate` is SIGQUIT to the postmaster (immediate shutdown:
   * no checkpoint, crash recovery on the next start), `kill` is SIGKILL of the postmaster.
   */
  crash(mode: "immediate" | "kill"): Promise<void>;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface EmbeddedDatabaseOptions {
  dataDir: string;
  port: number;
  database: string;
  owner: { role: string; password: string };
  log: Logger;
}

function postmasterPid(dataDir: string): number | null {
  const file = `${dataDir}/postmaster.pid`;
  if (!existsSync(file)) return null;
  const pid = Number(readFileSync(file, "utf8").split("\n")[0]);
  return Number.isInteger(pid) && pid > 0 ? pid : null;
}

export async function startEmbeddedDatabase(o: EmbeddedDatabaseOptions): Promise<Database> {
  const superuserPassword = "soak-superuser";
  const boot = (): Promise<EmbeddedPostgres> =>
    startEmbeddedPostgres({
      dataDir: o.dataDir,
      port: o.port,
      superuserPassword,
      log: o.log,
      throwaway: false,
      // a small server, like a development one; crash recovery must be quick
      settings: { max_connections: "200", fsync: "on" },
    });
  let server = await boot();
  await ensureOwnerAndDatabase(server.superuserUrl("postgres"), {
    role: o.owner.role,
    password: o.owner.password,
    database: o.database,
  });
  const ownerUrl = `postgres://${o.owner.role}:${encodeURIComponent(o.owner.password)}@127.0.0.1:${o.port}/${o.database}`;
  return {
    port: o.port,
    dataDir: server.dataDir,
    ownerUrl,
    superuserUrl: server.superuserUrl(o.database),
    restartable: true,
    crash: async (mode) => {
      const pid = postmasterPid(server.dataDir);
      if (pid === null) throw new Error("the embedded PostgreSQL has no postmaster.pid");
      process.kill(pid, mode === "immediate" ? "SIGQUIT" : "SIGKILL");
      // stop() now only waits for the postmaster's exit and ends its watchdog
      await server.stop();
    },
    start: async () => {
      server = await boot();
    },
    stop: () => server.stop(),
  };
}
