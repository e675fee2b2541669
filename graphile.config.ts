/**
 * The PostGraphile preset: which database schema becomes the API, with which plugins and
 * options. One function, so the server, the tests and the schema export build the same API.
 */
import { PgSimplifyInflectionPreset } from "@graphile/simplify-inflection";
import type pg from "pg";
import { makePgService, type PgSubscriber } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

import { makeAuthPlugin } from "./plugins/auth.ts";
import { CommentsPlugin } from "./plugins/comments.ts";
import { ErrorCodesPlugin } from "./plugins/errorCodes.ts";
import { FeedPlugin } from "./plugins/feed.ts";
import { InflectionPlugin } from "./plugins/inflection.ts";
import { MessagingPlugin } from "./plugins/messaging.ts";
import { NotificationsPlugin } from "./plugins/notifications.ts";
import { MetricsPlugin } from "./plugins/metrics.ts";
import { makeRealtimePlugin } from "./plugins/realtime.ts";
import { makeRequestGuardsPlugin } from "./plugins/requestGuards.ts";
import { UpdateRefusalsPlugin } from "./plugins/updateRefusals.ts";
import { requestContextFor } from "./src/auth/request.ts";
import type { TokenService } from "./src/auth/tokens.ts";
import type { Config } from "./src/config.ts";
import { loadTrustedDocuments, trustedDocumentsPreset } from "./src/graphql/trustedDocuments.ts";
import { createMaskError } from "./src/errors.ts";
import type { Logger } from "./src/log.ts";
import type { ApiMetrics } from "./src/metrics/api.ts";

export interface PresetOptions {
  config: Config;
  /** A pool of authenticator connections: PostGraphile never connects as the owner. */
  authPool: pg.Pool;
  tokens: TokenService;
  log: Logger;
  /**
   * LISTEN/NOTIFY for subscriptions (one connection of authPool, held while anyone listens).
   * The caller owns it and releases it before ending authPool; without it there is no realtime.
   */
  pgSubscriber?: PgSubscriber | null;
  /** The API's metrics (src/metrics/api.ts), when METRICS_PORT is set. */
  metrics?: ApiMetrics | null;
  /**
   * Report each HTTP request's operation and response code to src/http/requestObserver.ts
   * (plugins/metrics.ts): on when metrics or the access log are.
   */
  observeRequests?: boolean;
}

export function makePreset({
  config,
  authPool,
  tokens,
  log,
  pgSubscriber = null,
  metrics = null,
  observeRequests = false,
}: PresetOptions): GraphileConfig.Preset {
  const { auth, api, http, isProduction } = config;
  return {
    extends: [
      PostGraphileAmberPreset,
      PgSimplifyInflectionPreset,
      ...(api.trustedDocuments
        ? [trustedDocumentsPreset(loadTrustedDocuments(api.trustedDocuments))]
        : []),
    ],
    // Rows are addressed by their UUID `id`; no Relay global ids to translate.
    disablePlugins: ["NodePlugin"],
    plugins: [
      InflectionPlugin,
      ErrorCodesPlugin,
      UpdateRefusalsPlugin,
      makeRequestGuardsPlugin({
        maxDepth: api.maxDepth,
        maxCost: api.maxCost,
        defaultPageSize: api.defaultPageSize,
        maxPageSize: api.maxPageSize,
        maxTokens: api.maxTokens,
        maxAliases: api.maxAliases,
        maxSelections: api.maxSelections,
        maxDirectives: api.maxDirectives,
        introspection: api.introspection,
      }),
      makeAuthPlugin({
        tokens,
        bcryptCost: auth.bcryptCost,
        refreshTokenTtlDays: auth.refreshTokenTtlDays,
        loginMaxFailures: auth.loginMaxFailures,
        loginMaxFailuresPerClient: auth.loginMaxFailuresPerClient,
        loginFailureWindowMinutes: auth.loginFailureWindowMinutes,
      }),
      FeedPlugin,
      CommentsPlugin,
      MessagingPlugin,
      NotificationsPlugin,
      makeRealtimePlugin({
        log,
        maxQueuedEvents: config.realtime.maxQueuedEvents,
        typingPerMinute: config.realtime.typingPerMinute,
        metrics,
      }),
      ...(observeRequests ? [MetricsPlugin] : []),
    ],
    pgServices: [
      makePgService({ pool: authPool, schemas: ["app_public"], pubsub: false, pgSubscriber }),
    ],
    grafast: {
      explain: http.explain && !isProduction,
      context: (requestContext) =>
        requestContextFor(requestContext, tokens, { statementTimeoutMs: api.statementTimeoutMs }),
    },
    grafserv: {
      graphqlPath: "/graphql",
      graphiql: http.graphiql,
      graphiqlPath: "/graphiql",
      graphiqlOnGraphQLGET: false,
      websockets: true,
      maxRequestLength: api.maxRequestBytes,
      maskError: createMaskError({ exposeInternalErrors: !isProduction, log }),
    },
    schema: {
      // The committed schema.graphql is written by `npm run schema:export`, not at start-up.
      pgForbidSetofFunctionsToReturnNull: true,
    },
  };
}
