/**
 * `npm run bench:realtime -- [--scale 1] [--quick] [--scenarios rt_1k,rt_10k,...] [--in-flight 4]
 *   [--profile] [--keep-profiles <folder>]`
 *
 * Realtime at scale (issue #15), on the benchmark's data set (`<database>_bench`, seeded at
 * `--scale` when it is not already: bench/harness/benchDatabase.ts): two API instances in
 * production mode (children, METRICS_PORT each), light websocket clients in two more processes
 * (bench/harness/realtimeClients.ts), and the scenarios below, each with its own conversations:
 *
 * - rt_1k: 1,000 subscribers, 100 conversations × 10 (the figure of the main benchmark);
 * - rt_10k: 10,000 subscribers, 1,000 conversations × 10;
 * - rt_group_1k: one group conversation of 1,000 participants, a message every 100 ms (the issue's
 *   scenario; a group holds at most 1,024);
 * - rt_10k_2api, rt_group_1k_2api: the same, subscribers split over two instances.
 *
 * Each reports send → receive p50/p95/p99, what was missed or failed, statements per message
 * and per event and instance (pg_stat_statements), also by kind (presence writes apart: a
 * scenario's sockets closing must not count against the next), transactions per message, and
 * the API pools' waiting clients. Between scenarios presence settles (bench/harness/realtimeScale.ts). Writes bench/results/realtime-<date>.json and prints a Markdown table;
 * BENCHMARKS.md is left alone.
 *
 * `--in-flight n`: how many sends the scenarios without a fixed interval keep in flight (4 by
 * default: the main benchmark's figure; 1 shows the path's own latency without queueing).
 *
 * With `--profile` the API instances run under V8's sampling profiler, and each scenario also
 * reports their CPU in its measured phase: per delivered event, and by where it went (socket
 * writes, garbage collection, SQL building, grafast, …: bench/harness/cpuProfile.ts);
 * `--keep-profiles <folder>` keeps the profiles. The profiler costs some CPU of its own.
 */
import { randomBytes } from "node:crypto";
import { copyFile, mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import pg from "pg";

import { loadConfig } from "../src/config.ts";
import { connectDatabase } from "../src/db/connection.ts";
import { ensureStatementsExtension } from "../src/db/statements.ts";
import { withUrlParts } from "../src/db/urls.ts";
import { createLogger } from "../src/log.ts";
import { PROJECT_ROOT } from "../src/paths.ts";
import { tokenServiceFor } from "../src/server.ts";
import { ensureBenchDatabase } from "./harness/benchDatabase.ts";
import { breakdownInWindows, readProfileOf, REALTIME_CATEGORIES } from "./harness/cpuProfile.ts";
import { freePort, serviceEnv, startApi, stopAllChildren } from "./harness/processes.ts";
import {
  measureScale,
  type ApiInstance,
  type ApiCpu,
  type ScaleResult,
  type ScaleScenario,
} from "./harness/realtimeScale.ts";
import { loadBenchConfig } from "./harness/benchConfig.ts";
import { script, type Fail } from "./harness/script.ts";
import { benchSessionId, ensureBenchSessions } from "./harness/sessions.ts";

const cli = script("bench:realtime");
const { say, positive, whole, stopOnSignals } = cli;
const fail: Fail = cli.fail;
const { values } = cli.parse({
  options: {
    scale: { type: "string", default: "1" },
    quick: { type: "boolean", default: false },
    scenarios: { type: "string" },
    "in-flight": { type: "string", default: "4" },
    profile: { type: "boolean", default: false },
    "keep-profiles": { type: "string" },
  },
});

const scale = positive("scale", values.scale);
const quick = values.quick;
const inFlight = whole("in-flight", values["in-flight"]);
const keepProfilesIn = values["keep-profiles"] ? path.resolve(values["keep-profiles"]) : null;
const profiling = values.profile || keepProfilesIn !== null;

/** The issue's group conversation: 1,000 participants (a group holds at most 1,024). */
const GROUP_SIZE = 1000;

const SCENARIOS: ScaleScenario[] = [
  {
    id: "rt_1k",
    label: "1,000 subscribers (100 conversations × 10)",
    conversations: 100,
    membersPerChat: 10,
    messages: quick ? 50 : 200,
    concurrency: inFlight,
    instances: 1,
  },
  {
    id: "rt_10k",
    label: "10,000 subscribers (1,000 conversations × 10)",
    conversations: 1000,
    membersPerChat: 10,
    messages: quick ? 200 : 1000,
    concurrency: inFlight,
    instances: 1,
  },
  {
    id: "rt_group_1k",
    label: "one group conversation of 1,000 participants, a message every 100 ms",
    conversations: 1,
    membersPerChat: GROUP_SIZE,
    messages: quick ? 30 : 100,
    concurrency: 1,
    intervalMs: 100,
    instances: 1,
  },
  {
    id: "rt_10k_2api",
    label: "10,000 subscribers over two API instances",
    conversations: 1000,
    membersPerChat: 10,
    messages: quick ? 200 : 1000,
    concurrency: inFlight,
    instances: 2,
  },
  {
    id: "rt_group_1k_2api",
    label: "one group conversation of 1,000 over two API instances, a message every 100 ms",
    conversations: 1,
    membersPerChat: GROUP_SIZE,
    messages: quick ? 30 : 100,
    concurrency: 1,
    intervalMs: 100,
    instances: 2,
  },
];
const chosen = values.scenarios
  ? values.scenarios.split(",").map((id) => {
      const s = SCENARIOS.find((x) => x.id === id.trim());
      if (!s) fail(`--scenarios: no ${id} (${SCENARIOS.map((x) => x.id).join(", ")})`);
      return s;
    })
  : SCENARIOS;

const config = loadBenchConfig(fail);

const log = createLogger({ level: "warn", json: false });
const db = await connectDatabase(config, log);
stopOnSignals(() => stopAllChildren().then(() => db.close()));

const fmt = (n: number | undefined | null): string => (n == null ? "–" : String(n));

function table(results: ScaleResult[]): string {
  const lines = [
    "| scenario | API instances | subscribers | messages | p50 ms | p95 ms | p99 ms | of which the mutation (send → ack) p50 / p95 ms | missed | failed | statements per event per instance | audience / shared reads / other / presence per message | transactions per message | pool waiting (max / mean / share of samples) |",
    "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
  ];
  for (const r of results) {
    const d = r.database;
    lines.push(
      `| ${r.label} | ${r.instances} | ${r.subscribers} | ${r.messages} | ${fmt(r.latencyMs.p50)} | ${fmt(r.latencyMs.p95)} | ${fmt(r.latencyMs.p99)} | ${fmt(r.ackMs?.p50)} / ${fmt(r.ackMs?.p95)} | ${r.missed} | ${r.failed} | ${fmt(d?.perEventPerInstance)} | ${d ? `${d.audience} / ${d.sharedReads} / ${d.other} / ${d.presence}` : "–"} | ${fmt(d?.transactions)} | ${r.pool.maxWaiting} / ${r.pool.meanWaiting} / ${r.pool.samplesWaiting} |`,
    );
  }
  lines.push("", "Statements per message by kind (all instances):", "");
  for (const r of results) {
    const kinds = Object.entries(r.database?.byKind ?? {})
      .map(([k, n]) => `${k} ${n}`)
      .join("; ");
    lines.push(`- ${r.label}: ${kinds || "not measured"}`);
  }
  if (results.some((r) => r.apiCpu)) {
    const names = Object.keys(results.find((r) => r.apiCpu)!.apiCpu!.shares);
    lines.push(
      "",
      "API CPU in the measured phase (V8's sampling profiler; its own cost included):",
      "",
      `| scenario | busy ms | µs per delivered event | ${names.join(" | ")} |`,
      `|---|---|---|${names.map(() => "---").join("|")}|`,
    );
    for (const r of results) {
      const c = r.apiCpu;
      if (!c) continue;
      lines.push(
        `| ${r.label} | ${c.busyMs} | ${c.perDeliveryMicros} | ${names.map((n) => `${c.shares[n] ?? 0} %`).join(" | ")} |`,
      );
    }
  }
  return lines.join("\n");
}

/** The instances' CPU in the scenario's measured phase, from the profiles in `dir`. */
async function apiCpuOf(dir: string, pids: number[], r: ScaleResult): Promise<ApiCpu> {
  let busy = 0;
  const counts: Record<string, number> = {};
  for (const pid of pids) {
    const b = breakdownInWindows(
      await readProfileOf(dir, pid),
      [r.windowMicros],
      REALTIME_CATEGORIES,
    );
    busy += b.busy;
    for (const [k, n] of Object.entries(b.byCategory)) counts[k] = (counts[k] ?? 0) + n;
  }
  const round = (x: number): number => Math.round(x * 10) / 10;
  return {
    busyMs: busy,
    perDeliveryMicros: r.received > 0 ? Math.round((busy * 1000) / r.received) : 0,
    shares: Object.fromEntries(
      Object.entries(counts).map(([k, n]) => [k, busy > 0 ? round((100 * n) / busy) : 0]),
    ),
  };
}

try {
  const bench = await ensureBenchDatabase({ db, scale, log, say });
  const rootUrl = db.rootUrl ? withUrlParts(db.rootUrl, { database: bench.database }) : null;
  if (rootUrl) await ensureStatementsExtension(rootUrl);
  const statements = rootUrl
    ? await (async () => {
        const c = new pg.Client({ connectionString: rootUrl });
        await c.connect();
        try {
          const { rows } = await c.query(
            `select 1 from pg_extension where extname = 'pg_stat_statements'`,
          );
          return rows.length > 0;
        } finally {
          await c.end();
        }
      })()
    : false;
  if (!statements) say("pg_stat_statements is not available: statements are not counted");

  const jwtSecret = randomBytes(32).toString("base64url");
  const service = {
    ownerUrl: bench.ownerUrl,
    authUrl: bench.authUrl,
    authenticatorPassword: db.authenticator.password,
    jwtSecret,
  };
  const ttl = { ACCESS_TOKEN_TTL_SECONDS: "14400" };
  const tokens = tokenServiceFor(loadConfig(serviceEnv(service, ttl)));
  const signed = new Map<string, string>();
  const sign = (userId: string): string => {
    let t = signed.get(userId);
    if (!t) {
      t = tokens.sign(userId, benchSessionId(userId)).token;
      signed.set(userId, t);
    }
    return t;
  };
  await ensureBenchSessions(bench.ownerUrl);
  const need = Math.max(...chosen.map((s) => s.conversations * s.membersPerChat));
  const users = await (async () => {
    const c = new pg.Client({ connectionString: bench.ownerUrl });
    await c.connect();
    try {
      const { rows } = await c.query<{ id: string }>(
        // nobody with a block: a blocked sender's message reaches no one who blocked them (as
        // it should), which the scenario would count as missed
        `select u.id from app_public.users u
          where u.status = 'active'
            and not exists (select 1 from app_public.friendships f
                             where f.status = 'blocked' and (f.requester_id = u.id or f.addressee_id = u.id))
          order by random() limit $1`,
        [need],
      );
      return rows.map((r) => r.id);
    } finally {
      await c.end();
    }
  })();

  say("starting two API instances");
  const profiles = profiling
    ? await mkdtemp(path.join(os.tmpdir(), `mking-bench-realtime-${process.pid}-`))
    : null;
  const apis: ApiInstance[] = [];
  const apiChildren: { stop(): Promise<void> }[] = [];
  for (let i = 0; i < 2; i++) {
    const metricsPort = await freePort();
    const api = await startApi(service, {
      ...ttl,
      METRICS_PORT: String(metricsPort),
      ACCESS_LOG: "false",
      ...(profiles ? { NODE_OPTIONS: `--cpu-prof --cpu-prof-dir=${profiles}` } : {}),
    });
    apiChildren.push(api);
    apis.push({
      url: api.url,
      metricsUrl: `http://127.0.0.1:${metricsPort}/metrics`,
      pid: api.pid,
    });
  }

  const results: ScaleResult[] = [];
  for (const s of chosen) {
    const r = await measureScale(
      {
        ownerUrl: bench.ownerUrl,
        rootUrl: statements ? rootUrl : null,
        apis,
        userIds: users,
        sign,
        say,
      },
      s,
    );
    say(
      `${s.id}: p95 ${r.latencyMs.p95} ms, missed ${r.missed}, failed ${r.failed}, statements per event per instance ${fmt(r.database?.perEventPerInstance)}`,
    );
    results.push(r);
  }
  if (profiles) {
    // a profile is written when its process exits
    await Promise.all(apiChildren.map((a) => a.stop()));
    for (const r of results) {
      const pids = apis.slice(0, r.instances).map((a) => a.pid!);
      r.apiCpu = await apiCpuOf(profiles, pids, r);
    }
    if (keepProfilesIn) {
      await mkdir(keepProfilesIn, { recursive: true });
      const files = await readdir(profiles);
      for (const [i, a] of apis.entries()) {
        const name = files.find((f) => f.includes(`.${a.pid}.`));
        if (name)
          await copyFile(
            path.join(profiles, name),
            path.join(keepProfilesIn, `api${i + 1}.cpuprofile`),
          );
      }
      say(`profiles kept in ${keepProfilesIn}`);
    }
    await rm(profiles, { recursive: true, force: true });
  }

  const stamp = new Date().toISOString().replace(/[:.]/g, "-");
  const dir = path.join(PROJECT_ROOT, "bench", "results");
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `realtime-${stamp}.json`);
  await writeFile(
    file,
    `${JSON.stringify({ at: new Date().toISOString(), scale, quick, inFlight, results }, null, 2)}\n`,
  );
  process.stdout.write(
    `\nSends in flight (scenarios without an interval): ${inFlight}\n\n${table(results)}\n`,
  );
  say(`results: ${path.relative(PROJECT_ROOT, file)}`);
} finally {
  await stopAllChildren();
  await db.close();
}
