/**
 * `npm run bench:overhead -- [--scale 1] [--rounds 6] [--seconds 8] [--concurrency 32] [--profile]
 *   [--keep-profiles <folder>] [--without-database-metrics] [--warm-up <seconds>] [--turns]
 *   [--no-scrapes]`
 *
 * What turning metrics on costs (issue #12), on its own: the paired rounds of
 * bench/harness/metricsOverhead.ts (fresh API processes without metrics, without again as an A/A
 * control, with METRICS_PORT; the access log on in all, as by default) on the message list, the
 * cheapest read of the full benchmark, against the benchmark's data set (`<database>_bench`,
 * seeded at `--scale` when it is not already). `npm run bench` measures the same as part of its
 * run; this runs it alone, in a few minutes. Writes bench/results/overhead-<date>.json and
 * prints the report's lines; BENCHMARKS.md is left alone. With `--profile`, every instance runs
 * under V8's sampling profiler and the report says which share of the loaded processes' CPU ran
 * metrics code (bench/harness/cpuProfile.ts); `--keep-profiles <folder>` keeps the profiles.
 * `--without-database-metrics` measures an API instance that leaves the database's metrics to
 * another process (METRICS_DATABASE=false, as with workers collecting them). `--warm-up` sets the
 * load each instance gets before it is measured (default 12 s, at most `--seconds`; the metrics
 * instance is scraped every 2.5 s of it). The three instances are loaded together; `--turns` loads them one at a time in 2-s slices instead (the
 * former harness: it bills idle gaps to the instance with metrics, see BENCHMARKS.md).
 * `--no-scrapes` never scrapes the metrics instance (what the scrapes cost, by difference).
 * `--combine <file> --combine <file> …` measures nothing: it reads earlier runs' result files
 * made with the same settings as one run of all their rounds (bench/harness/overheadCombine.ts)
 * and writes that as a result file of its own.
 */
import { randomBytes } from "node:crypto";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import path from "node:path";

import pg from "pg";

import { connectDatabase } from "../src/db/connection.ts";
import { createLogger } from "../src/log.ts";
import { PROJECT_ROOT } from "../src/paths.ts";
import { tokenServiceFor } from "../src/server.ts";
import { loadConfig } from "../src/config.ts";
import { loadBenchConfig } from "./harness/benchConfig.ts";
import { ensureBenchDatabase } from "./harness/benchDatabase.ts";
import { measureMetricsOverhead, METRICS_OVERHEAD_ROUNDS } from "./harness/metricsOverhead.ts";
import {
  CombineError,
  combineOverheadResults,
  type OverheadResultFile,
} from "./harness/overheadCombine.ts";
import { serviceEnv, stopAllChildren } from "./harness/processes.ts";
import { script, type Fail } from "./harness/script.ts";
import { benchSessionId, ensureBenchSessions } from "./harness/sessions.ts";
import { metricsOverheadLines } from "./overheadReport.ts";
import { SCENARIOS } from "./scenarios.ts";

const cli = script("bench:overhead");
const { say, positive, stopOnSignals } = cli;
const fail: Fail = cli.fail;
const { values } = cli.parse({
  options: {
    scale: { type: "string", default: "1" },
    rounds: { type: "string", default: String(METRICS_OVERHEAD_ROUNDS) },
    seconds: { type: "string", default: "8" },
    concurrency: { type: "string", default: "32" },
    profile: { type: "boolean", default: false },
    "keep-profiles": { type: "string" },
    "without-database-metrics": { type: "boolean", default: false },
    "warm-up": { type: "string" },
    turns: { type: "boolean", default: false },
    "no-scrapes": { type: "boolean", default: false },
    combine: { type: "string", multiple: true },
  },
});
const scale = positive("scale", values.scale);
const rounds = cli.whole("rounds", values.rounds);
const seconds = positive("seconds", values.seconds);
const connections = cli.whole("concurrency", values.concurrency);
const warmUpSeconds =
  values["warm-up"] === undefined ? undefined : positive("warm-up", values["warm-up"]);

/** Writes `result` as bench/results/overhead-<date>.json and prints its report. */
async function writeResult(result: OverheadResultFile): Promise<void> {
  const dir = path.join(PROJECT_ROOT, "bench", "results");
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, `overhead-${result.date.replace(/[:.]/g, "-")}.json`);
  await writeFile(file, JSON.stringify(result, null, 2) + "\n");
  process.stdout.write(`${metricsOverheadLines(result.metricsOverhead).join("\n\n")}\n`);
  say(`results: ${path.relative(PROJECT_ROOT, file)}`);
}

async function combine(files: string[]): Promise<void> {
  const read = await Promise.all(
    files.map(async (file) => {
      try {
        const result = JSON.parse(await readFile(file, "utf8")) as OverheadResultFile;
        return { name: path.basename(file), result };
      } catch (error) {
        return fail(
          `cannot read ${file}: ${error instanceof Error ? error.message : String(error)}`,
        );
      }
    }),
  );
  try {
    const result = combineOverheadResults(read, new Date().toISOString());
    say(`${result.metricsOverhead.rounds} rounds of ${files.length} runs, read as one`);
    await writeResult(result);
  } catch (error) {
    if (error instanceof CombineError) fail(error.message);
    throw error;
  }
}

async function measure(): Promise<void> {
  const config = loadBenchConfig(fail);
  const log = createLogger({ level: "warn", json: false });
  const db = await connectDatabase(config, log);
  stopOnSignals(() => stopAllChildren().then(() => db.close()));

  try {
    const { ownerUrl, authUrl } = await ensureBenchDatabase({ db, scale, log, say });
    await ensureBenchSessions(ownerUrl);
    const service = {
      ownerUrl,
      authUrl,
      authenticatorPassword: db.authenticator.password,
      jwtSecret: randomBytes(32).toString("base64url"),
    };
    const ttl = { ACCESS_TOKEN_TTL_SECONDS: "14400" };
    const tokens = tokenServiceFor(loadConfig(serviceEnv(service, ttl)));
    const scenario = SCENARIOS.find((s) => s.name === "conversation_messages");
    if (!scenario) fail("no conversation_messages scenario");

    // participants of conversations with a page of messages to read
    const owner = new pg.Client({ connectionString: ownerUrl });
    await owner.connect();
    const { rows: chats } = await owner
      .query<{ user_id: string; conversation_id: string }>(
        `select p.user_id, p.conversation_id
         from app_public.conversation_participants p
        where p.left_at is null
          and (select count(*) from app_public.messages m
                where m.conversation_id = p.conversation_id) >= 50
        limit 50`,
      )
      .finally(() => owner.end());
    if (chats.length === 0) fail("the data set has no conversation with 50 messages");

    let i = 0;
    const next = () => {
      const chat = chats[i++ % chats.length]!;
      const token = tokens.sign(chat.user_id, benchSessionId(chat.user_id)).token;
      const fixture = {
        userId: chat.user_id,
        token,
        postId: "",
        conversationId: chat.conversation_id,
        profileUserId: "",
        term: "",
        feedCursor: null,
        feedAfter: null,
      };
      return {
        path: "/graphql",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({
          query: scenario.graphql.query,
          variables: scenario.graphql.variables(fixture),
        }),
      };
    };

    say(`${rounds} rounds of ${seconds} s at c=${connections} (message list, scale ${scale})`);
    const m = await measureMetricsOverhead({
      service,
      // METRICS_DATABASE=false: the instance with metrics leaves the database's to another process
      extra: values["without-database-metrics"] ? { ...ttl, METRICS_DATABASE: "false" } : ttl,
      caseId: "conversation_messages",
      next,
      connections,
      seconds,
      rounds,
      ...(warmUpSeconds !== undefined ? { warmUpSeconds } : {}),
      mode: values.turns ? "turns" : "together",
      scrapes: !values["no-scrapes"],
      profile: values.profile || values["keep-profiles"] !== undefined,
      ...(values["keep-profiles"] ? { keepProfilesIn: path.resolve(values["keep-profiles"]) } : {}),
      progress: say,
    });
    await writeResult({
      date: new Date().toISOString(),
      scale,
      databaseMetrics: !values["without-database-metrics"],
      scrapes: !values["no-scrapes"],
      metricsOverhead: m,
    });
  } finally {
    await stopAllChildren();
    await db.close();
  }
}

if (values.combine) await combine(values.combine);
else await measure();
