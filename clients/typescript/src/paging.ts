/**
 * Keyset paging: the API's lists (feeds, comments, messages, notifications) are connections
 * paged by `first` and `after: endCursor`, ordered on (created_at, id), so the 50th page costs
 * what the first does. `pages` walks them all; `Pager` loads one more page at a time (infinite
 * scroll), never two at once.
 */
export interface Page<T> {
  nodes: readonly T[];
  pageInfo: { hasNextPage: boolean; endCursor?: string | null };
}

/** Fetches the page after `after` (null: the first page). */
export type FetchPage<T> = (after: string | null) => Promise<Page<T> | null | undefined>;

/** Every page in order, until the last one. */
export async function* pages<T>(fetchPage: FetchPage<T>): AsyncGenerator<readonly T[]> {
  let after: string | null = null;
  for (;;) {
    const page: Page<T> | null | undefined = await fetchPage(after);
    if (!page) return;
    yield page.nodes;
    if (!page.pageInfo.hasNextPage || !page.pageInfo.endCursor) return;
    after = page.pageInfo.endCursor;
  }
}

export class Pager<T> {
  private readonly loaded: T[] = [];
  private cursor: string | null = null;
  private more = true;
  private loading: Promise<readonly T[]> | null = null;
  private readonly fetchPage: FetchPage<T>;

  constructor(fetchPage: FetchPage<T>) {
    this.fetchPage = fetchPage;
  }

  /** Everything loaded so far, in order. */
  get items(): readonly T[] {
    return this.loaded;
  }

  get hasMore(): boolean {
    return this.more;
  }

  /** Loads the next page (or joins the load under way) and returns its items. */
  loadMore(): Promise<readonly T[]> {
    if (!this.more) return Promise.resolve([]);
    this.loading ??= this.fetchPage(this.cursor)
      .then((page) => {
        const nodes = page?.nodes ?? [];
        this.loaded.push(...nodes);
        this.cursor = page?.pageInfo.endCursor ?? null;
        this.more = Boolean(page?.pageInfo.hasNextPage && this.cursor);
        return nodes;
      })
      .finally(() => {
        this.loading = null;
      });
    return this.loading;
  }
}
