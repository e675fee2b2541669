/**
 * What metrics and the access log cost per request, measured in process (the rotating
 * measurement in metricsOverhead.ts is too noisy on a shared machine to resolve 2 %).
 *
 * Per request the API, with METRICS_PORT or ACCESS_LOG on, runs the request observer
 * (src/http/requestObserver.ts: request id, in-flight gauge, duration histogram and response
 * counter of src/metrics/api.ts, the access log line through src/log.ts, the user tag) and the
 * GraphQL hooks of plugins/metrics.ts (the operation's name and type from grafast's
 * `prepareArgs`, the response's errors looked for in the body grafserv sends). Here the very same functions run on minimal request and
 * response objects (a real http.ServerResponse, authenticated by the real middleware), against
 * the same path with both off (the unwrapped hooks, no observer): interleaved batches, medians.
 * The access log goes to a sink that discards; writing the line is timed on its own (one
 * write(2) of it to /dev/null: per request at c=1, gathered per turn of the event loop above).
 *
 * The figures: µs added per request, as a share of the cheapest scenario's p50 (as the session
 * check, bench/harness/sessions.ts) and of the API's CPU time per request (the API child's
 * utime + stime over a load run, divided by the requests it served). Separately, one database
 * collection (src/metrics/database.ts, every 15 s on its own connection), as a share of a core.
 */
import { closeSync, openSync, writeSync } from "node:fs";
import { IncomingMessage, ServerResponse } from "node:http";
import { Socket } from "node:net";

import type { Request, Response } from "express";
import { parse } from "postgraphile/graphql";

import { authenticateRequests } from "../../src/auth/request.ts";
import { SessionRegistry } from "../../src/auth/sessions.ts";
import type { TokenService } from "../../src/auth/tokens.ts";
import { observeRequests } from "../../src/http/requestObserver.ts";
import { createLogger, type Logger } from "../../src/log.ts";
import { ApiMetrics } from "../../src/metrics/api.ts";
import { startDatabaseCollector } from "../../src/metrics/database.ts";
import { ProcessMetrics, ThreadMetrics } from "../../src/metrics/registry.ts";
import { MetricsPlugin } from "../../plugins/metrics.ts";
import { procStat } from "./procStat.ts";
import { median, round } from "./stats.ts";

export const OBSERVER_COST_BUDGET_PERCENT = 2;
/** How often the database collector runs (src/metrics/database.ts's default). */
export const DATABASE_COLLECTION_INTERVAL_MS = 15_000;

const DEFAULT_QUERY = /* GraphQL */ `
  query Profile($username: String!) {
    userByUsername(username: $username) {
      id
      username
      displayName
    }
  }
`;

export interface RequestObservationCost {
  iterations: number;
  /** Median per request, microseconds: the path with metrics and the access log off. */
  offUs: number;
  /** The same with the request observer and the GraphQL hooks. */
  onUs: number;
  /** What they add per request (the access log line built, not written). */
  addedUs: number;
  /** Writing one access log line: one write(2) to /dev/null (not in addedUs). */
  lineWriteUs: number;
}

type Middleware = NonNullable<NonNullable<typeof MetricsPlugin.grafserv>["middleware"]>;
type GrafastMiddleware = NonNullable<NonNullable<typeof MetricsPlugin.grafast>["middleware"]>;
/** A hook as a plain function (the plugin defines them so, not as descriptors). */
type Plain<T> = Extract<T, (...args: never) => unknown>;
type ProcessRequest = Plain<Middleware["processRequest"]>;
type PrepareArgs = Plain<GrafastMiddleware["prepareArgs"]>;

function plain<T>(hook: T): Plain<T> {
  if (typeof hook !== "function") throw new Error("plugins/metrics.ts: a hook is not a function");
  return hook as Plain<T>;
}
type ProcessRequestEvent = Parameters<ProcessRequest>[1];
type PrepareArgsEvent = Parameters<PrepareArgs>[1];
type RequestResult = Awaited<ReturnType<Parameters<ProcessRequest>[0]>>;

/** What grafserv sends for the query: the execution result as JSON, without errors. */
const RESPONSE_BODY = Buffer.from(
  JSON.stringify({ data: { userByUsername: { id: "1", username: "a", displayName: "A" } } }),
);

/** A logger like the API's in production (JSON), whose lines go nowhere; the last line kept. */
function discardingLogger(): { log: Logger; lastLine: () => string } {
  let last = "";
  const log = createLogger({
    level: "info",
    json: true,
    write: (_level, line) => {
      last = line;
    },
  });
  return { log, lastLine: () => last };
}

/** A request authenticated by the API's own middleware (the identity the access log tags). */
async function authenticatedRequest(tokens: TokenService, query: string, operationName: string) {
  const userId = "00000000-0000-4000-8000-000000000001";
  const sessionId = "00000000-0000-4000-8000-0000000000aa";
  const sessions = new SessionRegistry({
    source: { liveSessions: async (ids) => new Map(ids.map((id) => [id, userId])) },
    endedRetentionMs: 60_000,
  });
  await sessions.resynchronise();
  const token = tokens.sign(userId, sessionId).token;
  await sessions.check(tokens.verify(token)); // known live from now on, as in steady state
  const req = new IncomingMessage(new Socket());
  req.method = "POST";
  req.url = "/graphql";
  req.headers = {
    host: "127.0.0.1",
    "content-type": "application/json",
    authorization: `Bearer ${token}`,
  };
  Object.assign(req, { body: { query, operationName, variables: { username: "a" } } });
  const res = new ServerResponse(req);
  // a response sent in full (writableFinished), as the observer finds it on "close"
  Object.assign(res, { locals: {}, finished: true });
  const { log } = discardingLogger();
  await new Promise<void>((resolve, reject) => {
    authenticateRequests(tokens, sessions, log)(
      req as unknown as Request,
      res as unknown as Response,
      (error?: unknown) => (error ? reject(error as Error) : resolve()),
    );
  });
  return { req: req as unknown as Request, res: res as unknown as Response & ServerResponse };
}

/** Times the request path with both off against both on; `perBatch` requests per batch. */
export async function measureRequestObservation(o: {
  tokens: TokenService;
  /** The GraphQL document the API executes (the cheapest scenario's). */
  query?: string;
  batches?: number;
  perBatch?: number;
}): Promise<RequestObservationCost> {
  const query = o.query ?? DEFAULT_QUERY;
  const batches = o.batches ?? 41;
  const perBatch = o.perBatch ?? 2000;
  const document = parse(query);
  const operationName =
    document.definitions.find((d) => d.kind === "OperationDefinition")?.name?.value ?? "";
  const { req, res } = await authenticatedRequest(o.tokens, query, operationName);

  // both off: what grafserv does around the execution (here: nothing), and its response
  const requestResult = {
    type: "buffer",
    statusCode: 200,
    headers: {},
    buffer: RESPONSE_BODY,
  } as unknown as RequestResult;
  const nextRequest = async (): Promise<RequestResult> => requestResult;
  // the plugin only calls next()
  const next = nextRequest as unknown as Parameters<ProcessRequest>[0];
  const execute = async (): Promise<void> => undefined;

  // both on: the same, through plugins/metrics.ts, and the request observer in front
  const processRequest = plain(MetricsPlugin.grafserv!.middleware!.processRequest);
  const prepareArgs = plain(MetricsPlugin.grafast!.middleware!.prepareArgs);
  const accessLog = discardingLogger();
  const observer = observeRequests({
    metrics: new ApiMetrics(new ProcessMetrics()),
    accessLog: accessLog.log.child({ component: "access" }),
    userIdSalt: "bench-salt",
  });
  const ctx = { expressv4: { req, res } };
  const requestEvent = {
    requestDigest: { requestContext: ctx },
  } as unknown as ProcessRequestEvent;
  const argsEvent = {
    args: { document, operationName, requestContext: ctx },
  } as unknown as PrepareArgsEvent;
  const prepared = (() => argsEvent.args) as unknown as Parameters<PrepareArgs>[0];
  const noop = (): void => undefined;

  let sink = 0;
  const offBatch = async (): Promise<number> => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < perBatch; i += 1) {
      await execute();
      const result = await nextRequest();
      res.emit("close");
      sink += result === requestResult ? 1 : 0;
    }
    return Number(process.hrtime.bigint() - start) / 1000 / perBatch;
  };
  const onBatch = async (): Promise<number> => {
    const start = process.hrtime.bigint();
    for (let i = 0; i < perBatch; i += 1) {
      observer(req, res, noop);
      await prepareArgs(prepared, argsEvent);
      await execute();
      const result = await processRequest(next, requestEvent);
      res.emit("close");
      sink += result === requestResult ? 1 : 0;
    }
    return Number(process.hrtime.bigint() - start) / 1000 / perBatch;
  };
  await offBatch(); // warm up
  await onBatch();
  const line = accessLog.lastLine();
  if (!line.includes(`"operation":"${operationName || "anonymous"}"`) || !line.includes('"user":'))
    throw new Error(`the access log line is not what the API writes: ${line}`);
  const off: number[] = [];
  const on: number[] = [];
  for (let i = 0; i < batches; i += 1) {
    off.push(await offBatch());
    on.push(await onBatch());
  }
  if (sink !== (batches + 1) * perBatch * 2) throw new Error("a request went astray");
  const offUs = median(off);
  const onUs = median(on);
  return {
    iterations: batches * perBatch,
    offUs: round(offUs, 3),
    onUs: round(onUs, 3),
    addedUs: round(Math.max(0, onUs - offUs), 3),
    lineWriteUs: round(lineWriteUs(line, batches, perBatch), 3),
  };
}

/** One write(2) of `line` to /dev/null, microseconds (median of batches). */
function lineWriteUs(line: string, batches: number, perBatch: number): number {
  const fd = openSync("/dev/null", "w");
  try {
    const bytes = Buffer.from(line + "\n");
    const times: number[] = [];
    for (let b = 0; b < batches; b += 1) {
      const start = process.hrtime.bigint();
      for (let i = 0; i < perBatch; i += 1) writeSync(fd, bytes);
      times.push(Number(process.hrtime.bigint() - start) / 1000 / perBatch);
    }
    return median(times);
  } finally {
    closeSync(fd);
  }
}

export interface DatabaseCollectionCost {
  samples: number;
  /** One collection, wall time (median), ms: the database's work and ours, on one connection. */
  wallMs: number;
  /** The collecting process's CPU time for one collection (median), ms. */
  processCpuMs: number;
  intervalSeconds: number;
  /** wallMs per interval, as a share of one core (an upper bound on its CPU), percent. */
  percentOfCore: number;
}

/** Times collections of the database metrics (after one that opens the connection). */
export async function measureDatabaseCollection(o: {
  ownerUrl: string;
  samples?: number;
  dataDir?: string | null;
}): Promise<DatabaseCollectionCost> {
  const samples = o.samples ?? 7;
  const warnings: string[] = [];
  const log = createLogger({
    level: "warn",
    json: true,
    write: (_level, line) => void warnings.push(line),
  });
  const collector = startDatabaseCollector(new ThreadMetrics(), {
    ownerUrl: o.ownerUrl,
    log,
    intervalMs: 3_600_000, // only the collections timed here
    dataDir: o.dataDir ?? null,
  });
  try {
    await collector.collect();
    const wall: number[] = [];
    const cpu: number[] = [];
    for (let i = 0; i < samples; i += 1) {
      const cpuBefore = process.cpuUsage();
      const start = process.hrtime.bigint();
      await collector.collect();
      wall.push(Number(process.hrtime.bigint() - start) / 1e6);
      const used = process.cpuUsage(cpuBefore);
      cpu.push((used.user + used.system) / 1000);
    }
    if (warnings.length > 0) throw new Error(`database collection failed: ${warnings[0]}`);
    const wallMs = median(wall);
    return {
      samples,
      wallMs: round(wallMs, 2),
      processCpuMs: round(median(cpu), 2),
      intervalSeconds: DATABASE_COLLECTION_INTERVAL_MS / 1000,
      percentOfCore: round((wallMs / DATABASE_COLLECTION_INTERVAL_MS) * 100, 4),
    };
  } finally {
    await collector.close();
  }
}

/** utime + stime of a process, seconds (null: no /proc). */
function processCpuSeconds(pid: number): number | null {
  const s = procStat(pid);
  return s ? s.userSeconds + s.systemSeconds : null;
}

/** The CPU time process `pid` spends per request over `run` (which returns the requests served), µs. */
export async function cpuPerRequestUs(
  pid: number,
  run: () => Promise<number>,
): Promise<number | null> {
  const before = processCpuSeconds(pid);
  const requests = await run();
  const after = processCpuSeconds(pid);
  if (before === null || after === null || requests <= 0) return null;
  return round(((after - before) * 1e6) / requests, 1);
}

export interface ObserverCost extends RequestObservationCost {
  /** The cheapest scenario of the run and its p50 at the lowest concurrency (ms). */
  cheapestCase: string;
  cheapestP50Ms: number;
  /** addedUs as a share of that p50, percent. */
  percentOfP50: number;
  /** The API's CPU time per request (utime + stime over a c=1 load run / requests), µs. */
  apiCpuUsPerRequest: number | null;
  /** addedUs as a share of it, percent. */
  percentOfApiCpu: number | null;
  database: DatabaseCollectionCost | null;
  budgetPercent: number;
}

/** The per-request cost set against the run's yardsticks. */
export function observerCost(
  request: RequestObservationCost,
  yardsticks: {
    cheapest: { caseId: string; p50Ms: number };
    apiCpuUsPerRequest: number | null;
    database: DatabaseCollectionCost | null;
  },
): ObserverCost {
  const { cheapest, apiCpuUsPerRequest } = yardsticks;
  return {
    ...request,
    cheapestCase: cheapest.caseId,
    cheapestP50Ms: cheapest.p50Ms,
    percentOfP50: round((request.addedUs / (cheapest.p50Ms * 1000)) * 100, 3),
    apiCpuUsPerRequest,
    percentOfApiCpu:
      apiCpuUsPerRequest && apiCpuUsPerRequest > 0
        ? round((request.addedUs / apiCpuUsPerRequest) * 100, 3)
        : null,
    database: yardsticks.database,
    budgetPercent: OBSERVER_COST_BUDGET_PERCENT,
  };
}
