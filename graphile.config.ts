/**
 * The PostGraphile preset: which database schema becomes the API, with which plugins and
 * options. One function, so the server, the tests and the schema export build the same API.
 */
import { PgSimplifyInflectionPreset } from "@graphile/simplify-inflection";
import type pg from "pg";
import { makePgService, type PgSubscriber } from "postgraphile/adaptors/pg";
import { PostGraphileAmberPreset } from "postgraphile/presets/amber";

import { makeAccountLifecyclePlugin } from "./plugins/accountLifecycle.ts";
import { makeAuthPlugin } from "./plugins/auth.ts";
import { makeMutationRatePlugin } from "./plugins/mutationRate.ts";
import { makeTwoFactorPlugin } from "./plugins/twoFactor.ts";
import { makeOidcPlugin } from "./plugins/oidc.ts";
import { CommentsPlugin } from "./plugins/comments.ts";
import { ErrorCodesPlugin } from "./plugins/errorCodes.ts";
import { FeedPlugin } from "./plugins/feed.ts";
import { makeCachePlugin, type CachedReads } from "./plugins/cache.ts";
import { SearchPlugin } from "./plugins/search.ts";
import { SearchUsersPlugin } from "./plugins/searchUsers.ts";
import { InflectionPlugin } from "./plugins/inflection.ts";
import { MessagingPlugin } from "./plugins/messaging.ts";
import { NotificationsPlugin } from "./plugins/notifications.ts";
import { MetricsPlugin } from "./plugins/metrics.ts";
import { makeUnexpectedErrorsPlugin } from "./plugins/unexpectedErrors.ts";
import { makeRealtimePlugin } from "./plugins/realtime.ts";
import { makePresencePlugin } from "./plugins/presence.ts";
import type { Presence } from "./src/realtime/presence.ts";
import { makeMediaPlugins } from "./plugins/media.ts";
import { makeRequestGuardsPlugin } from "./plugins/requestGuards.ts";
import { UpdateRefusalsPlugin } from "./plugins/updateRefusals.ts";
import { requestContextFor } from "./src/auth/request.ts";
import { SECOND_STEP_TTL_SECONDS, type SignInSettings } from "./src/auth/signIn.ts";
import { OidcService } from "./src/auth/oidc.ts";
import type { TokenService } from "./src/auth/tokens.ts";
import type { Config } from "./src/config.ts";
import { loadTrustedDocuments, trustedDocumentsPreset } from "./src/graphql/trustedDocuments.ts";
import { createMaskError } from "./src/errors.ts";
import type { Logger } from "./src/log.ts";
import { withMediaSettings } from "./src/media/settings.ts";
import type { ApiMetrics } from "./src/metrics/api.ts";
import type { ReadRouting } from "./src/db/replicaRouting.ts";

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
  /** Who is online (src/realtime/presence.ts); without it friendsOnline is empty. */
  presence?: Presence | null;
  /** The API's metrics (src/metrics/api.ts), when METRICS_PORT is set. */
  metrics?: ApiMetrics | null;
  /**
   * Report each HTTP request's operation and response code to src/http/requestObserver.ts
   * (plugins/metrics.ts): on when metrics or the access log are.
   */
  observeRequests?: boolean;
  /** OpenID Connect providers (src/auth/oidc.ts), shared with the callback route; default: from config. */
  oidc?: OidcService;
  /** Read replicas (src/db/replicaRouting.ts): queries read there; absent: all on authPool. */
  readRouting?: ReadRouting | null;
  /** Reads served from the read cache (src/cache/); absent: nothing cached. */
  cachedReads?: CachedReads | null;
}

export function makePreset({
  config,
  authPool,
  tokens,
  log,
  pgSubscriber = null,
  presence = null,
  metrics = null,
  observeRequests = false,
  readRouting = null,
  cachedReads = null,
  oidc = new OidcService(
    config.oidc.providers,
    () => config.oidc.redirectBaseUrl ?? `http://${config.http.host}:${config.http.port}`,
  ),
}: PresetOptions): GraphileConfig.Preset {
  const { auth, api, http, isProduction } = config;
  // How every sign-in ends (src/auth/signIn.ts completeSignIn): password, OpenID Connect, …
  const signIn: SignInSettings = {
    tokens,
    secondStepTtlSeconds: SECOND_STEP_TTL_SECONDS,
    rpId: auth.webauthnRpId,
  };
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
      makeUnexpectedErrorsPlugin(log),
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
      makeMutationRatePlugin({ perMinute: api.mutationsPerMinutePerUser }),
      makeAuthPlugin({
        tokens,
        bcryptCost: auth.bcryptCost,
        refreshTokenTtlDays: auth.refreshTokenTtlDays,
        loginMaxFailures: auth.loginMaxFailures,
        loginMaxFailuresPerClient: auth.loginMaxFailuresPerClient,
        loginFailureWindowMinutes: auth.loginFailureWindowMinutes,
        signupsPerClientPerHour: auth.signupsPerClientPerHour,
        signIn,
      }),
      makeTwoFactorPlugin({
        signIn,
        rp: { rpId: auth.webauthnRpId, origins: auth.webauthnOrigins },
        refreshTokenTtlDays: auth.refreshTokenTtlDays,
        maxAttemptsPerChallenge: 5,
        maxFailures: auth.loginMaxFailures,
        failureWindowMinutes: auth.loginFailureWindowMinutes,
      }),
      makeOidcPlugin({
        oidc,
        signIn,
        refreshTokenTtlDays: auth.refreshTokenTtlDays,
        appRedirectUris: config.oidc.appRedirectUris,
      }),
      makeAccountLifecyclePlugin({
        bcryptCost: auth.bcryptCost,
        deletionGraceDays: auth.accountDeletionGraceDays,
        loginMaxFailures: auth.loginMaxFailures,
        loginMaxFailuresPerClient: auth.loginMaxFailuresPerClient,
        loginFailureWindowMinutes: auth.loginFailureWindowMinutes,
      }),
      FeedPlugin,
      ...(cachedReads ? [makeCachePlugin(cachedReads)] : []),
      SearchPlugin,
      SearchUsersPlugin,
      CommentsPlugin,
      MessagingPlugin,
      NotificationsPlugin,
      makeRealtimePlugin({
        log,
        maxQueuedEvents: config.realtime.maxQueuedEvents,
        typingPerMinute: config.realtime.typingPerMinute,
        metrics,
      }),
      makePresencePlugin({ presence, log, maxQueuedEvents: config.realtime.maxQueuedEvents }),
      ...makeMediaPlugins(config),
      ...(observeRequests ? [MetricsPlugin] : []),
    ],
    pgServices: [
      makePgService({ pool: authPool, schemas: ["app_public"], pubsub: false, pgSubscriber }),
    ],
    grafast: {
      explain: http.explain && !isProduction,
      context: (requestContext, args) => {
        const context = withMediaSettings(
          requestContextFor(requestContext, tokens, {
            statementTimeoutMs: api.statementTimeoutMs,
            trustProxy: auth.trustProxy,
          }),
          config.media,
        );
        // queries to a read replica, the rest to the primary (docs/SCALING.md "Read replicas")
        return readRouting ? readRouting.route(context, requestContext, args) : context;
      },
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
