/**
 * The processes under test, each a child of the benchmark (so the load generator does not
 * share their event loop): our API (`src/main.ts server`, production mode), the worker
 * (`src/main.ts worker`), the raw-SQL baseline (bench/raw/server.ts) and PostGraphile 4
 * (bench/peer). Each is ready when it prints its ready line; each is stopped with SIGTERM
 * (SIGKILL after a grace period) and never outlives the benchmark.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { closeSync, openSync, readSync, watch } from "node:fs";
import path from "node:path";

import { freePort } from "../../src/freePort.ts";
import { PROJECT_ROOT } from "../../src/paths.ts";

export interface Child {
  readonly name: string;
  readonly pid: number;
  /** What the ready line matched (e.g. the port). */
  readonly ready: RegExpMatchArray;
  stop(): Promise<void>;
}

/** Every child running now, so an interrupted benchmark can stop them all. */
const running = new Set<Child>();

/** Stops every child this process started and has not stopped yet. */
export async function stopAllChildren(): Promise<void> {
  await Promise.all([...running].map((c) => c.stop()));
}

export { freePort };

function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms).unref();
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/**
 * Where a child's output goes instead of a pipe to the benchmark: a file (appended), its stdout
 * and stderr both. The child writes to it directly (its fd 1 and 2), so its output costs the
 * benchmark's process nothing, however much there is (metricsOverhead.ts: an access log line per
 * request). Production writes logs to stdout for the platform to collect; writing them to a file
 * descriptor is a fair stand-in for that.
 */
export interface ChildOutput {
  file: string;
}

/** Calls `onChunk` with what is appended to `file`, until the returned function is called. */
function followFile(file: string, onChunk: (chunk: Buffer) => void): () => void {
  let offset = 0;
  const buffer = Buffer.alloc(64 * 1024);
  const read = (): void => {
    const fd = openSync(file, "r");
    try {
      for (let n = readSync(fd, buffer, 0, buffer.length, offset); n > 0;) {
        offset += n;
        onChunk(Buffer.from(buffer.subarray(0, n)));
        n = readSync(fd, buffer, 0, buffer.length, offset);
      }
    } finally {
      closeSync(fd);
    }
  };
  const watcher = watch(file, read);
  // fs.watch misses what was written before it was set up, and is not told on every file
  // system: read now, and every 250 ms as well
  const timer = setInterval(read, 250);
  read();
  return () => {
    watcher.close();
    clearInterval(timer);
  };
}

/**
 * Starts `node <args>` in the project folder; resolves when a line of output matches `ready`.
 * Its output goes to a pipe the benchmark drains, or with `output` to a file.
 */
export async function startChild(
  name: string,
  args: string[],
  env: Record<string, string>,
  ready: RegExp,
  timeoutMs = 60_000,
  output: ChildOutput | null = null,
): Promise<Child> {
  const fd = output ? openSync(output.file, "a") : null;
  const child = spawn(process.execPath, args, {
    cwd: PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "", ...env },
    stdio: fd === null ? ["ignore", "pipe", "pipe"] : ["ignore", fd, fd],
  });
  if (fd !== null) closeSync(fd); // the child has its own
  const killOnExit = (): void => void child.kill("SIGKILL");
  process.once("exit", killOnExit);
  child.once("exit", () => process.removeListener("exit", killOnExit));
  let tail = "";
  let onData: ((chunk: Buffer) => void) | null = null;
  let unfollow: (() => void) | null = null;
  const onError = (chunk: Buffer): void => void (tail = (tail + chunk.toString()).slice(-4000));
  const stop = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    if (!(await exited(child, 10_000))) {
      child.kill("SIGKILL");
      await exited(child, 5_000);
    }
  };
  const match = await new Promise<RegExpMatchArray>((resolve, reject) => {
    const timer = setTimeout(() => {
      void stop();
      reject(new Error(`${name} was not ready within ${timeoutMs} ms:\n${tail}`));
    }, timeoutMs);
    let buffered = "";
    onData = (chunk: Buffer): void => {
      const text = chunk.toString();
      tail = (tail + text).slice(-4000);
      buffered += text;
      const lines = buffered.split("\n");
      buffered = lines.pop() ?? "";
      for (const line of lines) {
        const m = ready.exec(line);
        if (m) {
          clearTimeout(timer);
          resolve(m);
        }
      }
    };
    if (output) unfollow = followFile(output.file, onData);
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onError);
    child.once("exit", (code) => {
      clearTimeout(timer);
      reject(new Error(`${name} exited (code ${code}) before it was ready:\n${tail}`));
    });
  }).finally(() => unfollow?.());
  // Keep draining a pipe so the child never blocks on it (without reading it). Draining still
  // costs this process a wake-up per chunk, and a child blocks while it is busy: where the
  // output is heavy (an access log line per request), give the child a file (ChildOutput).
  if (onData) child.stdout?.off("data", onData);
  child.stderr?.off("data", onError);
  child.stdout?.resume();
  child.stderr?.resume();
  if (child.pid === undefined) throw new Error(`${name} has no process id`);
  const handle: Child = {
    name,
    pid: child.pid,
    ready: match,
    stop: async () => {
      running.delete(handle);
      await stop();
    },
  };
  running.add(handle);
  return handle;
}

/** The environment our service needs to run against the benchmark database. */
export interface ServiceEnv {
  ownerUrl: string;
  authUrl: string;
  authenticatorPassword: string;
  jwtSecret: string;
}

export function serviceEnv(
  s: ServiceEnv,
  extra: Record<string, string> = {},
): Record<string, string> {
  return {
    NODE_ENV: "production",
    DATABASE_URL: s.ownerUrl,
    AUTH_DATABASE_URL: s.authUrl,
    DATABASE_AUTHENTICATOR_PASSWORD: s.authenticatorPassword,
    JWT_SECRET: s.jwtSecret,
    HOST: "127.0.0.1",
    MIGRATE_ON_START: "false",
    LOG_LEVEL: "info",
    // the benchmark opens many sockets per instance, and pages of 100 while preparing
    REALTIME_MAX_CONNECTIONS_PER_USER: "10000",
    REALTIME_MAX_SUBSCRIPTIONS_PER_USER: "100000",
    // a benchmark measures throughput, not the flood limit: its few users write far faster
    MUTATIONS_PER_MINUTE_PER_USER: "10000000",
    ...extra,
  };
}

/** Our API in production mode; resolves with its base URL. */
export async function startApi(
  s: ServiceEnv,
  extra: Record<string, string> = {},
  output: ChildOutput | null = null,
): Promise<Child & { url: string }> {
  const port = await freePort();
  const child = await startChild(
    "api",
    ["src/main.ts", "server"],
    serviceEnv(s, { PORT: String(port), ...extra }),
    /GraphQL API ready at (http:\/\/[^/\s"]+)\/graphql/,
    undefined,
    output,
  );
  return Object.assign(child, { url: child.ready[1]! });
}

export async function startWorker(
  s: ServiceEnv,
  extra: Record<string, string> = {},
): Promise<Child> {
  // no schedule: a nightly purge (soft-deleted posts at 04:20 UTC…) would change the data set
  return startChild(
    "worker",
    ["src/main.ts", "worker"],
    serviceEnv(s, { WORKER_CRON: "false", ...extra }),
    /worker ready/,
  );
}

/** The raw-SQL baseline server; resolves with its base URL. */
export async function startRaw(
  s: ServiceEnv,
  extra: Record<string, string> = {},
): Promise<Child & { url: string }> {
  const child = await startChild(
    "raw",
    [path.join("bench", "raw", "server.ts")],
    serviceEnv(s, { RAW_PORT: "0", ...extra }),
    /raw server listening (\d+)/,
  );
  return Object.assign(child, { url: `http://127.0.0.1:${child.ready[1]}` });
}
