/**
 * The API's metrics (names: src/metrics/registry.ts): operations by name and type, responses by
 * code, requests in flight and refused by guard, websockets, subscriptions and realtime events.
 * One object per API server, passed to whoever observes (src/http/requestObserver.ts,
 * plugins/metrics.ts, src/realtime/sockets.ts, plugins/realtime.ts).
 */
import { responseCode, type ErrorLike } from "../errors.ts";
import type { ProcessMetrics } from "./registry.ts";
import type { CounterFamily, HistogramFamily, Series } from "./shared.ts";

export type OperationType = "query" | "mutation" | "subscription";

export const GUARDS = [
  "depth",
  "cost",
  "page_size",
  "tokens",
  "aliases",
  "selections",
  "directives",
  "nesting",
  "body_size",
  "rate_limit",
  "transport",
  "origin",
  "untrusted_document",
] as const;
export type Guard = (typeof GUARDS)[number];

const SHAPE_LIMITS: ReadonlySet<string> = new Set([
  "depth",
  "cost",
  "tokens",
  "aliases",
  "selections",
  "directives",
  "nesting",
]);

/** Refusals answered before GraphQL runs (src/http/transport.ts, src/http/cors.ts). */
const TRANSPORT_GUARDS: Readonly<Record<string, Guard>> = {
  PAYLOAD_TOO_LARGE: "body_size",
  ORIGIN_NOT_ALLOWED: "origin",
  METHOD_NOT_ALLOWED: "transport",
  UNSUPPORTED_MEDIA_TYPE: "transport",
  MALFORMED_JSON: "transport",
  BATCH_NOT_SUPPORTED: "transport",
  SUBSCRIPTIONS_REQUIRE_WEBSOCKET: "transport",
  NOT_ACCEPTABLE: "transport",
  UNTRUSTED_DOCUMENT: "untrusted_document",
  RATE_LIMITED: "rate_limit",
};

/** Which guard refused a response, judged by its first error (null: not a refusal). */
export function guardOf(errors: readonly ErrorLike[] | undefined | null): Guard | null {
  const extensions = errors?.[0]?.extensions;
  const code = extensions?.code;
  if (typeof code !== "string") return null;
  if (code === "QUERY_TOO_COMPLEX") {
    const limit = extensions?.limit;
    return typeof limit === "string" && SHAPE_LIMITS.has(limit) ? (limit as Guard) : null;
  }
  if (code === "INVALID_INPUT" && extensions?.maxPageSize !== undefined) return "page_size";
  return TRANSPORT_GUARDS[code] ?? null;
}

/** Distinct operation names labelled; beyond them (names come from clients) "other". */
export const MAX_OPERATION_NAMES = 300;

export class ApiMetrics {
  readonly #names = new Set<string>();
  readonly #duration: HistogramFamily;
  readonly #responses: CounterFamily;
  readonly #refused: CounterFamily;
  readonly #inFlight: Series;
  readonly websockets: Series;
  readonly subscriptions: Series;
  readonly #delivered: CounterFamily;
  readonly #dropped: CounterFamily;
  #listening: () => boolean = () => false;

  constructor(metrics: ProcessMetrics) {
    this.#duration = metrics.histogram({
      name: "mking_graphql_request_duration_seconds",
      help: "GraphQL operations by name and type: time from the request's arrival to the response (subscriptions: until they are live).",
      labelNames: ["operation_name", "operation_type"],
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    });
    this.#responses = metrics.counter({
      name: "mking_graphql_responses_total",
      help: 'GraphQL responses by operation type and code ("OK" or the first error\'s extensions.code).',
      labelNames: ["operation_type", "code"],
    });
    this.#inFlight = metrics
      .gauge({
        name: "mking_http_requests_in_flight",
        help: "HTTP requests to /graphql being served now.",
      })
      .series([]);
    this.#refused = metrics.counter({
      name: "mking_requests_refused_total",
      help: "Requests refused by a guard (depth, cost, page size, document shape, body size, rate limit, transport, origin, untrusted document).",
      labelNames: ["guard"],
    });
    for (const guard of GUARDS) this.#refused.series([guard]);
    this.websockets = metrics
      .gauge({ name: "mking_websocket_connections", help: "Open websocket connections." })
      .series([]);
    this.subscriptions = metrics
      .gauge({
        name: "mking_subscriptions_running",
        help: "GraphQL subscriptions running over websockets.",
      })
      .series([]);
    this.#delivered = metrics.counter({
      name: "mking_realtime_events_delivered_total",
      help: "Subscription events sent to clients, by subscription field.",
      labelNames: ["subscription"],
    });
    this.#dropped = metrics.counter({
      name: "mking_realtime_events_dropped_total",
      help: "Realtime events dropped, by reason (slow_client: the subscription fell too far behind and was ended).",
      labelNames: ["reason"],
    });
    this.#dropped.series(["slow_client"]);
    const listening = (): boolean => this.#listening();
    metrics.gauge({
      name: "mking_realtime_listen_connected",
      help: "1 while this instance's LISTEN connection is up (held only while a subscription listens).",
      collect(family) {
        family.series([]).set(listening() ? 1 : 0);
      },
    });
  }

  /** An operation answered: its duration, its response code and, if refused, the guard. */
  operation(
    name: string | null,
    type: OperationType | null,
    seconds: number,
    errors: readonly ErrorLike[] | undefined | null,
  ): void {
    if (type !== null) this.#duration.series([this.#nameLabel(name), type]).observe(seconds);
    this.#responses.series([type ?? "unknown", responseCode(errors)]).inc();
    if (errors && errors.length > 0) {
      const guard = guardOf(errors);
      if (guard) this.#refused.series([guard]).inc();
    }
  }

  /** An HTTP request to /graphql arrived. */
  requestStarted(): void {
    this.#inFlight.inc();
  }

  /** It was answered (or its connection closed). */
  requestEnded(): void {
    this.#inFlight.dec();
  }

  #nameLabel(name: string | null): string {
    const label = (name || "anonymous").slice(0, 100);
    if (this.#names.has(label)) return label;
    if (this.#names.size >= MAX_OPERATION_NAMES) return "other";
    this.#names.add(label);
    return label;
  }

  refused(guard: Guard): void {
    this.#refused.series([guard]).inc();
  }

  delivered(subscription: string): void {
    this.#delivered.series([subscription]).inc();
  }

  dropped(reason: "slow_client", events = 1): void {
    this.#dropped.series([reason]).inc(events);
  }

  /** Where to read the LISTEN connection's state from. */
  watchListenConnection(isConnected: () => boolean): void {
    this.#listening = isConnected;
  }
}
