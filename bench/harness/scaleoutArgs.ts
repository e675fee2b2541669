/**
 * The options of `npm run bench:scaleout` (bench/scaleout.ts), parsed and checked: a pure
 * function of the argument list, so a mistake is one clear message before anything starts.
 */
import { parseArgs } from "node:util";

/** The read cases of the main benchmark (bench/run.ts CASES) this bench may run. */
export const SCALEOUT_CASES = [
  "feed_page1",
  "post_detail",
  "conversations_list",
  "conversation_messages",
  "profile",
  "search_posts_rare",
  "search_users_rare",
] as const;
export type ScaleoutCase = (typeof SCALEOUT_CASES)[number];

export const DEFAULT_CASES: readonly ScaleoutCase[] = [
  "feed_page1",
  "post_detail",
  "conversation_messages",
  "profile",
];

export interface ScaleoutOptions {
  scale: number;
  /** Seconds per load run. */
  seconds: number;
  /** Runs per (case, arm); arms alternate within each run. */
  runs: number;
  /** autocannon connections per run. */
  concurrency: number;
  cases: ScaleoutCase[];
  /** Measure direct vs PgBouncer. */
  pooler: boolean;
  /** Measure primary only vs a streaming standby as read replica. */
  replica: boolean;
  /** Loopback ports of the processes this bench starts (other engineers use other ranges). */
  ports: { pgbouncer: number; standby: number; metrics: number };
  /** PgBouncer's default_pool_size (server connections per database and user). */
  poolerServerConnections: number;
}

export class ScaleoutArgsError extends Error {}

function positive(name: string, raw: string, integer: boolean): number {
  const n = Number(raw);
  if (!Number.isFinite(n) || n <= 0 || (integer && !Number.isInteger(n))) {
    throw new ScaleoutArgsError(
      `--${name} must be a positive ${integer ? "whole " : ""}number (got ${raw})`,
    );
  }
  return n;
}

function port(name: string, raw: string): number {
  const n = positive(name, raw, true);
  if (n < 1024 || n > 65535)
    throw new ScaleoutArgsError(`--${name} must be 1024–65535 (got ${raw})`);
  return n;
}

export function parseScaleoutArgs(args: readonly string[]): ScaleoutOptions {
  let values;
  try {
    ({ values } = parseArgs({
      args: [...args],
      strict: true,
      options: {
        scale: { type: "string", default: "1" },
        seconds: { type: "string", default: "5" },
        runs: { type: "string", default: "3" },
        concurrency: { type: "string", default: "8" },
        cases: { type: "string", default: DEFAULT_CASES.join(",") },
        "no-pooler": { type: "boolean", default: false },
        "no-replica": { type: "boolean", default: false },
        "pgbouncer-port": { type: "string", default: "56182" },
        "standby-port": { type: "string", default: "56181" },
        "metrics-port": { type: "string", default: "56183" },
        "pooler-server-connections": { type: "string", default: "10" },
      },
    }));
  } catch (error) {
    throw new ScaleoutArgsError((error as Error).message);
  }
  const cases = values.cases
    .split(",")
    .map((c) => c.trim())
    .filter((c) => c !== "");
  for (const c of cases) {
    if (!(SCALEOUT_CASES as readonly string[]).includes(c)) {
      throw new ScaleoutArgsError(`unknown case ${c} (one of ${SCALEOUT_CASES.join(", ")})`);
    }
  }
  if (cases.length === 0) throw new ScaleoutArgsError("--cases lists no case");
  if (values["no-pooler"] && values["no-replica"]) {
    throw new ScaleoutArgsError("--no-pooler and --no-replica together leave nothing to measure");
  }
  const ports = {
    pgbouncer: port("pgbouncer-port", values["pgbouncer-port"]),
    standby: port("standby-port", values["standby-port"]),
    metrics: port("metrics-port", values["metrics-port"]),
  };
  if (new Set(Object.values(ports)).size !== 3) {
    throw new ScaleoutArgsError("--pgbouncer-port, --standby-port and --metrics-port must differ");
  }
  return {
    scale: positive("scale", values.scale, false),
    seconds: positive("seconds", values.seconds, false),
    runs: positive("runs", values.runs, true),
    concurrency: positive("concurrency", values.concurrency, true),
    cases: [...new Set(cases)] as ScaleoutCase[],
    pooler: !values["no-pooler"],
    replica: !values["no-replica"],
    ports,
    poolerServerConnections: positive(
      "pooler-server-connections",
      values["pooler-server-connections"],
      true,
    ),
  };
}
