/**
 * Reads served from the read cache (src/cache/, docs/SCALING.md "Cache"); installed only when
 * the cache is on (CACHE_ENABLED).
 *
 * - Query.trendingPosts: the global ranking (app_hidden.trending_scores(), the materialised
 *   view, the same for everyone) is cached as a list of post ids, key `trending:all`, dropped
 *   when the view is refreshed. A page passes the database only the slice of the ranking after
 *   the cursor (three times what the page needs: its offset, its rows and one more), and
 *   app_hidden.trending_window returns those the viewer may see, with their rank (row-level
 *   security decides, as the viewer: the ranking says only which posts and in which order);
 *   when it hides too many to fill the page, the function reads on in the view's ranking. The
 *   answer is the uncached field's, row for row; only the cursors differ (a rank in the ranking
 *   instead of a row number).
 */
import { listOfCodec, TYPES } from "postgraphile/@dataplan/pg";
import { access, connection, lambda } from "postgraphile/grafast";
import { wrapPlans } from "postgraphile/utils";

import { trendingWindow } from "../src/cache/trendingWindow.ts";

export interface CachedReads {
  /** The ids of the trending posts, best first (app_hidden.trending_scores()), maybe cached. */
  trendingPostIds(): Promise<string[]>;
}

const UUID_LIST = listOfCodec(TYPES.uuid);

export function makeCachePlugin(reads: CachedReads): GraphileConfig.Plugin {
  return wrapPlans(
    (build) => {
      const { sql } = build;
      const posts = build.pgResources?.posts;
      if (!posts || !sql) throw new Error("CachePlugin: the posts resource is missing");
      return {
        Query: {
          trendingPosts: (_plan, _$root, fieldArgs) => {
            const $window = lambda(
              [
                lambda(null, () => reads.trendingPostIds()),
                fieldArgs.getRaw("first"),
                fieldArgs.getRaw("offset"),
                fieldArgs.getRaw("after"),
              ] as const,
              ([ids, first, offset, after]) => trendingWindow(ids, { first, offset, after }),
            );
            const $posts = posts.find();
            const ranked = sql.identifier(Symbol("trending_window"));
            const args = sql.join(
              [
                sql`${$posts.placeholder(access($window, "ids"), UUID_LIST)}`,
                $posts.placeholder(access($window, "afterRank"), TYPES.int),
                $posts.placeholder(access($window, "need"), TYPES.int),
                $posts.placeholder(access($window, "more"), TYPES.boolean),
              ],
              ", ",
            );
            $posts.join({
              type: "inner",
              from: sql`app_hidden.trending_window(${args})`,
              alias: ranked,
              attributeNames: sql`(post_id, rank)`,
              conditions: [sql`${ranked}.post_id = ${$posts.alias}.id`],
            });
            $posts.orderBy({ fragment: sql`${ranked}.rank`, codec: TYPES.int, direction: "ASC" });
            $posts.setOrderIsUnique();
            return connection($posts);
          },
        },
      };
    },
    { name: "CachePlugin", description: "Reads served from the read cache" },
  );
}
