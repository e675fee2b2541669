/**
 * Patroni (Debian's `patroni` 3.0) and a single-member etcd (Debian's `etcd-server` 3.4), each
 * started by a test as a child process in a folder of its own (test/ops/helpers/postgres15.ts
 * `opsFolder`), on free loopback ports, and stopped by PID: nothing system-wide (no service, no
 * /etc/patroni). Patroni runs as the system user `postgres` when we are root, since it starts
 * PostgreSQL itself; etcd runs as ourselves.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { readFile, writeFile, chown } from "node:fs/promises";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";

import { stringify } from "yaml";

import type { RunAs } from "../../../src/db/postgresUser.ts";
import { freePort, groupMembers, isAlive, waitUntil } from "../../helpers/process.ts";
import { PG15_BIN, type OpsFolder } from "./postgres15.ts";

export const SCOPE = "mking";
export const SUPERUSER = { name: "postgres", password: "patroni-superuser" };
export const REPLICATOR = { name: "replicator", password: "patroni-replicator" };

/** A child process whose output is kept (for failure messages). */
interface Child {
  readonly child: ChildProcess;
  readonly pid: number;
  output(): string;
  readonly exited: Promise<void>;
  running(): boolean;
}

function startChild(file: string, args: string[], user: RunAs, cwd: string): Child {
  const child = spawn(file, args, {
    ...user,
    cwd,
    env: { PATH: "/usr/bin:/bin", LANG: "C.UTF-8", HOME: cwd },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let output = "";
  const collect = (chunk: Buffer): void => {
    output += chunk.toString("utf8");
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  // a program that cannot start shows as an early exit, not as an unhandled 'error' event
  const exited = new Promise<void>((resolve) => {
    child.once("error", (error) => {
      output += `\ncannot start ${file}: ${error.message}`;
      resolve();
    });
    void once(child, "exit").then(() => resolve());
  });
  return {
    child,
    pid: child.pid ?? 0,
    output: () => output,
    exited,
    running: () => child.exitCode === null && child.signalCode === null && child.pid !== undefined,
  };
}

/** SIGTERM, SIGKILL after `graceMs`; resolves once it has exited. */
async function stopChild(c: Child, graceMs: number): Promise<void> {
  if (!c.running()) return;
  c.child.kill("SIGTERM");
  const timer = setTimeout(() => c.child.kill("SIGKILL"), graceMs);
  try {
    await c.exited;
  } finally {
    clearTimeout(timer);
  }
}

export interface Etcd {
  /** host:port of its client API. */
  readonly endpoint: string;
  log(): string;
  stop(): Promise<void>;
}

/** One etcd member (a cluster of one), its data under `folder/etcd`, resolved once it serves. */
export async function startEtcd(folder: OpsFolder): Promise<Etcd> {
  const [clientPort, peerPort] = [await freePort(), await freePort()];
  const client = `http://127.0.0.1:${clientPort}`;
  const peer = `http://127.0.0.1:${peerPort}`;
  const etcd = startChild(
    "/usr/bin/etcd",
    [
      "--name=etcd1",
      `--data-dir=${path.join(folder.dir, "etcd")}`,
      `--listen-client-urls=${client}`,
      `--advertise-client-urls=${client}`,
      `--listen-peer-urls=${peer}`,
      `--initial-advertise-peer-urls=${peer}`,
      `--initial-cluster=etcd1=${peer}`,
      "--initial-cluster-state=new",
      `--initial-cluster-token=mking-${process.pid}`,
    ],
    {},
    folder.dir,
  );
  const self: Etcd = {
    endpoint: `127.0.0.1:${clientPort}`,
    log: etcd.output,
    stop: () => stopChild(etcd, 10_000),
  };
  try {
    await until("etcd serves", 30_000, async () => {
      if (!etcd.running()) throw new GaveUp(`etcd exited:\n${etcd.output()}`);
      const response = await fetch(`${client}/health`);
      const body = (await response.json()) as { health?: string };
      return body.health === "true" ? true : null;
    });
  } catch (error) {
    await self.stop();
    throw error;
  }
  return self;
}

export interface PatroniNode {
  readonly name: string;
  /** PostgreSQL's port (Patroni starts and stops the server). */
  readonly port: number;
  readonly dataDir: string;
  /** Base URL of Patroni's REST API. */
  readonly rest: string;
  /** Superuser URL to `database` over TCP on the loopback. */
  url(database?: string): string;
  /** HTTP status of GET `rest + path` (/primary, /replica, …), or null when nothing answers. */
  status(path: string): Promise<number | null>;
  /** GET /patroni: Patroni's view of this node (role, state, timeline, replication). */
  state(): Promise<PatroniState>;
  /** Patroni's log (its own lines and PostgreSQL's, which it passes on). */
  log(): string;
  /**
   * A crash: SIGKILL to Patroni, then to its postmaster (PID from postmaster.pid); resolves
   * once every process of that server has gone.
   */
  kill(): Promise<void>;
  /** Stops Patroni (which stops PostgreSQL), or whatever is left of it after `kill`. */
  stop(): Promise<void>;
}

export interface PatroniState {
  readonly state?: string;
  /** "master" (Patroni 3.0) or "primary" (later versions) for the leader; "replica" otherwise. */
  readonly role?: string;
  readonly timeline?: number;
  readonly replication?: readonly { application_name: string; state: string }[];
}

export interface NodeOptions {
  readonly name: string;
  readonly folder: OpsFolder;
  readonly etcd: Etcd;
  /** DCS timing (bootstrap.dcs): seconds. */
  readonly ttl: number;
  readonly loopWait: number;
  readonly retryTimeout: number;
}

/** patroni.yml for one node, as an operator would write it (docs/OPERATIONS.md). */
function config(o: NodeOptions, restPort: number, pgPort: number, dataDir: string): string {
  return stringify({
    scope: SCOPE,
    name: o.name,
    restapi: { listen: `127.0.0.1:${restPort}`, connect_address: `127.0.0.1:${restPort}` },
    etcd3: { host: o.etcd.endpoint },
    bootstrap: {
      dcs: {
        ttl: o.ttl,
        loop_wait: o.loopWait,
        retry_timeout: o.retryTimeout,
        maximum_lag_on_failover: 1048576,
        postgresql: { use_pg_rewind: false },
      },
      initdb: [{ encoding: "UTF8" }, { locale: "C" }, { auth: "scram-sha-256" }],
    },
    postgresql: {
      listen: `127.0.0.1:${pgPort}`,
      connect_address: `127.0.0.1:${pgPort}`,
      data_dir: dataDir,
      bin_dir: PG15_BIN,
      pgpass: path.join(o.folder.dir, `${o.name}.pgpass`),
      authentication: {
        superuser: { username: SUPERUSER.name, password: SUPERUSER.password },
        replication: { username: REPLICATOR.name, password: REPLICATOR.password },
      },
      parameters: { unix_socket_directories: o.folder.dir },
      pg_hba: [
        `host replication ${REPLICATOR.name} 127.0.0.1/32 scram-sha-256`,
        "host all all 127.0.0.1/32 scram-sha-256",
      ],
    },
  });
}

/** Writes the node's patroni.yml and starts `patroni` on it (it bootstraps or clones itself). */
export async function startPatroniNode(o: NodeOptions): Promise<PatroniNode> {
  const [restPort, port] = [await freePort(), await freePort()];
  const dataDir = path.join(o.folder.dir, o.name);
  const file = path.join(o.folder.dir, `${o.name}.yml`);
  await writeFile(file, config(o, restPort, port, dataDir), { mode: 0o600 });
  if (o.folder.user.uid !== undefined) {
    await chown(file, o.folder.user.uid, o.folder.user.gid ?? o.folder.user.uid);
  }
  const patroni = startChild("/usr/bin/patroni", [file], o.folder.user, o.folder.dir);
  const rest = `http://127.0.0.1:${restPort}`;

  const postmaster = async (): Promise<number | null> => {
    const text = await readFile(path.join(dataDir, "postmaster.pid"), "utf8").catch(() => "");
    const pid = Number(text.split("\n")[0]);
    return Number.isInteger(pid) && pid > 0 && isAlive(pid) ? pid : null;
  };
  /** SIGKILL to the postmaster, if one runs; resolves once it and its backends have gone. */
  const killServer = async (): Promise<void> => {
    const pid = await postmaster();
    if (pid === null) return;
    // its backends share its process group (Patroni starts it in a session of its own)
    const stat = await readFile(`/proc/${pid}/stat`, "utf8").catch(() => "");
    const pgid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[2]);
    process.kill(pid, "SIGKILL");
    // the backends notice their postmaster's death and exit on their own
    await waitUntil(
      `postgres of ${o.name} (pid ${pid}) and its processes exit`,
      () => !isAlive(pid) && (pgid > 0 ? groupMembers(pgid).length === 0 : true),
      15_000,
    );
  };

  return {
    name: o.name,
    port,
    dataDir,
    rest,
    url: (database = "postgres") =>
      `postgres://${SUPERUSER.name}:${SUPERUSER.password}@127.0.0.1:${port}/${database}`,
    async status(p) {
      try {
        const response = await fetch(rest + p, { signal: AbortSignal.timeout(2_000) });
        await response.arrayBuffer();
        return response.status;
      } catch {
        return null;
      }
    },
    async state() {
      const response = await fetch(`${rest}/patroni`, { signal: AbortSignal.timeout(2_000) });
      return (await response.json()) as PatroniState;
    },
    log: patroni.output,
    async kill() {
      if (patroni.running()) patroni.child.kill("SIGKILL");
      await patroni.exited;
      await killServer();
    },
    async stop() {
      // Patroni stops PostgreSQL (fast shutdown) when it gets SIGTERM
      await stopChild(patroni, 30_000);
      await killServer();
    },
  };
}

/** Thrown by a probe for `until` to stop waiting at once (other errors count as "not yet"). */
export class GaveUp extends Error {}

/** Polls `probe` every 100 ms until it returns a value (not null). */
export async function until<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | null>,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: unknown = null;
  for (;;) {
    try {
      const value = await probe();
      if (value !== null) return value;
    } catch (error) {
      if (error instanceof GaveUp) throw error;
      last = error;
    }
    if (Date.now() > deadline) {
      const why = last instanceof Error ? ` (last error: ${last.message})` : "";
      throw new Error(`still waiting after ${timeoutMs} ms: ${what}${why}`);
    }
    await delay(100);
  }
}
