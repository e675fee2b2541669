/**
 * Where the embedded cluster's data folder goes.
 *
 * As root the server runs as the system user `postgres`, which must be able to enter every
 * folder above the data folder. The default DATA_DIR, `<project>/.data`, is inside the project,
 * and a project cloned under /root or into a `mktemp -d` folder is out of that user's reach. A
 * cluster that does not exist yet is then kept in a folder it can reach instead, the same one on
 * every start: /var/tmp/mking-friend/<name>-<hash of the requested folder> (one info line says
 * so). An existing cluster out of reach is never replaced by a new, empty one: start-up stops
 * with one line naming the folder and the fix.
 */
import { createHash } from "node:crypto";
import { existsSync } from "node:fs";
import { lstat, mkdir } from "node:fs/promises";
import path from "node:path";

import type { Logger } from "../log.ts";
import { canEnter, firstClosedFolder, POSTGRES_SYSTEM_USER, type RunAs } from "./postgresUser.ts";

/** Where clusters (and the binaries' copy) go when the requested folder is out of reach. */
export const REACHABLE_PLACE = "/var/tmp/mking-friend";

/** The folder used for `requested` when the system user cannot reach it. */
export function relocatedFolder(requested: string): string {
  const hash = createHash("sha256").update(requested).digest("hex").slice(0, 12);
  return path.join(REACHABLE_PLACE, `${path.basename(requested)}-${hash}`);
}

/**
 * A root-owned folder nobody else may write to: whoever could would choose the programs the
 * server runs and read its data.
 */
async function ensureSafeFolder(dir: string, user: RunAs): Promise<void> {
  await mkdir(dir, { recursive: true, mode: 0o755 });
  const stat = await lstat(dir);
  if (!stat.isDirectory() || stat.uid !== process.getuid?.() || (stat.mode & 0o022) !== 0) {
    throw new Error(
      `embedded PostgreSQL: ${dir} must be a folder owned by root that only root may write to; ` +
        `remove it, or set DATA_DIR to a folder the system user "${POSTGRES_SYSTEM_USER}" can reach`,
    );
  }
  if (!(await canEnter(dir, user))) {
    throw new Error(
      `embedded PostgreSQL: the system user "${POSTGRES_SYSTEM_USER}" cannot enter ${dir}; ` +
        `set DATA_DIR to a folder it can reach`,
    );
  }
}

/**
 * The data folder to use for `requested` (absolute): `requested` itself when `user` (the one
 * the server runs as) can reach it, else a folder it can reach (see above).
 */
export async function placeCluster(requested: string, user: RunAs, log: Logger): Promise<string> {
  if (user.uid === undefined) return requested;
  const parent = path.dirname(requested);
  await mkdir(parent, { recursive: true });
  const closed = await firstClosedFolder(parent, user);
  if (closed === null) return requested;
  if (existsSync(path.join(requested, "PG_VERSION"))) {
    throw new Error(
      `embedded PostgreSQL runs as the system user "${POSTGRES_SYSTEM_USER}" when started as ` +
        `root, and that user cannot enter ${closed}, above the database in ${requested}; let it ` +
        `in (chmod o+x ${closed}) or move the database to a folder it can reach and set DATA_DIR`,
    );
  }
  const relocated = relocatedFolder(requested);
  await ensureSafeFolder(REACHABLE_PLACE, user);
  log.info(
    `the system user "${POSTGRES_SYSTEM_USER}", which runs the embedded PostgreSQL as root, ` +
      `cannot enter ${closed}: its data is kept in ${relocated} (set DATA_DIR to choose a place)`,
    { requested, dataDir: relocated },
  );
  return relocated;
}
