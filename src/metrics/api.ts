/**
 * The API's metrics (names: src/metrics/registry.ts): operations by name and type, responses by
 * code, requests in flight and refused by guard, websockets, subscriptions and realtime events.
 * One object per API server, passed to whoever observes (src/http/requestObserver.ts,
 * plugins/metrics.ts, src/realtime/sockets.ts, plugins/realtime.ts).
 */
import { Counter, Gauge } from "prom-client";

import { responseCode, type ErrorLike } from "../errors.ts";
import type { ProcessMetrics } from "./registry.ts";
import { RequestHistogram } from "./requestHistogram.ts";

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
  readonly #duration: RequestHistogram<"operation_name" | "operation_type">;
  /** Responses by `type \0 code` since the last scrape (added to the counter when scraped). */
  readonly #responseCounts = new Map<string, number>();
  readonly #refused: Counter<"guard">;
  #inFlight = 0;
  readonly websockets: Gauge;
  readonly subscriptions: Gauge;
  readonly #delivered: Counter<"subscription">;
  readonly #dropped: Counter<"reason">;
  #listening: () => boolean = () => false;

  constructor(metrics: ProcessMetrics) {
    const registers = [metrics.registry];
    // on the path of every request: recorded without prom-client's per-call label handling
    this.#duration = new RequestHistogram({
      name: "mking_graphql_request_duration_seconds",
      help: "GraphQL operations by name and type: time from the request's arrival to the response (subscriptions: until they are live).",
      labelNames: ["operation_name", "operation_type"] as const,
      buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
      registers,
    });
    const responseCounts = this.#responseCounts;
    new Counter({
      name: "mking_graphql_responses_total",
      help: 'GraphQL responses by operation type and code ("OK" or the first error\'s extensions.code).',
      labelNames: ["operation_type", "code"] as const,
      registers,
      collect() {
        for (const [key, n] of responseCounts) {
          const [operation_type = "", code = ""] = key.split("\u0000");
          this.inc({ operation_type, code }, n);
        }
        responseCounts.clear();
      },
    });
    const inFlight = (): number => this.#inFlight;
    new Gauge({
      name: "mking_http_requests_in_flight",
      help: "HTTP requests to /graphql being served now.",
      registers,
      collect() {
        this.set(inFlight());
      },
    });
    this.#refused = new Counter({
      name: "mking_requests_refused_total",
      help: "Requests refused by a guard (depth, cost, page size, document shape, body size, rate limit, transport, origin, untrusted document).",
      labelNames: ["guard"] as const,
      registers,
    });
    for (const guard of GUARDS) this.#refused.inc({ guard }, 0);
    this.websockets = new Gauge({
      name: "mking_websocket_connections",
      help: "Open websocket connections.",
      registers,
    });
    this.subscriptions = new Gauge({
      name: "mking_subscriptions_running",
      help: "GraphQL subscriptions running over websockets.",
      registers,
    });
    this.#delivered = new Counter({
      name: "mking_realtime_events_delivered_total",
      help: "Subscription events sent to clients, by subscription field.",
      labelNames: ["subscription"] as const,
      registers,
    });
    this.#dropped = new Counter({
      name: "mking_realtime_events_dropped_total",
      help: "Realtime events dropped, by reason (slow_client: the subscription fell too far behind and was ended).",
      labelNames: ["reason"] as const,
      registers,
    });
    this.#dropped.inc({ reason: "slow_client" }, 0);
    const listening = (): boolean => this.#listening();
    new Gauge({
      name: "mking_realtime_listen_connected",
      help: "1 while this instance's LISTEN connection is up (held only while a subscription listens).",
      registers,
      collect() {
        this.set(listening() ? 1 : 0);
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
    if (type !== null) this.#duration.observe([this.#nameLabel(name), type], seconds);
    const key = `${type ?? "unknown"}\u0000${responseCode(errors)}`;
    this.#responseCounts.set(key, (this.#responseCounts.get(key) ?? 0) + 1);
    if (errors && errors.length > 0) {
      const guard = guardOf(errors);
      if (guard) this.#refused.inc({ guard });
    }
  }

  /** An HTTP request to /graphql arrived. */
  requestStarted(): void {
    this.#inFlight += 1;
  }

  /** It was answered (or its connection closed). */
  requestEnded(): void {
    this.#inFlight -= 1;
  }

  #nameLabel(name: string | null): string {
    const label = (name || "anonymous").slice(0, 100);
    if (this.#names.has(label)) return label;
    if (this.#names.size >= MAX_OPERATION_NAMES) return "other";
    this.#names.add(label);
    return label;
  }

  refused(guard: Guard): void {
    this.#refused.inc({ guard });
  }

  delivered(subscription: string): void {
    this.#delivered.inc({ subscription });
  }

  dropped(reason: "slow_client", events = 1): void {
    this.#dropped.inc({ reason }, events);
  }

  /** Where to read the LISTEN connection's state from. */
  watchListenConnection(isConnected: () => boolean): void {
    this.#listening = isConnected;
  }
}
