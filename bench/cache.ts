/**
 * `npm run bench:cache -- [--scale 1] [--seconds 5] [--runs 3] [--concurrency 8]`
 *
 * Does the read cache (src/cache/, docs/SCALING.md "Cache") pay? On the benchmark's data set
 * (`<database>_bench`, seeded at `--scale` when it is not already), two API instances in
 * production mode: one with the cache (CACHE_ENABLED=true, in-process store), one without.
 * For each cached read, load runs alternate between them (with, without, with, …) so a noisy
 * machine costs both alike; each run reports throughput, latency and, for the cached instance,
 * the hit rate from its own counters (mking_cache_requests_total on METRICS_PORT).
 *
 * The trending ranking is refreshed first (app_private.refresh_views(): the view holds the last
 * two days' posts, and a data set seeded earlier may have aged out of it).
 *
 * Writes bench/results/cache-<date>.json and prints a Markdown table; BENCHMARKS.md is left alone.
 */
import { randomBytes } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";

import pg from "pg";

import { loadConfig } from "../src/config.ts";
import { connectDatabase } from "../src/db/connection.ts";
import { createLogger } from "../src/log.ts";
import { PROJECT_ROOT } from "../src/paths.ts";
import { tokenServiceFor } from "../src/server.ts";
import { ensureBenchDatabase } from "./harness/benchDatabase.ts";
import { runLoad, type LoadResult } from "./harness/load.ts";
import { freePort, serviceEnv, startApi, stopAllChildren } from "./harness/processes.ts";
import { benchSessionId, ensureBenchSessions } from "./harness/sessions.ts";
import { median, round } from "./harness/stats.ts";
import { loadBenchConfig } from "./harness/benchConfig.ts";
import { script, type Fail } from "./harness/script.ts";

const cli = script("bench:cache");
const { say, positive, stopOnSignals } = cli;
const fail: Fail = cli.fail;
const { values } = cli.parse({
  options: {
    scale: { type: "string", default: "1" },
    seconds: { type: "string", default: "5" },
    runs: { type: "string", default: "3" },
    concurrency: { type: "string", default: "8" },
  },
});
const scale = positive("scale", values.scale);
const seconds = positive("seconds", values.seconds);
const runs = positive("runs", values.runs);
const connections = positive("concurrency", values.concurrency);

/** The cached reads, as clients send them; `kind` is the cache key's kind. */
const CASES = [
  {
    id: "trending",
    kind: "trending",
    title: "trendingPosts(first: 20), random signed-in viewers",
    query: /* GraphQL */ `
      {
        trendingPosts(first: 20) {
          nodes {
            id
            content
            createdAt
            likesCount
            commentsCount
            author {
              username
              displayName
              avatarUrl
            }
          }
        }
      }
    `,
  },
] as const;

interface Side {
  rps: number[];
  p50: number[];
  p95: number[];
  errors: number;
}
interface CaseResult {
  id: string;
  title: string;
  trendingPosts: number;
  with: Side & { hits: number; misses: number; hitRate: number | null };
  without: Side;
  /** median rps with / median rps without */
  speedup: number | null;
}

const config = loadBenchConfig(fail);

const log = createLogger({ level: "warn", json: false });
const db = await connectDatabase(config, log);
stopOnSignals(() => stopAllChildren().then(() => db.close()));

async function ownerQuery<T extends pg.QueryResultRow>(url: string, text: string): Promise<T[]> {
  const c = new pg.Client({ connectionString: url });
  await c.connect();
  try {
    return (await c.query<T>(text)).rows;
  } finally {
    await c.end();
  }
}

/** hits and misses of `kind` so far, from the instance's /metrics. */
async function counters(metricsUrl: string, kind: string): Promise<{ hit: number; miss: number }> {
  const text = await (await fetch(metricsUrl)).text();
  const read = (result: string): number => {
    const m = new RegExp(
      `^mking_cache_requests_total\\{kind="${kind}",result="${result}"\\} (\\d+)`,
      "m",
    ).exec(text);
    return m ? Number(m[1]) : 0;
  };
  return { hit: read("hit"), miss: read("miss") };
}

const empty = (): Side => ({ rps: [], p50: [], p95: [], errors: 0 });
const add = (side: Side, r: LoadResult): void => {
  side.rps.push(r.rps);
  side.p50.push(r.latencyMs.p50);
  side.p95.push(r.latencyMs.p95);
  side.errors += r.errors;
  if (r.firstError) say(`error: ${r.firstError}`);
};

try {
  const bench = await ensureBenchDatabase({ db, scale, log, say });
  await ownerQuery(bench.ownerUrl, `select app_private.refresh_views()`);
  const [{ n: trendingPosts } = { n: 0 }] = await ownerQuery<{ n: number }>(
    bench.ownerUrl,
    `select count(*)::int as n from app_private.trending_post_scores`,
  );
  say(`the trending view holds ${trendingPosts} posts`);
  await ensureBenchSessions(bench.ownerUrl);
  const viewers = (
    await ownerQuery<{ id: string }>(
      bench.ownerUrl,
      `select id from app_public.users where status = 'active' order by random() limit 300`,
    )
  ).map((r) => r.id);

  const service = {
    ownerUrl: bench.ownerUrl,
    authUrl: bench.authUrl,
    authenticatorPassword: db.authenticator.password,
    jwtSecret: randomBytes(32).toString("base64url"),
  };
  const quiet = { LOG_LEVEL: "info", ACCESS_LOG: "false", ACCESS_TOKEN_TTL_SECONDS: "14400" };
  const tokens = tokenServiceFor(loadConfig(serviceEnv(service, quiet)));
  const tokenOf = new Map(viewers.map((u) => [u, tokens.sign(u, benchSessionId(u)).token]));

  const metricsPort = await freePort();
  const cached = await startApi(service, {
    ...quiet,
    CACHE_ENABLED: "true",
    METRICS_PORT: String(metricsPort),
  });
  const uncached = await startApi(service, { ...quiet, CACHE_ENABLED: "false" });
  const metricsUrl = `http://127.0.0.1:${metricsPort}/metrics`;

  const results: CaseResult[] = [];
  for (const c of CASES) {
    const body = JSON.stringify({ query: c.query });
    const next = () => ({
      path: "/graphql",
      headers: {
        "content-type": "application/json",
        authorization: `Bearer ${tokenOf.get(viewers[Math.floor(Math.random() * viewers.length)]!)}`,
      },
      body,
    });
    // warm both (plans, connections), not counted
    for (const url of [cached.url, uncached.url]) {
      await runLoad({ url, connections, seconds: 1, next });
    }
    const withCache = { ...empty(), hits: 0, misses: 0, hitRate: null as number | null };
    const without = empty();
    for (let i = 0; i < runs; i++) {
      const before = await counters(metricsUrl, c.kind);
      const w = await runLoad({ url: cached.url, connections, seconds, next });
      const after = await counters(metricsUrl, c.kind);
      add(withCache, w);
      withCache.hits += after.hit - before.hit;
      withCache.misses += after.miss - before.miss;
      const wo = await runLoad({ url: uncached.url, connections, seconds, next });
      add(without, wo);
      say(`${c.id} run ${i + 1}: with ${w.rps} req/s, without ${wo.rps} req/s`);
    }
    const lookups = withCache.hits + withCache.misses;
    withCache.hitRate = lookups ? round(withCache.hits / lookups, 4) : null;
    const [a, b] = [median(withCache.rps), median(without.rps)];
    results.push({
      id: c.id,
      title: c.title,
      trendingPosts,
      with: withCache,
      without,
      speedup: b ? round(a / b, 3) : null,
    });
  }

  const lines = [
    `Cache benchmark, scale ${scale}, ${connections} connections, ${runs} × ${seconds} s each side, alternated.`,
    "",
    "| read | req/s with cache (median) | req/s without (median) | with / without | p50 ms with / without | p95 ms with / without | hit rate | errors |",
    "|---|---|---|---|---|---|---|---|",
    ...results.map(
      (r) =>
        `| ${r.title} (view: ${r.trendingPosts} posts) | ${median(r.with.rps)} | ${median(r.without.rps)} | ${r.speedup ?? "–"} | ${median(r.with.p50)} / ${median(r.without.p50)} | ${median(r.with.p95)} / ${median(r.without.p95)} | ${r.with.hitRate ?? "–"} (${r.with.hits} hits, ${r.with.misses} misses) | ${r.with.errors + r.without.errors} |`,
    ),
  ];
  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const dir = path.join(PROJECT_ROOT, "bench", "results");
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `cache-${stamp}.json`);
  await writeFile(
    file,
    `${JSON.stringify({ at: new Date().toISOString(), scale, connections, seconds, runs, results }, null, 2)}\n`,
  );
  process.stdout.write(`\n${lines.join("\n")}\n`);
  say(`results: ${path.relative(PROJECT_ROOT, file)}`);
} finally {
  await stopAllChildren();
  await db.close();
}
