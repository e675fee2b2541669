/**
 * One load run with autocannon: `connections` clients send requests back to back for
 * `seconds`; each request is built by `next()` (a random fixture per request). Latencies go
 * into an HDR histogram from autocannon's per-response event; a response that is not HTTP 200
 * or carries GraphQL errors counts as an error (and is reported, never silently averaged in).
 *
 * A timed run in which not one request completed measured nothing (a pause of the machine longer
 * than a short run: the tests' runs last 0.3 s): it is run again, once, four times as long (at
 * least a second); a server that still answers nothing is reported as failing.
 */
import autocannon from "autocannon";

import { LatencyHistogram, round, type Percentiles } from "./stats.ts";

export interface HttpRequest {
  path: string;
  headers: Record<string, string>;
  body: string;
}

export interface LoadOptions {
  /** Base URL, e.g. http://127.0.0.1:3000 */
  url: string;
  connections: number;
  /** How long to send requests; or, with `amount`, how many to send (however long they take). */
  seconds: number;
  amount?: number;
  next: () => HttpRequest;
}

export interface LoadResult {
  connections: number;
  seconds: number;
  requests: number;
  rps: number;
  latencyMs: Percentiles;
  errors: number;
  /** The first error body seen, for the report. */
  firstError: string | null;
}

export async function runLoad(options: LoadOptions): Promise<LoadResult> {
  const result = await runLoadOnce(options);
  if (result.requests > 0 || options.amount) return result;
  return runLoadOnce({ ...options, seconds: Math.max(1, options.seconds * 4) });
}

async function runLoadOnce(options: LoadOptions): Promise<LoadResult> {
  const histogram = new LatencyHistogram();
  let errors = 0;
  let firstError: string | null = null;
  // Without a callback autocannon returns its instance (an event emitter) made thenable.
  const instance = autocannon({
    url: options.url,
    connections: options.connections,
    ...(options.amount ? { amount: options.amount } : { duration: options.seconds }),
    pipelining: 1,
    timeout: 30,
    // autocannon ends a timed run at its first sample after the time is up: every 100 ms rather
    // than every second, so that a run of 0.3 s (the tests') lasts 0.3 s, not 1 s
    sampleInt: 100,
    requests: [
      {
        method: "POST",
        setupRequest: (request) => ({ ...request, ...options.next() }),
        onResponse: (status, body) => {
          if (status !== 200 || body.includes('"errors"') || body.includes('"error"')) {
            errors += 1;
            firstError ??= `${status} ${body.slice(0, 300)}`;
          }
        },
      },
    ],
  }) as unknown as autocannon.Instance & PromiseLike<autocannon.Result>;
  instance.on("response", (_client, _status, _bytes, responseTime) => {
    histogram.record(responseTime);
  });
  const result = await instance;
  // a request still running when the time is up is not counted by autocannon: when none
  // completed at all, every one took longer than the run (a server stuck or timing out)
  if (result.requests.total === 0 && !options.amount) {
    errors += options.connections;
    firstError ??= `no request completed within ${options.seconds} s`;
  }
  return {
    connections: options.connections,
    seconds: options.seconds,
    requests: result.requests.total,
    rps: round(result.requests.total / (result.duration || options.seconds), 1),
    latencyMs: histogram.percentiles(),
    errors: errors + result.errors + result.timeouts,
    firstError,
  };
}
