/**
 * Applies `policies/*.sql` (row-level security, grants, policy helpers) in file-name order, in one
 * transaction: a broken file leaves the previous policies in force. Every file is idempotent, so
 * this runs after every migrate.
 */
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";

import type pg from "pg";

import { POLICIES_DIR } from "../paths.ts";

export async function policyFiles(dir: string = POLICIES_DIR): Promise<string[]> {
  return (await readdir(dir))
    .filter((f) => f.endsWith(".sql"))
    .sort()
    .map((f) => path.join(dir, f));
}

export async function applyPolicies(
  client: pg.ClientBase,
  dir: string = POLICIES_DIR,
): Promise<number> {
  const files = await policyFiles(dir);
  await client.query("begin");
  try {
    for (const file of files) {
      const sql = await readFile(file, "utf8");
      try {
        await client.query(sql);
      } catch (error) {
        throw new Error(`policies: ${path.basename(file)}: ${(error as Error).message}`, {
          cause: error,
        });
      }
    }
    await client.query("commit");
  } catch (error) {
    await client.query("rollback");
    throw error;
  }
  return files.length;
}
