/**
 * Runs the service (entry point: src/main.ts). Modes: `all` (API + worker, `npm start`),
 * `server` (API only) and `worker` (worker only), for scaling them separately.
 *
 * Start-up: config → database (embedded unless DATABASE_URL) → migrate → API and/or worker.
 * Shutdown on SIGINT/SIGTERM, in reverse: stop accepting requests, let running jobs finish,
 * close connections, stop the embedded server if this process started it (it runs in a session
 * of its own, so a terminal's Ctrl-C does not stop it under the draining worker; if this process
 * dies without stopping it, it shuts down by itself: see src/db/embedded.ts). A second signal,
 * a second or more after the first, exits at once.
 */
import type { Config } from "./config.ts";
import { connectDatabase, type DatabaseConnections } from "./db/connection.ts";
import { applyPseudonymKey } from "./analytics/pseudonymKey.ts";
import { migrateDatabase } from "./db/migrate.ts";
import { waitForDatabase } from "./db/waitForDatabase.ts";
import { routeConsoleTo } from "./consoleLog.ts";
import { createLogger, type Logger } from "./log.ts";
import { mediaTaskSettings } from "./media/process/settings.ts";
import { latestBaseBackup } from "./backup/catalog.ts";
import { ProcessMetrics } from "./metrics/registry.ts";
import { startMetricsServer, type MetricsServer } from "./metricsServer.ts";
import { startApiServer, type ApiServer } from "./server.ts";
import { mailFor, startWorker, type Worker } from "./worker.ts";

export type Mode = "all" | "server" | "worker";
export const MODES: readonly Mode[] = ["all", "server", "worker"];
/** After this long, a shutdown that is still waiting (e.g. on a stuck job) gives up. */
const SHUTDOWN_DEADLINE_MS = 30_000;
/**
 * A signal this soon after the first is a copy, not a second request: on Ctrl-C the terminal
 * signals its whole foreground process group, Node included, and npm also forwards the SIGINT
 * it got to its child, which (`exec node` in the npm scripts) is this process.
 */
const REPEATED_SIGNAL_GRACE_MS = 1000;

interface Running {
  db: DatabaseConnections;
  server: ApiServer | null;
  worker: Worker | null;
  metrics: MetricsServer | null;
}

async function start(mode: Mode, config: Config, log: Logger): Promise<Running> {
  const started = Date.now();
  const db = await connectDatabase(config, log);
  // DATABASE_URL: the server may be starting or restarting; wait for it (src/db/waitForDatabase.ts)
  if (!db.embedded) {
    await waitForDatabase({ url: db.ownerUrl, waitSeconds: config.database.waitSeconds, log });
  }
  const running: Running = { db, server: null, worker: null, metrics: null };
  // one registry for everything this process runs, served on METRICS_PORT (null: no metrics)
  const metrics = config.metrics.port !== null ? new ProcessMetrics() : null;
  try {
    if (config.database.migrateOnStart) {
      await migrateDatabase({ ownerUrl: db.ownerUrl, authenticator: db.authenticator, log });
    }
    // the analytics pseudonym key, when configured (the migration made a random one otherwise)
    await applyPseudonymKey(db.ownerUrl, config.analytics.pseudonymKey, log);
    if (mode !== "worker") {
      running.server = await startApiServer({
        config,
        ownerUrl: db.ownerUrl,
        authUrl: db.authUrl,
        log,
        metrics,
      });
    }
    if (mode !== "server") {
      running.worker = await startWorker({
        ownerUrl: db.ownerUrl,
        poolerUrl: config.database.poolerUrl,
        concurrency: config.worker.concurrency,
        pollIntervalMs: config.worker.pollIntervalMs,
        heartbeatMs: config.worker.heartbeatMs,
        cron: config.worker.cron,
        log,
        mail: mailFor(config, log),
        retention: config.retention,
        reindex: config.reindex,
        metrics,
        dataExport: { dataDir: config.dataDir, ttlHours: config.dataExport.ttlHours },
        media: mediaTaskSettings(config),
        backups:
          db.embedded && db.rootUrl && config.embeddedPostgres.walArchive
            ? {
                clusterDir: db.embedded.dataDir,
                superuserUrl: db.rootUrl,
                superuserPassword: config.embeddedPostgres.superuserPassword,
                databaseName: config.embeddedPostgres.databaseName,
                retentionDays: config.retention.backupDays,
              }
            : null,
      });
    }
    if (metrics && config.metrics.port !== null) {
      const clusterDir = db.embedded?.dataDir ?? null;
      running.metrics = await startMetricsServer({
        metrics,
        // METRICS_DATABASE=false: another process (a worker) collects the database's metrics
        database: config.metrics.database
          ? {
              dataDir: clusterDir,
              lastBackupAt: async () => {
                const newest = clusterDir ? await latestBaseBackup(clusterDir) : null;
                return newest ? new Date(newest.finishedAt) : null;
              },
            }
          : null,
        host: config.metrics.host,
        port: config.metrics.port,
        ownerUrl: db.ownerUrl,
        heartbeatMs: config.worker.heartbeatMs,
        log,
        worker: running.worker,
      });
    }
  } catch (error) {
    await stop(running, log).catch(() => undefined);
    throw error;
  }
  const ms = Date.now() - started;
  if (running.server) {
    const { url } = running.server;
    log.info(`GraphQL API ready at ${url}/graphql`, { ms });
    if (config.http.graphiql) log.info(`GraphiQL (Ruru) at ${url}/graphiql`);
  } else {
    log.info("worker ready", { ms });
  }
  return running;
}

async function stop(running: Running, log: Logger): Promise<void> {
  await running.server?.close();
  await running.worker?.stop();
  await running.metrics?.close();
  await running.db.close();
  log.info("stopped");
}

/** Starts in `mode` and stops cleanly on SIGINT/SIGTERM; exits the process on failure. */
export async function runService(mode: Mode, config: Config): Promise<void> {
  const log = createLogger({ level: config.logLevel, json: config.isProduction });
  // JSON lines only: libraries' console output goes through the log too (src/consoleLog.ts)
  if (config.isProduction) routeConsoleTo(log.child({ component: "console" }));
  const starting = start(mode, config, log);

  // Signals are handled from the first moment: one that arrives during start-up stops the
  // service as soon as it is up, instead of killing it half-started.
  let shuttingDownSince: number | null = null;
  const shutdown = (signal: NodeJS.Signals): void => {
    if (shuttingDownSince !== null) {
      if (Date.now() - shuttingDownSince < REPEATED_SIGNAL_GRACE_MS) {
        log.debug("ignoring a copy of the signal (npm forwards the terminal's)", { signal });
        return;
      }
      log.warn("second signal: exiting without waiting", { signal });
      process.exit(1);
    }
    shuttingDownSince = Date.now();
    log.info("shutting down", { signal });
    const deadline = setTimeout(() => {
      log.error("shutdown took too long; exiting", { ms: SHUTDOWN_DEADLINE_MS });
      process.exit(1);
    }, SHUTDOWN_DEADLINE_MS);
    deadline.unref();
    starting
      .then((running) => stop(running, log))
      .then(
        () => process.exit(0),
        (error: unknown) => {
          log.error("shutdown failed", { error: (error as Error).message });
          process.exit(1);
        },
      );
  };
  process.on("SIGINT", shutdown);
  process.on("SIGTERM", shutdown);

  try {
    await starting;
  } catch (error) {
    log.error("start-up failed", { error: (error as Error).message });
    process.exit(1);
  }
}
