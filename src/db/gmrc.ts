/** graphile-migrate settings: the committed `.gmrc` plus connection strings from the config. */
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";

import { Logger, type Settings } from "graphile-migrate";

import type { Logger as AppLogger } from "../log.ts";
import { GMRC_PATH, PROJECT_ROOT } from "../paths.ts";

export interface MigrateConnections {
  ownerUrl: string;
  /** Needed by reset/watch/commit only. */
  rootUrl?: string | null;
  /** Needed by watch/commit only. */
  shadowUrl?: string | null;
}

/** Routes graphile-migrate's messages into our logger. */
function migrateLogger(log: AppLogger): Logger {
  return new Logger(() => (level, message) => {
    const text = message.trim();
    if (!text) return;
    const severity = String(level);
    if (severity === "error") log.error(text, { component: "graphile-migrate" });
    else if (severity === "warning") log.warn(text, { component: "graphile-migrate" });
    else log.info(text, { component: "graphile-migrate" });
  });
}

export async function migrateSettings(
  connections: MigrateConnections,
  log: AppLogger,
): Promise<Settings> {
  // .gmrc's command actions say `node ...`: make that the Node running us (24), not whatever
  // older `node` comes first on PATH when this was started outside npm.
  const nodeDir = path.dirname(process.execPath);
  if (!(process.env.PATH ?? "").startsWith(nodeDir + path.delimiter)) {
    process.env.PATH = nodeDir + path.delimiter + (process.env.PATH ?? "");
  }
  const committed = JSON.parse(await readFile(GMRC_PATH, "utf8")) as Settings;
  return {
    ...committed,
    migrationsFolder: path.resolve(PROJECT_ROOT, committed.migrationsFolder ?? "migrations"),
    connectionString: connections.ownerUrl,
    ...(connections.rootUrl ? { rootConnectionString: connections.rootUrl } : {}),
    ...(connections.shadowUrl ? { shadowConnectionString: connections.shadowUrl } : {}),
    logger: migrateLogger(log),
  };
}

/**
 * graphile-migrate keeps a pool per connection string alive for 200 ms after each command, and
 * exits the process if one of its idle connections errors — as they all do when we stop the
 * embedded server right after migrating. Releasing the idle pools first avoids that. (Internal
 * module of graphile-migrate 1.4, which has no `exports` map; covered by the db:migrate test.)
 */
export function releaseMigratePools(): void {
  const pgReal = createRequire(import.meta.url)("graphile-migrate/dist/pgReal.js") as {
    clearAllPools?: () => void;
  };
  pgReal.clearAllPools?.();
}
