/** Runs the service's real entry points as child processes, on the same Node as the tests. */
import { spawn, type ChildProcessWithoutNullStreams } from "node:child_process";
import { once } from "node:events";
import { readdirSync, readFileSync } from "node:fs";

import { PROJECT_ROOT } from "../../src/paths.ts";

export interface RunningProcess {
  readonly child: ChildProcessWithoutNullStreams;
  /** Everything written to stdout and stderr so far. */
  output(): string;
  /** Resolves with the first match of `pattern` in the output, waiting for it if needed. */
  waitFor(pattern: RegExp): Promise<RegExpMatchArray>;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

export interface StartOptions {
  /** The program to run; default: this Node, with `args` as its arguments. */
  command?: string;
  /**
   * Run it in a new session and process group (id: the child's pid), as a shell runs a
   * foreground job: `signalGroup` then signals it all, as a terminal's Ctrl-C does.
   */
  detached?: boolean;
  /** Working directory; default: the project's root. */
  cwd?: string;
}

export function startProcess(
  args: string[],
  env: Record<string, string>,
  options: StartOptions = {},
): RunningProcess {
  const child = spawn(options.command ?? process.execPath, args, {
    cwd: options.cwd ?? PROJECT_ROOT,
    env: { PATH: process.env.PATH ?? "", HOME: process.env.HOME ?? "/tmp", ...env },
    detached: options.detached ?? false,
  });
  let output = "";
  const waiters: { pattern: RegExp; resolve: (m: RegExpMatchArray) => void }[] = [];
  const onData = (chunk: Buffer): void => {
    output += chunk.toString("utf8");
    for (const w of [...waiters]) {
      const m = output.match(w.pattern);
      if (m) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(m);
      }
    }
  };
  child.stdout.on("data", onData);
  child.stderr.on("data", onData);
  const exited = once(child, "exit").then(([code]) => code as number | null);
  return {
    child,
    output: () => output,
    exited,
    waitFor: (pattern) =>
      new Promise((resolve, reject) => {
        const m = output.match(pattern);
        if (m) return resolve(m);
        waiters.push({ pattern, resolve });
        void exited.then((code) =>
          reject(new Error(`process exited (${code}) before printing ${pattern}:\n${output}`)),
        );
      }),
  };
}

/** One way to choose a port, for the benchmarks and the tests alike. */
export { freePort } from "../../src/freePort.ts";

/** Sends `signal` to every process in the group `pgid` (a `detached` child's pid). */
export function signalGroup(pgid: number, signal: NodeJS.Signals): void {
  process.kill(-pgid, signal);
}

/** State and process group of `pid` from /proc (Linux), or null when there is no such process. */
function procStat(pid: number): { state: string; pgid: number } | null {
  try {
    // "pid (command) state ppid pgrp ...": the command may hold spaces and parentheses
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const [state = "", , pgid = ""] = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return { state, pgid: Number(pgid) };
  } catch {
    return null;
  }
}

/** Whether `pid` is a live process (a zombie, dead but not yet reaped, counts as gone). */
export function isAlive(pid: number): boolean {
  const stat = procStat(pid);
  return stat !== null && stat.state !== "Z";
}

/** The live (not zombie) processes in the process group `pgid`. */
export function groupMembers(pgid: number): number[] {
  return readdirSync("/proc")
    .filter((name) => /^\d+$/.test(name))
    .map(Number)
    .filter((pid) => {
      const stat = procStat(pid);
      return stat !== null && stat.pgid === pgid && stat.state !== "Z";
    });
}

/**
 * Waits until `gone()` holds: for processes this one is not the parent of (so no exit event
 * reaches it), checked every 50 ms; rejects after `timeoutMs`.
 */
export async function waitUntil(
  what: string,
  gone: () => boolean,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!gone()) {
    if (Date.now() > deadline) throw new Error(`still waiting after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}
