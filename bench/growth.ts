/**
 * The growth run (`npm run bench -- --scales 0.1,1,3`): one database per scale
 * (`<database>_bench_s<scale>`, seeded once and reused while the schema allows,
 * bench/harness/benchDatabase.ts), every data set seeded first, then the read cases measured on
 * each (our API and the raw baseline at one concurrency, short runs) with their SQL explained on
 * several fixtures. bench/growthReport.ts turns the results into the growth table.
 */
import pg from "pg";

import type { DatabaseConnections } from "../src/db/connection.ts";
import type { Logger } from "../src/log.ts";
import { ensureBenchDatabase, type BenchDatabase } from "./harness/benchDatabase.ts";
import { growthRows, GROWTH_LIMIT, type GrowthResult, type GrowthScale } from "./growthReport.ts";
import { CASES, runBenchmark } from "./run.ts";

export interface GrowthOptions {
  db: Pick<DatabaseConnections, "ownerUrl" | "rootUrl" | "authenticator">;
  scales: number[];
  connections: number;
  /** Seconds per measurement and measurements per figure (medians). */
  seconds: number;
  runs: number;
  /** Fixtures explained per case (the median SQL time is reported). */
  explainSamples: number;
  viewers: number;
  deepFeedUsers: number;
  /** Only these read cases (default: every read case). */
  scenarios?: string[];
  log: Logger;
  say: (line: string) => void;
}

/** The ids of the read cases: what the growth run measures. */
export const READ_CASE_IDS = CASES.filter((c) => c.scenario.kind === "read").map((c) => c.id);

async function databaseBytes(ownerUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ n: string }>(
      "select pg_database_size(current_database())::text as n",
    );
    return Number(rows[0]?.n ?? 0);
  } finally {
    await client.end();
  }
}

export async function runGrowth(o: GrowthOptions): Promise<GrowthResult> {
  const started = Date.now();
  const scales = [...new Set(o.scales)].sort((a, b) => a - b);
  // seed every scale first: a data set that cannot be made fails the run before any measuring
  const databases: BenchDatabase[] = [];
  for (const scale of scales) {
    databases.push(
      await ensureBenchDatabase({ db: o.db, scale, log: o.log, say: o.say, perScale: true }),
    );
  }
  const perScale: GrowthScale[] = [];
  for (const [i, scale] of scales.entries()) {
    const bench = databases[i]!;
    o.say(`scale ${scale}: measuring the read cases in ${bench.database}`);
    const result = await runBenchmark({
      ownerUrl: bench.ownerUrl,
      authUrl: bench.authUrl,
      authenticatorPassword: o.db.authenticator.password,
      scale,
      seconds: o.seconds,
      runs: o.runs,
      concurrency: [o.connections],
      peer: false,
      realtime: { subscribers: 0, membersPerChat: 0, messages: 0 },
      likeSamples: 0,
      viewers: o.viewers,
      deepFeedUsers: o.deepFeedUsers,
      scenarios: READ_CASE_IDS.filter((id) => !o.scenarios || o.scenarios.includes(id)),
      explainSamples: o.explainSamples,
      progress: (line) => o.say(`[scale ${scale}] ${line}`),
    });
    perScale.push({
      scale,
      database: bench.database,
      seeded: bench.seeded,
      seedSeconds: bench.seedSeconds,
      databaseBytes: await databaseBytes(bench.ownerUrl),
      result,
    });
  }
  return {
    date: new Date().toISOString(),
    scales,
    connections: o.connections,
    seconds: o.seconds,
    runs: o.runs,
    explainSamples: o.explainSamples,
    limit: GROWTH_LIMIT,
    totalSeconds: Math.round((Date.now() - started) / 1000),
    machine: perScale[0]?.result.machine ?? null,
    perScale,
    rows: growthRows(perScale, o.connections),
  };
}
