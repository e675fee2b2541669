/**
 * The benchmark run, against a seeded database: starts the processes under test, picks the
 * fixtures, runs every scenario on every target at every concurrency level (targets
 * interleaved, several runs, medians kept), measures the worker and realtime, captures the SQL
 * and plans, and returns one result object (bench/report.ts turns it into JSON and Markdown).
 *
 * Targets: `graphql` (our API), `raw` (hand-written SQL, bench/raw/server.ts), `pg4`
 * (PostGraphile 4, bench/peer). The headline figure is graphql/raw throughput, per scenario,
 * measured in the same run.
 */
import { randomBytes } from "node:crypto";
import os from "node:os";

import pg from "pg";

import { loadConfig } from "../src/config.ts";
import { tokenServiceFor } from "../src/server.ts";
import { explainScenarioSamples, type ScenarioExplain } from "./harness/explain.ts";
import { drawFixture, loadPools, type Draw, type Pools } from "./harness/fixtures.ts";
import { runLoad, type HttpRequest, type LoadResult } from "./harness/load.ts";
import {
  freePort,
  serviceEnv,
  startApi,
  startRaw,
  startWorker,
  type Child,
} from "./harness/processes.ts";
import {
  measureMetricsOverhead,
  METRICS_OVERHEAD_ROUNDS,
  type MetricsOverhead,
} from "./harness/metricsOverhead.ts";
import {
  cpuPerRequestUs,
  measureDatabaseCollection,
  measureRequestObservation,
  observerCost,
  type ObserverCost,
} from "./harness/observerCost.ts";
import { measureRealtime, type RealtimeResult } from "./harness/realtime.ts";
import {
  benchSessionId,
  ensureBenchSessions,
  measureSessionCheck,
  type SessionCheckCost,
} from "./harness/sessions.ts";
import { median, round } from "./harness/stats.ts";
import {
  likeSamples,
  measureLikeToNotification,
  measureThroughput,
  type Throughput,
} from "./harness/worker.ts";
import {
  installPg4Peer,
  PG4_SCENARIOS,
  pg4FeedPage50Variables,
  pg4Token,
  pg4Version,
  startPostGraphile4,
  type Pg4Server,
  type ScenarioName,
} from "./peer/postgraphile4.ts";
import { SCENARIOS, type Fixture, type Scenario } from "./scenarios.ts";

export type Target = "graphql" | "raw" | "pg4";

export interface BenchOptions {
  ownerUrl: string;
  authUrl: string;
  authenticatorPassword: string;
  scale: number;
  /** Seconds per measurement. */
  seconds: number;
  /** Seconds per run of the metrics-overhead measurement (default: `seconds`). */
  overheadSeconds?: number;
  /** Rounds of the metrics-overhead measurement (default: METRICS_OVERHEAD_ROUNDS). */
  overheadRounds?: number;
  /** Measurements per (case, target, concurrency); medians are reported. */
  runs: number;
  concurrency: number[];
  /** Also measure PostGraphile 4. */
  peer: boolean;
  realtime: { subscribers: number; membersPerChat: number; messages: number };
  likeSamples: number;
  /** Fixture pool sizes. */
  viewers: number;
  deepFeedUsers: number;
  /**
   * Only these cases (ids of CASES, e.g. search_posts_common); unset: every case, and the
   * worker, realtime, session-check and metrics measurements too (skipped when set).
   */
  scenarios?: string[];
  /** Fixtures whose SQL is explained per read case; the median one's plans are kept (default 1). */
  explainSamples?: number;
  progress: (line: string) => void;
}

/** One row of the report: a scenario with the fixture it draws. */
export interface Case {
  id: string;
  scenario: Scenario;
  draw: Draw;
}

export const CASES: Case[] = [
  { id: "feed_page1", scenario: byName("feed_page1"), draw: "viewer" },
  { id: "feed_page50", scenario: byName("feed_page50"), draw: "deepFeed" },
  { id: "post_detail", scenario: byName("post_detail"), draw: "post" },
  { id: "conversations_list", scenario: byName("conversations_list"), draw: "inbox" },
  { id: "conversation_messages", scenario: byName("conversation_messages"), draw: "chat" },
  { id: "profile", scenario: byName("profile"), draw: "profile" },
  { id: "search_posts_common", scenario: byName("search_posts"), draw: "termPostsCommon" },
  { id: "search_posts_rare", scenario: byName("search_posts"), draw: "termPostsRare" },
  { id: "search_users_common", scenario: byName("search_users"), draw: "termUsersCommon" },
  { id: "search_users_rare", scenario: byName("search_users"), draw: "termUsersRare" },
  { id: "like_unlike", scenario: byName("like_unlike"), draw: "post" },
  { id: "add_comment", scenario: byName("add_comment"), draw: "post" },
  { id: "send_message", scenario: byName("send_message"), draw: "chat" },
];

/** Why a case cannot run on this data set (an empty fixture pool), or null. */
function skipReason(pools: Pools, draw: Draw): string | null {
  if (draw === "deepFeed" && pools.deepFeed.length === 0) return "no feed reaches page 50";
  if (draw === "post" && pools.posts.length === 0) return "no public post has 20 comments";
  if (draw === "chat" && pools.chats.length === 0) return "no conversation has 50 messages";
  if (draw === "inbox" && pools.inboxOwners.length === 0) return "no conversations";
  if (draw === "profile" && pools.profiles.length === 0) return "no public profile is followed";
  return null;
}

function byName(name: string): Scenario {
  const s = SCENARIOS.find((x) => x.name === name);
  if (!s) throw new Error(`no scenario ${name}`);
  return s;
}

export interface Measurement {
  target: Target;
  connections: number;
  /** Medians over the runs. */
  rps: number;
  p50: number;
  p95: number;
  p99: number;
  errors: number;
  runs: LoadResult[];
}

export interface CaseResult {
  id: string;
  title: string;
  kind: "read" | "write";
  /** Why the case was not measured (no fixture of its kind at this scale), or null. */
  skipped: string | null;
  /** Targets that could not serve the case (the peer timing out), with the first error. */
  failures: Record<string, string>;
  measurements: Measurement[];
  /** graphql rps / raw rps at each concurrency level. */
  ratioToRaw: Record<string, number>;
  ratioToPg4: Record<string, number>;
}

export interface BenchResult {
  date: string;
  machine: {
    cpus: number;
    cpuModel: string;
    memoryGiB: number;
    node: string;
    postgres: string;
    postgraphile4: string | null;
  };
  options: Omit<BenchOptions, "ownerUrl" | "authUrl" | "authenticatorPassword" | "progress">;
  rows: Record<string, number>;
  cases: CaseResult[];
  worker: { throughput: Throughput; likeToNotificationMs: Record<string, number> } | null;
  realtime: RealtimeResult | null;
  /** What checking the session adds per request, against the cheapest scenario's p50. */
  sessionCheck: SessionCheckCost | null;
  /** Throughput with metrics and the access log on against off (budget: under 2 %). */
  metricsOverhead?: MetricsOverhead | null;
  /** The same, in process: µs per request against the cheapest p50 and the API's CPU per request. */
  observerCost?: ObserverCost | null;
  explain: ScenarioExplain[];
}

function memo<T>(fn: (key: string) => T): (key: string) => T {
  const cache = new Map<string, T>();
  return (key) => {
    let v = cache.get(key);
    if (v === undefined) cache.set(key, (v = fn(key)));
    return v;
  };
}

async function machine(ownerUrl: string, peer: boolean): Promise<BenchResult["machine"]> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ v: string }>("select version() as v");
    return {
      cpus: os.cpus().length,
      cpuModel: os.cpus()[0]?.model.trim() ?? "unknown",
      memoryGiB: round(os.totalmem() / 2 ** 30, 1),
      node: process.version,
      postgres: (rows[0]?.v ?? "").split(" on ")[0] ?? "",
      postgraphile4: peer ? pg4Version() : null,
    };
  } finally {
    await client.end();
  }
}

/** `count` random active users (one per realtime subscriber). */
async function activeUsers(ownerUrl: string, count: number): Promise<string[]> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ id: string }>(
      `select id from app_public.users where status = 'active' order by random() limit $1`,
      [count],
    );
    return rows.map((r) => r.id);
  } finally {
    await client.end();
  }
}

async function tableRows(ownerUrl: string): Promise<Record<string, number>> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ table: string; n: string }>(
      `select relname as table, n_live_tup as n from pg_stat_user_tables
        where schemaname = 'app_public' order by relname`,
    );
    return Object.fromEntries(rows.map((r) => [r.table, Number(r.n)]));
  } finally {
    await client.end();
  }
}

export async function runBenchmark(options: BenchOptions): Promise<BenchResult> {
  const say = options.progress;
  const jwtSecret = randomBytes(32).toString("base64url");
  const service = {
    ownerUrl: options.ownerUrl,
    authUrl: options.authUrl,
    authenticatorPassword: options.authenticatorPassword,
    jwtSecret,
  };
  // tokens live for the whole run: 4 hours
  const ttl = { ACCESS_TOKEN_TTL_SECONDS: "14400" };
  const serviceConfig = loadConfig(serviceEnv(service, ttl));
  const tokens = tokenServiceFor(serviceConfig);
  // every user's token names a real, live session (ensureBenchSessions below)
  const sign = memo((userId) => tokens.sign(userId, benchSessionId(userId)).token);
  const signPg4 = memo((userId) => pg4Token(userId, jwtSecret));

  const children: Child[] = [];
  let pg4: Pg4Server | null = null;
  const metricsPort = await freePort();
  try {
    await ensureBenchSessions(options.ownerUrl);
    say("starting the API, the raw-SQL server and the worker");
    const api = await startApi(service, ttl);
    children.push(api);
    const raw = await startRaw(service, ttl);
    children.push(raw);
    const worker = await startWorker(service, { ...ttl, METRICS_PORT: String(metricsPort) });
    children.push(worker);
    if (options.peer) {
      say("starting PostGraphile 4");
      await installPg4Peer(options.ownerUrl);
      // the statement timeout our API sets per request (src/auth/request.ts), for the peer too
      const pg4Url = new URL(options.authUrl);
      pg4Url.searchParams.set(
        "options",
        `-c statement_timeout=${serviceConfig.api.statementTimeoutMs}`,
      );
      pg4 = await startPostGraphile4({
        authUrl: pg4Url.toString(),
        port: await freePort(),
        jwtSecret,
      });
    }

    const graphqlAs = async (
      userId: string,
      query: string,
      variables: Record<string, unknown>,
    ): Promise<Record<string, unknown>> => {
      const res = await fetch(`${api.url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${sign(userId)}` },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await res.json()) as { data?: Record<string, unknown>; errors?: unknown[] };
      if (body.errors || !body.data)
        throw new Error(`GraphQL failed: ${JSON.stringify(body.errors)}`);
      return body.data;
    };

    say("picking fixtures");
    const pools = await loadPools(options.ownerUrl, graphqlAs, {
      viewers: options.viewers,
      deepFeedUsers: options.deepFeedUsers,
    });
    // PG4 pages its feed by row number: the cursor after item 980 is ["natural", 980] (checked
    // against paging 49 times for the first user)
    const pg4Page50 = new Map<string, Record<string, unknown>>();
    if (pg4 && CASES.some((c) => c.draw === "deepFeed" && caseWanted(c, options.scenarios))) {
      const after = Buffer.from(JSON.stringify(["natural", 980])).toString("base64");
      const first = pools.deepFeed[0];
      if (first) {
        const paged = await pg4FeedPage50Variables(pg4, signPg4(first.userId));
        if (paged.after !== after) {
          throw new Error(
            `PostGraphile 4's cursor is not what we expect: ${JSON.stringify(paged)}`,
          );
        }
      }
      for (const d of pools.deepFeed) pg4Page50.set(d.userId, { after });
    }

    const requestFor = (target: Target, c: Case): (() => HttpRequest) => {
      const draw = (): Fixture => {
        for (;;) {
          const f = drawFixture(pools, c.draw, sign);
          if (target !== "pg4" || c.draw !== "deepFeed" || pg4Page50.has(f.userId)) return f;
        }
      };
      return () => {
        const f = draw();
        if (target === "graphql") {
          return {
            path: "/graphql",
            headers: { "content-type": "application/json", authorization: `Bearer ${f.token}` },
            body: JSON.stringify({
              query: c.scenario.graphql.query,
              variables: c.scenario.graphql.variables(f),
            }),
          };
        }
        if (target === "raw") {
          return {
            path: `/${c.scenario.name}`,
            headers: { "content-type": "application/json", authorization: `Bearer ${f.token}` },
            body: JSON.stringify({ params: c.scenario.raw.params(f) }),
          };
        }
        const spec = PG4_SCENARIOS[c.scenario.name as ScenarioName];
        const variables = c.draw === "deepFeed" ? pg4Page50.get(f.userId)! : spec.variables(f);
        return {
          path: "/graphql",
          headers: {
            "content-type": "application/json",
            authorization: `Bearer ${signPg4(f.userId)}`,
          },
          body: JSON.stringify({ query: spec.query, variables }),
        };
      };
    };
    const baseUrl = (target: Target): string =>
      target === "graphql"
        ? api.url
        : target === "raw"
          ? raw.url
          : pg4!.url.replace(/\/graphql$/, "");

    const measureCase = async (c: Case): Promise<CaseResult> => {
      const skipped = skipReason(pools, c.draw);
      if (skipped) {
        say(`${c.id.padEnd(22)} skipped: ${skipped}`);
        return {
          id: c.id,
          title: c.scenario.title,
          kind: c.scenario.kind,
          skipped,
          failures: {},
          measurements: [],
          ratioToRaw: {},
          ratioToPg4: {},
        };
      }
      const targets: Target[] = ["graphql", "raw"];
      const pg4Ready = c.draw !== "deepFeed" || pg4Page50.size > 0;
      if (pg4 && pg4Ready && c.scenario.kind === "read" && c.scenario.name in PG4_SCENARIOS) {
        targets.push("pg4");
      }
      const top = Math.max(...options.concurrency);
      const failures: Record<string, string> = {};
      for (const target of [...targets]) {
        // warm-up (and a check that the answers are not errors)
        const warm = await runLoad({
          url: baseUrl(target),
          connections: top,
          seconds: Math.min(1, options.seconds),
          amount: top * 2,
          next: requestFor(target, c),
        });
        if (warm.errors === 0) continue;
        // our API and the baseline must answer; the peer's failures are a result of their own
        if (target !== "pg4") throw new Error(`${c.id} on ${target} failed: ${warm.firstError}`);
        failures[target] = warm.firstError ?? "errors";
        targets.splice(targets.indexOf(target), 1);
        say(`${c.id.padEnd(22)} ${target.padEnd(7)} not measured: ${failures[target]}`);
      }
      const runs = new Map<string, LoadResult[]>();
      for (let run = 0; run < options.runs; run++) {
        for (const connections of options.concurrency) {
          for (const target of targets) {
            const r = await runLoad({
              url: baseUrl(target),
              connections,
              seconds: options.seconds,
              next: requestFor(target, c),
            });
            const key = `${target}:${connections}`;
            runs.set(key, [...(runs.get(key) ?? []), r]);
            say(
              `${c.id.padEnd(22)} ${target.padEnd(7)} c=${String(connections).padEnd(3)} ` +
                `${String(r.rps).padStart(8)} req/s  p95 ${r.latencyMs.p95} ms${r.errors ? `  ERRORS ${r.errors}` : ""}`,
            );
          }
        }
      }
      const measurements: Measurement[] = [...runs.entries()].map(([key, rs]) => {
        const [target, connections] = key.split(":") as [Target, string];
        return {
          target,
          connections: Number(connections),
          rps: round(median(rs.map((r) => r.rps)), 1),
          p50: round(median(rs.map((r) => r.latencyMs.p50))),
          p95: round(median(rs.map((r) => r.latencyMs.p95))),
          p99: round(median(rs.map((r) => r.latencyMs.p99))),
          errors: rs.reduce((a, r) => a + r.errors, 0),
          runs: rs,
        };
      });
      const rpsOf = (t: Target, c: number) =>
        measurements.find((m) => m.target === t && m.connections === c)?.rps;
      const ratio = (other: Target): Record<string, number> => {
        const out: Record<string, number> = {};
        for (const conn of options.concurrency) {
          const a = rpsOf("graphql", conn);
          const b = rpsOf(other, conn);
          if (a !== undefined && b) out[String(conn)] = round(a / b, 2);
        }
        return out;
      };
      return {
        id: c.id,
        title: c.scenario.title,
        kind: c.scenario.kind,
        skipped: null,
        failures,
        measurements,
        ratioToRaw: ratio("raw"),
        ratioToPg4: ratio("pg4"),
      };
    };

    const explainCases = async (list: Case[]): Promise<ScenarioExplain[]> => {
      const explainApi = await startApi(service, {
        ...ttl,
        NODE_ENV: "development",
        GRAPHQL_EXPLAIN: "true",
        DEBUG: "@dataplan/pg:PgExecutor:explain",
      }).catch((error: unknown) => {
        throw new Error(`the explain API did not start: ${String(error)}`);
      });
      children.push(explainApi);
      const explain: ScenarioExplain[] = [];
      for (const c of list.filter((x) => x.scenario.kind === "read")) {
        if (skipReason(pools, c.draw)) continue;
        const fixtures = Array.from({ length: options.explainSamples ?? 1 }, () =>
          drawFixture(pools, c.draw, sign),
        );
        explain.push({
          ...(await explainScenarioSamples(explainApi.url, raw.url, c.scenario, fixtures)),
          scenario: c.id,
        });
      }
      return explain;
    };

    const only = options.scenarios;
    const cases: CaseResult[] = [];
    for (const c of CASES.filter((x) => x.scenario.kind === "read" && caseWanted(x, only))) {
      cases.push(await measureCase(c));
    }
    if (only) {
      for (const c of CASES.filter((x) => x.scenario.kind === "write" && caseWanted(x, only))) {
        cases.push(await measureCase(c));
      }
      say("capturing SQL and plans");
      return {
        date: new Date().toISOString(),
        machine: await machine(options.ownerUrl, pg4 !== null),
        options: optionsOf(options),
        rows: await tableRows(options.ownerUrl),
        cases,
        worker: null,
        realtime: null,
        sessionCheck: null,
        metricsOverhead: null,
        explain: await explainCases(CASES.filter((x) => caseWanted(x, only))),
      };
    }
    say("mutations, with the worker running");
    const throughput = await measureThroughput(
      options.ownerUrl,
      `http://127.0.0.1:${metricsPort}/metrics`,
      async () => {
        for (const c of CASES.filter((x) => x.scenario.kind === "write")) {
          cases.push(await measureCase(c));
        }
      },
    );
    say("like → notification latency");
    const samples = await likeSamples(options.ownerUrl, options.likeSamples);
    const likeLatency = await measureLikeToNotification(
      options.ownerUrl,
      api.url,
      sign,
      samples,
      4,
    );

    say("realtime: subscribers and send → receive latency");
    const realtime = await measureRealtime({
      ownerUrl: options.ownerUrl,
      apiUrl: api.url,
      userIds: await activeUsers(options.ownerUrl, options.realtime.subscribers),
      sign,
      subscribers: options.realtime.subscribers,
      membersPerChat: options.realtime.membersPerChat,
      messages: options.realtime.messages,
      concurrency: 4,
    });

    say("the per-request cost of the session check");
    const sessionCheck = await measureCheckAgainstCheapest(tokens, cases);

    say("the per-request cost of metrics and the access log, in process");
    // its own sanity check (the access line it produced names the operation and the user) can
    // fail where the cheapest case differs (tiny data sets): say so, and measure the rest
    const observer = await measureObserverAgainstCheapest({
      tokens,
      cases,
      api,
      next: (c) => requestFor("graphql", c),
      ownerUrl: options.ownerUrl,
    }).catch((error: unknown) => {
      say(`metrics + access log in process: not measured (${(error as Error).message})`);
      return null;
    });
    if (observer) {
      say(
        `metrics + access log: +${observer.addedUs} µs per request, ${observer.percentOfP50} % of the cheapest p50, ` +
          `${observer.percentOfApiCpu ?? "?"} % of the API's CPU per request`,
      );
    }

    say(
      "the cost of metrics in throughput, the access log on in every role (paired rounds, A/A control)",
    );
    const cheapest = cheapestRead(cases);
    const metricsOverhead = cheapest
      ? await measureMetricsOverhead({
          service,
          extra: ttl,
          caseId: cheapest.id,
          next: requestFor("graphql", cheapest),
          connections: Math.max(...options.concurrency),
          seconds: options.overheadSeconds ?? options.seconds,
          rounds: options.overheadRounds ?? METRICS_OVERHEAD_ROUNDS,
          progress: say,
        }).catch((error: unknown) => {
          say(`metrics in throughput: not measured (${(error as Error).message})`);
          return null;
        })
      : null;
    if (metricsOverhead) {
      const m = metricsOverhead;
      say(
        `metrics (access log on in every role): ${m.overheadPercent} % slower (rounds ${m.overheadRangePercent.join(" … ")} %), ` +
          `A/A control ${m.controlPercent} % (rounds ${m.controlRangePercent.join(" … ")} %): ${m.verdict} (${m.budgetPercent} %)`,
      );
    }

    say("capturing SQL and plans");
    const explain = await explainCases(CASES);

    return {
      date: new Date().toISOString(),
      machine: await machine(options.ownerUrl, pg4 !== null),
      options: optionsOf(options),
      rows: await tableRows(options.ownerUrl),
      cases,
      worker: { throughput, likeToNotificationMs: { ...likeLatency } },
      realtime,
      sessionCheck,
      metricsOverhead,
      observerCost: observer,
      explain,
    };
  } finally {
    await pg4?.close();
    await Promise.all(children.map((c) => c.stop()));
  }
}

function optionsOf(options: BenchOptions): BenchResult["options"] {
  return {
    scale: options.scale,
    seconds: options.seconds,
    runs: options.runs,
    concurrency: options.concurrency,
    peer: options.peer,
    realtime: options.realtime,
    likeSamples: options.likeSamples,
    viewers: options.viewers,
    deepFeedUsers: options.deepFeedUsers,
    ...(options.scenarios ? { scenarios: options.scenarios } : {}),
    ...(options.explainSamples ? { explainSamples: options.explainSamples } : {}),
  };
}

/** Whether a case is among the ones asked for (all when none were). */
function caseWanted(c: Case, only: string[] | undefined): boolean {
  return !only || only.includes(c.id);
}

/** The read case whose graphql p50 is lowest at the lowest concurrency (null: none measured). */
function cheapestRead(cases: CaseResult[]): Case | null {
  let best: { id: string; p50: number } | null = null;
  for (const c of cases) {
    const ms = c.measurements.filter((m) => m.target === "graphql" && m.p50 > 0);
    if (c.kind !== "read" || ms.length === 0) continue;
    const lowest = ms.reduce((a, m) => (m.connections < a.connections ? m : a));
    if (!best || lowest.p50 < best.p50) best = { id: c.id, p50: lowest.p50 };
  }
  return CASES.find((c) => c.id === best?.id) ?? null;
}

/** The case with the lowest graphql p50 at the lowest concurrency measured (null: none). */
function cheapestGraphql(cases: CaseResult[]): { caseId: string; p50Ms: number } | null {
  const graphql = cases.flatMap((c) =>
    c.measurements.filter((m) => m.target === "graphql").map((m) => ({ caseId: c.id, m })),
  );
  if (graphql.length === 0) return null;
  const lowest = Math.min(...graphql.map((g) => g.m.connections));
  const [cheapest] = graphql
    .filter((g) => g.m.connections === lowest && g.m.p50 > 0)
    .sort((a, b) => a.m.p50 - b.m.p50);
  return cheapest ? { caseId: cheapest.caseId, p50Ms: cheapest.m.p50 } : null;
}

/** The session check's cost against the graphql p50 of the cheapest case, at the lowest concurrency. */
async function measureCheckAgainstCheapest(
  tokens: ReturnType<typeof tokenServiceFor>,
  cases: CaseResult[],
): Promise<SessionCheckCost | null> {
  const cheapest = cheapestGraphql(cases);
  return cheapest ? measureSessionCheck(tokens, cheapest) : null;
}

/** Seconds of the c=1 load run over which the API's CPU time per request is taken. */
const API_CPU_SECONDS = 5;

/**
 * What the request observer and the GraphQL metrics hooks add per request (in process, on the
 * cheapest case's document), against that case's p50 and against the API's CPU time per request
 * (the run's API: access log on, metrics off, as configured by default); and one database
 * metrics collection as a share of a core.
 */
async function measureObserverAgainstCheapest(o: {
  tokens: ReturnType<typeof tokenServiceFor>;
  cases: CaseResult[];
  api: Child & { url: string };
  next: (c: Case) => () => HttpRequest;
  ownerUrl: string;
}): Promise<ObserverCost | null> {
  const cheapest = cheapestGraphql(o.cases);
  const c = CASES.find((x) => x.id === cheapest?.caseId);
  if (!cheapest || !c) return null;
  const request = await measureRequestObservation({
    tokens: o.tokens,
    query: c.scenario.graphql.query,
  });
  const apiCpuUsPerRequest = await cpuPerRequestUs(o.api.pid, async () => {
    const load = await runLoad({
      url: o.api.url,
      connections: 1,
      seconds: API_CPU_SECONDS,
      next: o.next(c),
    });
    return load.requests;
  });
  const database = await measureDatabaseCollection({ ownerUrl: o.ownerUrl });
  return observerCost(request, { cheapest, apiCpuUsPerRequest, database });
}
