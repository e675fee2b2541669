/** Where the embedded cluster is, and what a restore's arguments ask for (src/backup/cli.ts). */
import { existsSync } from "node:fs";
import path from "node:path";

import type { Config } from "../config.ts";
import { relocatedFolder } from "../db/embeddedPlace.ts";
import type { RestoreTarget } from "./restore.ts";

/** The embedded cluster's data folder: where it was asked to be, or where it was relocated. */
export function clusterDirOf(config: Config): string {
  const requested = path.resolve(config.embeddedPostgres.dataDir);
  if (existsSync(path.join(requested, "PG_VERSION"))) return requested;
  const relocated = relocatedFolder(requested);
  return existsSync(path.join(relocated, "PG_VERSION")) ? relocated : requested;
}

export function parseTarget(args: readonly string[]): RestoreTarget {
  if (args.includes("--latest")) return "latest";
  const at = args.indexOf("--to");
  const text = at >= 0 ? args[at + 1] : undefined;
  if (!text) throw new Error('db:restore needs --to "<timestamp>" or --latest');
  const time = new Date(text);
  if (Number.isNaN(time.getTime())) throw new Error(`db:restore: not a time: ${text}`);
  return { time };
}
