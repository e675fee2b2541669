/**
 * Reads everything a data export holds about one person (src/exports/files.ts), as the owner,
 * in one repeatable-read, read-only transaction: every file sees the same moment.
 */
import type pg from "pg";

import { EXPORT_FILES } from "./files.ts";

/** File name → its content: one row (single files; null when absent) or the rows. */
export type GatheredData = Record<
  string,
  Record<string, unknown> | Record<string, unknown>[] | null
>;

export async function gatherPersonalData(
  client: pg.ClientBase,
  userId: string,
): Promise<GatheredData> {
  const data: GatheredData = {};
  await client.query("begin isolation level repeatable read read only");
  try {
    for (const file of EXPORT_FILES) {
      const { rows } = await client.query<Record<string, unknown>>(file.sql, [userId]);
      data[file.name] = file.single ? (rows[0] ?? null) : rows;
    }
    await client.query("commit");
  } catch (error) {
    await client.query("rollback").catch(() => undefined);
    throw error;
  }
  return data;
}
