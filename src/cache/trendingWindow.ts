/**
 * Which slice of the cached trending ranking a page of Query.trendingPosts needs
 * (plugins/cache.ts): the ids after the cursor's rank, three times the rows the page needs, so
 * that row-level security may hide two in three before the database has to read on
 * (app_hidden.trending_window). Passing the whole ranking instead (5,468 ids at scale 1) costs
 * more than the uncached read: every id is sent, parsed and checked on each request.
 */

/** Slice length per row the page needs. */
export const WINDOW_FACTOR = 3;

export interface TrendingWindow {
  /** The slice of the ranking, best first. */
  ids: string[];
  /** The rank (1-based) of the post before the slice: its ids have ranks afterRank + 1, … */
  afterRank: number;
  /** Visible posts the page needs (offset + first + 1), or null: all of them. */
  need: number | null;
  /** Whether the ranking goes on after the slice. */
  more: boolean;
}

/**
 * The rank a cursor of the cached field names: its cursors are `[digest, rank]` (pgSelect's
 * order cursors, base64 JSON). 0 when there is none, or it is not one of ours: then pgSelect
 * rejects it, as it rejects any foreign cursor.
 */
export function cursorRank(cursor: unknown): number {
  if (typeof cursor !== "string" || cursor === "") return 0;
  try {
    const parsed: unknown = JSON.parse(Buffer.from(cursor, "base64").toString("utf8"));
    const rank = Array.isArray(parsed) ? (parsed as unknown[])[1] : undefined;
    return typeof rank === "number" && Number.isSafeInteger(rank) && rank > 0 ? rank : 0;
  } catch {
    return 0;
  }
}

const count = (n: unknown): number | null =>
  typeof n === "number" && Number.isSafeInteger(n) && n >= 0 ? n : null;

export function trendingWindow(
  ranking: readonly string[],
  page: { first: unknown; offset: unknown; after: unknown },
): TrendingWindow {
  const afterRank = Math.min(cursorRank(page.after), ranking.length);
  const first = count(page.first);
  const need = first === null ? null : (count(page.offset) ?? 0) + first + 1;
  const end =
    need === null ? ranking.length : Math.min(ranking.length, afterRank + WINDOW_FACTOR * need);
  return { ids: ranking.slice(afterRank, end), afterRank, need, more: end < ranking.length };
}
