/**
 * The HTTP server: Express 5 with PostGraphile (grafserv) at /graphql (+ websockets), Ruru
 * (GraphiQL) at /graphiql, and the health endpoints operators and orchestrators poll.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import express, { type Express } from "express";
import pg from "pg";
import { postgraphile, type PostGraphileInstance } from "postgraphile";
import { PgSubscriber } from "postgraphile/adaptors/pg";
import { grafserv } from "postgraphile/grafserv/express/v4";

import { makePreset } from "../graphile.config.ts";
import { resolveJwtKeys } from "./auth/keys.ts";
import { archiveWarning } from "./backup/archiveHealth.ts";
import { authenticateRequests } from "./auth/request.ts";
import { startSessionFeed } from "./auth/sessionFeed.ts";
import { startReadCache, type ReadCacheService } from "./cache/index.ts";
import type { SessionRegistry } from "./auth/sessions.ts";
import { corsMiddleware, MEDIA_CORS, originPolicy, upgradeOriginCheck } from "./http/cors.ts";
import { exportDownloads } from "./http/exports.ts";
import { oidcCallbacks } from "./http/oidc.ts";
import { OidcService } from "./auth/oidc.ts";
import { OIDC_CODE_TTL_SECONDS } from "../plugins/oidc.ts";
import { notFound, unhandledErrors } from "./http/fallback.ts";
import { observeRequests } from "./http/requestObserver.ts";
import { graphqlTransport } from "./http/transport.ts";
import { mediaRoutes } from "./media/routes.ts";
import { MEDIA_PATH } from "./media/urls.ts";
import { startPresence } from "./realtime/presence.ts";
import { attachWebSockets } from "./realtime/sockets.ts";
import { TokenService } from "./auth/tokens.ts";
import type { Config } from "./config.ts";
import { latestAppliedMigrationHash, latestCommittedMigrationHash } from "./db/migrate.ts";
import { queryPool } from "./db/pooler.ts";
import { startReadRouting, type ReadRouting } from "./db/replicaRouting.ts";
import type { Logger } from "./log.ts";
import { ApiMetrics } from "./metrics/api.ts";
import type { ProcessMetrics } from "./metrics/registry.ts";

export interface ApiServerOptions {
  config: Config;
  ownerUrl: string;
  authUrl: string;
  log: Logger;
  /** This process's metrics registry (METRICS_PORT set); null or absent: no API metrics. */
  metrics?: ProcessMetrics | null;
}

export interface ApiServer {
  readonly app: Express;
  readonly httpServer: Server;
  readonly pgl: PostGraphileInstance;
  /** Which sessions are live (src/auth/sessions.ts). */
  readonly sessions: SessionRegistry;
  /** e.g. http://127.0.0.1:3000 */
  readonly url: string;
  /** The read replicas and the routing to them; null without DATABASE_READ_URLS. */
  readonly readRouting: ReadRouting | null;
  /** The read cache (src/cache/); null with CACHE_ENABLED=false. */
  readonly readCache: ReadCacheService | null;
  close(): Promise<void>;
}

export type Readiness =
  { ready: true } | { ready: false; reason: "database unreachable" | "migrations pending" };

/** Ready when the database answers and holds the newest committed migration. */
export async function checkReadiness(
  pool: pg.Pool,
  expectedHash: string | null,
): Promise<Readiness> {
  let client: pg.PoolClient;
  try {
    client = await pool.connect();
  } catch {
    return { ready: false, reason: "database unreachable" };
  }
  try {
    const applied = await latestAppliedMigrationHash(client).catch(() => null);
    return applied === expectedHash
      ? { ready: true }
      : { ready: false, reason: "migrations pending" };
  } catch {
    return { ready: false, reason: "database unreachable" };
  } finally {
    client.release();
  }
}

/**
 * Whether the subscriber holds its LISTEN connection (it does while any subscription listens).
 * PgSubscriber keeps it in a field it does not document; read defensively.
 */
function listenConnected(subscriber: PgSubscriber): boolean {
  const held = (subscriber as unknown as { listeningClient?: unknown }).listeningClient;
  return held !== null && held !== undefined;
}

/** The WAL archiving warning (src/backup/archiveHealth.ts), or null (also when unknown). */
async function archiveWarningFrom(pool: pg.Pool): Promise<string | null> {
  const client = await pool.connect().catch(() => null);
  if (!client) return null;
  try {
    return await archiveWarning(client);
  } catch {
    return null;
  } finally {
    client.release();
  }
}

/** Signs and verifies access tokens with the configured keys. */
export function tokenServiceFor(config: Config): TokenService {
  return new TokenService({
    keys: resolveJwtKeys(config),
    audience: config.auth.jwtAudience,
    issuer: config.auth.jwtIssuer,
    ttlSeconds: config.auth.accessTokenTtlSeconds,
  });
}

export async function startApiServer(options: ApiServerOptions): Promise<ApiServer> {
  const { config } = options;
  const log = options.log.child({ component: "api" });
  const app = express();
  app.disable("x-powered-by");
  app.set("trust proxy", config.auth.trustProxy);
  // A client that trickles its request (a byte at a time) holds a socket and memory: it is cut
  // off with 408 after HTTP_HEADERS_TIMEOUT_MS / HTTP_REQUEST_TIMEOUT_MS (Node's defaults are 60 s
  // and 5 minutes, checked every 30 s). Websockets are unaffected once upgraded.
  const httpServer = createServer(
    {
      headersTimeout: config.http.headersTimeoutMs,
      requestTimeout: config.http.requestTimeoutMs,
      connectionsCheckingInterval: 1000,
    },
    app,
  );
  const tokens = tokenServiceFor(config);

  // A tiny owner pool for /readyz (the authenticator cannot read migration bookkeeping).
  const healthPool = new pg.Pool({
    connectionString: options.ownerUrl,
    max: 2,
    connectionTimeoutMillis: 2000,
    application_name: "mking-friend-health",
  });
  healthPool.on("error", () => undefined);
  const expectedHash = await latestCommittedMigrationHash();

  app.get("/healthz", (_req, res) => {
    res.json({ status: "ok" });
  });
  app.get("/readyz", async (_req, res) => {
    const readiness = await checkReadiness(healthPool, expectedHash);
    // still ready when WAL archiving fails (the API works), but the answer says so
    const archive = readiness.ready ? await archiveWarningFrom(healthPool) : null;
    res
      .status(readiness.ready ? 200 : 503)
      .json(
        readiness.ready
          ? { status: "ready", ...(archive ? { warnings: [archive] } : {}) }
          : { status: "not ready", reason: readiness.reason },
      );
  });

  // PostGraphile's connections, as the authenticator; ended by close(). Through the pooler
  // (PgBouncer, transaction mode) when DATABASE_POOLER_URL is set: src/db/pooler.ts.
  const poolerUrl = config.database.poolerUrl;
  const authPool = queryPool(options.authUrl, poolerUrl, {
    max: 10,
    application_name: "mking-friend-api",
  });
  authPool.on("error", (error) => log.warn("idle API connection failed", { error }));
  authPool.on("connect", (client) => {
    client.on("error", (error) => log.warn("API connection failed", { error }));
  });

  // Metrics and the access log: every /graphql request, refusals included (src/http/requestObserver.ts).
  const apiMetrics = options.metrics ? new ApiMetrics(options.metrics) : null;
  const unwatchPools = options.metrics
    ? [
        options.metrics.watchPool("api", authPool),
        options.metrics.watchPool("api_health", healthPool),
      ]
    : [];
  const observing = apiMetrics !== null || config.metrics.accessLog;
  if (observing) {
    app.use(
      "/graphql",
      observeRequests({
        metrics: apiMetrics,
        accessLog: config.metrics.accessLog ? options.log.child({ component: "access" }) : null,
        userIdSalt: config.metrics.accessLogSalt,
      }),
    );
  }

  // Browsers on other origins: CORS_ORIGINS only (src/http/cors.ts); then one JSON operation,
  // not a subscription (websockets only), or a refusal with a code (src/http/transport.ts).
  const origins = originPolicy(config.http.corsOrigins);
  app.use("/graphql", corsMiddleware(origins));
  app.all(
    "/graphql",
    ...graphqlTransport({
      maxRequestBytes: config.api.maxRequestBytes,
      documentIds: config.api.trustedDocuments !== null,
      maxTokens: config.api.maxTokens,
    }),
  );

  // Which sessions are live, told by NOTIFY when one ends (src/auth/sessionFeed.ts).
  const sessionFeed = await startSessionFeed({
    authUrl: options.authUrl,
    accessTokenTtlSeconds: config.auth.accessTokenTtlSeconds,
    log,
  });
  const sessions = sessionFeed.registry;

  // Who is calling: verified before GraphQL runs; a bad token is a 401 (src/auth/request.ts).
  app.use("/graphql", authenticateRequests(tokens, sessions, log));
  // "Download my data": the archive, once, to its owner with the e-mailed token (src/http/exports.ts).
  app.use(
    "/exports",
    corsMiddleware(origins),
    authenticateRequests(tokens, sessions, log),
    exportDownloads({ pool: authPool, dataDir: config.dataDir, log }),
  );

  // Sign-in with OpenID Connect providers: the provider sends the browser back here
  // (src/http/oidc.ts); the redirect URI is OIDC_REDIRECT_BASE_URL's, or this server's own.
  let ownUrl = "";
  const oidc = new OidcService(config.oidc.providers, () => config.oidc.redirectBaseUrl ?? ownUrl);
  app.use(
    "/auth/oidc",
    oidcCallbacks({ pool: authPool, oidc, codeTtlSeconds: OIDC_CODE_TTL_SECONDS, log }),
  );

  // One LISTEN connection for every subscription of this instance (plugins/realtime.ts): a
  // session, so never through the pooler.
  const listenPool =
    poolerUrl === null
      ? authPool
      : new pg.Pool({
          connectionString: options.authUrl,
          max: 1,
          application_name: "mking-friend-realtime",
        });
  if (listenPool !== authPool) listenPool.on("error", () => undefined);
  const pgSubscriber = new PgSubscriber(listenPool);
  // Who is online, told between instances by NOTIFY (src/realtime/presence.ts).
  const presence = await startPresence({
    authUrl: options.authUrl,
    heartbeatMs: config.realtime.presenceHeartbeatMs,
    timeoutMs: config.realtime.presenceTimeoutMs,
    log,
  });
  apiMetrics?.watchListenConnection(() => listenConnected(pgSubscriber));
  // Queries to the read replicas when DATABASE_READ_URLS lists any (src/db/replicaRouting.ts).
  const readRouting = await startReadRouting({
    config,
    authUrl: options.authUrl,
    primaryPool: authPool,
    // other instances' writes (read-your-writes across instances) on the session feed's LISTEN
    feed: sessionFeed.writes,
    log,
    metrics: options.metrics,
  });
  // The read cache (src/cache/): its invalidation feed LISTENs, so on the direct URL.
  const readCache = await startReadCache({
    config,
    authUrl: options.authUrl,
    log,
    metrics: options.metrics ?? null,
  });
  const pgl = postgraphile(
    makePreset({
      cachedReads: readCache?.reads ?? null,
      config,
      authPool,
      tokens,
      log,
      pgSubscriber,
      presence,
      metrics: apiMetrics,
      observeRequests: observing,
      oidc,
      readRouting,
    }),
  );
  const serv = pgl.createServ(grafserv);
  // HTTP through grafserv; websockets through our handler (auth, limits: src/realtime/sockets.ts)
  await serv.addTo(app, httpServer, false);
  // Media files: signed uploads (local storage) and downloads (src/media/routes.ts).
  // Browsers on CORS_ORIGINS may PUT an upload's bytes and fetch media (src/http/cors.ts).
  app.use(MEDIA_PATH, corsMiddleware(origins, MEDIA_CORS), mediaRoutes(config, log));
  // What nothing above served: JSON errors with a code, never Express's HTML pages.
  app.use(notFound);
  app.use(unhandledErrors(log));
  const sockets = attachWebSockets(serv, httpServer, {
    path: "/graphql",
    acceptUpgrade: upgradeOriginCheck(origins),
    tokens,
    sessions,
    limits: config.realtime,
    maxMessageBytes: config.api.maxRequestBytes,
    log,
    metrics: apiMetrics,
    presence,
  });
  // Build the schema now, so a broken database fails start-up rather than the first request.
  await pgl.getSchema();

  await new Promise<void>((resolve, reject) => {
    httpServer.once("error", reject);
    httpServer.listen(config.http.port, config.http.host, () => {
      httpServer.off("error", reject);
      resolve();
    });
  });
  httpServer.on("error", (error) => log.error("http server error", { error }));
  const { port } = httpServer.address() as AddressInfo;
  const host = config.http.host.includes(":") ? `[${config.http.host}]` : config.http.host;
  const url = `http://${host === "0.0.0.0" ? "127.0.0.1" : host}:${port}`;
  ownUrl = url;

  let closing: Promise<void> | null = null;
  return {
    app,
    httpServer,
    pgl,
    sessions,
    url,
    readRouting,
    readCache,
    close: () =>
      (closing ??= (async () => {
        const closed = new Promise<void>((resolve) => httpServer.close(() => resolve()));
        httpServer.closeIdleConnections();
        await sockets.close();
        await presence.close(); // its users offline, then goodbye to the other instances
        await pgl.release(); // also releases grafserv
        pgSubscriber.release(); // ends the subscriptions left and gives back the LISTEN connection
        httpServer.closeAllConnections();
        await closed;
        for (const unwatch of unwatchPools) unwatch();
        await readRouting?.close();
        await readCache?.close();
        await Promise.all([authPool.end(), healthPool.end(), sessionFeed.close()]);
        if (listenPool !== authPool) await listenPool.end();
        log.info("api server stopped");
      })()),
  };
}
