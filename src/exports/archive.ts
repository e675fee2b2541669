/**
 * Turns gathered data into the export's zip (JSON files, manifest.json, README.md) and writes
 * it readable by the service only (0600), atomically: a temporary file renamed into place.
 */
import { chmod, mkdir, rename, rm, writeFile } from "node:fs/promises";
import path from "node:path";

import { strToU8, zipSync, type Zippable } from "fflate";

import { EXPORT_FILES } from "./files.ts";
import type { GatheredData } from "./gather.ts";
import { EXPORT_FORMAT, EXPORT_FORMAT_VERSION, exportReadme } from "./readme.ts";

export interface Manifest {
  format: string;
  version: number;
  export_id: string;
  user_id: string;
  exported_at: string;
  files: Record<string, number>;
}

export function buildArchive(
  data: GatheredData,
  meta: { exportId: string; userId: string; exportedAt: Date },
): Uint8Array {
  const mtime = meta.exportedAt;
  const entries: Zippable = {};
  const counts: Record<string, number> = {};
  for (const file of EXPORT_FILES) {
    const content = data[file.name] ?? (file.single ? null : []);
    counts[file.name] = Array.isArray(content) ? content.length : content ? 1 : 0;
    entries[file.name] = [strToU8(JSON.stringify(content, null, 2) + "\n"), { mtime }];
  }
  const manifest: Manifest = {
    format: EXPORT_FORMAT,
    version: EXPORT_FORMAT_VERSION,
    export_id: meta.exportId,
    user_id: meta.userId,
    exported_at: meta.exportedAt.toISOString(),
    files: counts,
  };
  entries["manifest.json"] = [strToU8(JSON.stringify(manifest, null, 2) + "\n"), { mtime }];
  entries["README.md"] = [strToU8(exportReadme()), { mtime }];
  return zipSync(entries, { level: 6 });
}

/** Writes `bytes` to `file` (mode 0600; its folder 0700), replacing it atomically. */
export async function writeArchive(file: string, bytes: Uint8Array): Promise<void> {
  await mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const temporary = `${file}.${process.pid}.tmp`;
  try {
    await writeFile(temporary, bytes, { mode: 0o600 });
    await chmod(temporary, 0o600); // whatever the umask
    await rename(temporary, file);
  } catch (error) {
    await rm(temporary, { force: true });
    throw error;
  }
}

/** Where archives are kept, relative to DATA_DIR, and the key of one. */
export const EXPORTS_FOLDER = "exports";
export const archiveKey = (exportId: string): string => `${EXPORTS_FOLDER}/${exportId}.zip`;
/** Only keys this module makes are ever opened or deleted. */
export const ARCHIVE_KEY =
  /^exports\/[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}\.zip$/;
