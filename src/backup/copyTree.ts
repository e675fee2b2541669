/**
 * Copies a cluster's folder tree (base backups, restores), with progress and, as root, the
 * files owned by the user the server runs as. Files that vanish during the copy are skipped:
 * a running server removes files, and the base backup procedure allows it (WAL replay
 * recreates what the copy missed).
 */
import { createReadStream, createWriteStream } from "node:fs";
import { chown, lstat, mkdir, readdir, readlink, stat, symlink } from "node:fs/promises";
import path from "node:path";
import { pipeline } from "node:stream/promises";

import type { RunAs } from "../db/postgresUser.ts";
import type { CopyProgress } from "./progress.ts";

export interface CopyTreeOptions {
  from: string;
  to: string;
  /**
   * Whether to copy an entry (path relative to `from`, with `/`): "skip" leaves it out,
   * "empty" keeps a directory but none of its contents, "copy" copies it.
   */
  filter?: (relative: string, isDirectory: boolean) => "copy" | "skip" | "empty";
  /** Owner of what is created (as root: the server's user). */
  owner?: RunAs;
  onProgress?: (p: CopyProgress) => void;
}

function isGone(error: unknown): boolean {
  return (error as NodeJS.ErrnoException).code === "ENOENT";
}

/** Bytes of regular files under `dir` that `filter` copies. */
export async function treeBytes(
  dir: string,
  filter: CopyTreeOptions["filter"] = () => "copy",
  relative = "",
): Promise<number> {
  let total = 0;
  const entries = await readdir(path.join(dir, relative), { withFileTypes: true }).catch(
    (error: unknown) => {
      if (isGone(error)) return [];
      throw error;
    },
  );
  for (const entry of entries) {
    const rel = relative ? `${relative}/${entry.name}` : entry.name;
    const decision = filter(rel, entry.isDirectory());
    if (decision === "skip") continue;
    if (entry.isDirectory()) {
      if (decision === "copy") total += await treeBytes(dir, filter, rel);
    } else if (entry.isFile()) {
      total += await stat(path.join(dir, rel)).then(
        (s) => s.size,
        () => 0,
      );
    }
  }
  return total;
}

async function own(target: string, owner: RunAs | undefined): Promise<void> {
  if (owner?.uid !== undefined && owner.gid !== undefined) {
    await chown(target, owner.uid, owner.gid);
  }
}

/** Copies the tree; returns the bytes copied. `to` must not exist or be empty. */
export async function copyTree(o: CopyTreeOptions): Promise<number> {
  const filter = o.filter ?? (() => "copy");
  const totalBytes = await treeBytes(o.from, filter);
  let bytes = 0;
  const report = (): void => o.onProgress?.({ bytes, totalBytes: Math.max(totalBytes, bytes) });

  const copyDir = async (relative: string): Promise<void> => {
    const source = path.join(o.from, relative);
    const target = path.join(o.to, relative);
    const info = await stat(source);
    await mkdir(target, { recursive: true, mode: info.mode & 0o7777 });
    await own(target, o.owner);
    const entries = await readdir(source, { withFileTypes: true }).catch((error: unknown) => {
      if (isGone(error)) return [];
      throw error;
    });
    for (const entry of entries) {
      const rel = relative ? `${relative}/${entry.name}` : entry.name;
      const decision = filter(rel, entry.isDirectory());
      if (decision === "skip") continue;
      const from = path.join(o.from, rel);
      const to = path.join(o.to, rel);
      try {
        if (entry.isDirectory()) {
          if (decision === "empty") {
            const mode = (await stat(from)).mode & 0o7777;
            await mkdir(to, { recursive: true, mode });
            await own(to, o.owner);
          } else {
            await copyDir(rel);
          }
        } else if (entry.isSymbolicLink()) {
          await symlink(await readlink(from), to);
          await own(to, o.owner).catch(() => undefined);
        } else if (entry.isFile()) {
          const mode = (await lstat(from)).mode & 0o7777;
          const input = createReadStream(from);
          input.on("data", (chunk) => {
            bytes += chunk.length;
            report();
          });
          await pipeline(input, createWriteStream(to, { mode, flags: "wx" }));
          await own(to, o.owner);
        }
      } catch (error) {
        if (!isGone(error)) throw error;
      }
    }
  };
  await copyDir("");
  report();
  return bytes;
}
