/**
 * `npm run db:standby` — a streaming hot standby of the embedded server (no DATABASE_URL);
 * docs/OPERATIONS.md, "Hot standby", "Embedded server".
 *
 *   (no option)      start the standby (cloning the primary the first time) and keep running in
 *                    the foreground, printing its replication lag every 5 s; Ctrl-C stops it
 *                    (and the primary, when this command had to start it)
 *   --status [--json] the primary's standbys and their lag (src/db/replication.ts), and the
 *                    standby's own view when it runs
 *   --promote        promote the running standby (pg_promote()): it leaves recovery and takes
 *                    writes
 *   --dir <folder>   the standby's folder (default DATA_DIR/standby)
 *   --port <port>    the standby's port (default EMBEDDED_PG_PORT + 1)
 */
import path from "node:path";
import { parseArgs } from "node:util";

import pg from "pg";

import { ConfigError, loadConfig, type Config } from "../config.ts";
import { connectDatabase } from "../db/connection.ts";
import { EMBEDDED_SUPERUSER } from "../db/embedded.ts";
import { replicationStatus } from "../db/replication.ts";
import { createLogger, type Logger } from "../log.ts";
import { promoteStandby, standbyLag, startStandby } from "./standby.ts";

const LAG_EVERY_MS = 5000;

function print(line = ""): void {
  process.stdout.write(line + "\n");
}

interface Args {
  dir: string;
  port: number;
  status: boolean;
  promote: boolean;
  json: boolean;
}

function parse(config: Config): Args {
  const { values } = parseArgs({
    options: {
      dir: { type: "string" },
      port: { type: "string" },
      status: { type: "boolean", default: false },
      promote: { type: "boolean", default: false },
      json: { type: "boolean", default: false },
    },
  });
  const port = values.port === undefined ? config.embeddedPostgres.port + 1 : Number(values.port);
  if (!Number.isInteger(port) || port < 1024 || port > 65535) {
    throw new Error(`--port must be a port number from 1024 to 65535 (got ${values.port})`);
  }
  if (port === config.embeddedPostgres.port) {
    throw new Error(`--port ${port} is the primary's (EMBEDDED_PG_PORT): choose another`);
  }
  return {
    dir: path.resolve(values.dir ?? path.join(config.dataDir, "standby")),
    port,
    status: values.status,
    promote: values.promote,
    json: values.json,
  };
}

function standbyUrl(config: Config, port: number): string {
  const password = encodeURIComponent(config.embeddedPostgres.superuserPassword);
  return `postgres://${EMBEDDED_SUPERUSER}:${password}@127.0.0.1:${port}/postgres`;
}

/** What the standby itself says, or null when nothing answers on its port. */
async function standbyView(
  url: string,
): Promise<{ inRecovery: boolean; replayLsn: string | null; lastReplayAt: Date | null } | null> {
  const client = new pg.Client({ connectionString: url, connectionTimeoutMillis: 2000 });
  client.on("error", () => undefined);
  try {
    await client.connect();
  } catch {
    return null;
  }
  try {
    const { rows } = await client.query<{
      r: boolean;
      lsn: string | null;
      at: Date | null;
    }>(
      `select pg_is_in_recovery() as r, pg_last_wal_replay_lsn()::text as lsn,
              pg_last_xact_replay_timestamp() as at`,
    );
    return { inRecovery: rows[0]!.r, replayLsn: rows[0]!.lsn, lastReplayAt: rows[0]!.at };
  } finally {
    await client.end();
  }
}

async function status(config: Config, args: Args, log: Logger): Promise<void> {
  const db = await connectDatabase(config, log);
  try {
    const client = new pg.Client({ connectionString: db.rootUrl! });
    await client.connect();
    const standbys = await replicationStatus(client).finally(() => client.end());
    const own = await standbyView(standbyUrl(config, args.port));
    if (args.json) {
      print(JSON.stringify({ standbys, standby: own && { port: args.port, ...own } }));
      return;
    }
    if (standbys.length === 0) print("no standby is streaming from the primary");
    for (const s of standbys) {
      print(
        `${s.standby}: ${s.state}, ${s.sync ? "sync" : "async"}, ${s.lagBytes} bytes behind, ` +
          `replay lag ${s.lagSeconds === null ? "not measured (idle or just connected)" : `${s.lagSeconds.toFixed(3)} s`}`,
      );
    }
    if (own === null) print(`nothing answers on port ${args.port} (npm run db:standby starts it)`);
    else if (!own.inRecovery) print(`the server on port ${args.port} is a primary (promoted)`);
    else {
      print(
        `the standby on port ${args.port} has replayed up to ${own.replayLsn ?? "nothing yet"}; ` +
          `last replayed commit ${own.lastReplayAt?.toISOString() ?? "none yet"}`,
      );
    }
  } finally {
    await db.close();
  }
}

/** EMBEDDED_PG_DIR for `dir`: relative to DATA_DIR when inside it, else absolute. */
function pgDirSetting(config: Config, dir: string): string {
  const relative = path.relative(config.dataDir, dir);
  return relative.startsWith("..") || path.isAbsolute(relative) ? dir : relative;
}

async function promote(config: Config, args: Args): Promise<void> {
  const url = standbyUrl(config, args.port);
  if ((await standbyView(url)) === null) {
    throw new Error(`no standby answers on port ${args.port}: start it with npm run db:standby`);
  }
  if (!(await promoteStandby(url))) {
    print(`the server on port ${args.port} was already a primary`);
    return;
  }
  print(`promoted: the server on port ${args.port} takes writes now`);
  print(
    `run the service on it: stop the old primary for good, then ` +
      `EMBEDDED_PG_DIR=${pgDirSetting(config, args.dir)} EMBEDDED_PG_PORT=${args.port} npm start ` +
      `(once the db:standby process is stopped)`,
  );
}

/** Starts the standby and prints its lag until SIGINT/SIGTERM. */
async function run(config: Config, args: Args, log: Logger): Promise<void> {
  const db = await connectDatabase(config, log);
  let standby;
  try {
    standby = await startStandby({
      primaryUrl: db.rootUrl!,
      primaryDataDir: db.embedded!.dataDir,
      dir: args.dir,
      port: args.port,
      superuserPassword: config.embeddedPostgres.superuserPassword,
      log,
    });
  } catch (error) {
    await db.close();
    throw error;
  }
  print(
    `standby "${standby.name}" ${standby.created ? "created and " : ""}running on port ${args.port} ` +
      `(data: ${standby.dataDir}), streaming from port ${config.embeddedPostgres.port}` +
      (db.embedded!.startedHere ? " (started by this command: Ctrl-C stops both)" : ""),
  );
  print("read-only queries: " + standbyUrl(config, args.port).replace(/:[^:@/]*@/, ":…@"));
  let stopping = false;
  let wake: () => void = () => undefined;
  let timer: NodeJS.Timeout | undefined;
  const stop = (): void => {
    stopping = true;
    clearTimeout(timer);
    wake();
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const primary = new pg.Client({ connectionString: db.rootUrl! });
  primary.on("error", () => undefined);
  await primary.connect();
  let promoted = false;
  try {
    while (!stopping) {
      const lag = await standbyLag(primary, standby.name);
      if (lag) {
        print(
          `${new Date().toISOString()} ${lag.state}: ${lag.lagBytes} bytes behind, replay lag ` +
            (lag.lagSeconds === null ? "- (caught up)" : `${lag.lagSeconds.toFixed(3)} s`),
        );
      } else if (!promoted) {
        const own = await standbyView(standbyUrl(config, args.port));
        if (own && !own.inRecovery) {
          promoted = true;
          print(`${new Date().toISOString()} promoted: port ${args.port} is a primary now`);
        } else {
          print(`${new Date().toISOString()} not streaming yet (see the log at LOG_LEVEL=debug)`);
        }
      }
      await new Promise<void>((resolve) => {
        wake = resolve;
        timer = setTimeout(resolve, LAG_EVERY_MS);
      });
    }
  } finally {
    await primary.end().catch(() => undefined);
    print("stopping the standby");
    await standby.server.stop();
    await db.close();
  }
}

async function main(): Promise<void> {
  let config: Config;
  try {
    config = loadConfig();
  } catch (error) {
    if (error instanceof ConfigError) {
      for (const problem of error.problems) process.stderr.write(`config: ${problem}\n`);
      process.exitCode = 1;
      return;
    }
    throw error;
  }
  const log = createLogger({ level: config.logLevel, json: config.isProduction });
  try {
    if (config.database.url) {
      throw new Error(
        "DATABASE_URL is set: standbys of that server are the operator's job " +
          "(docs/OPERATIONS.md, Hot standby); this command serves the embedded server",
      );
    }
    const args = parse(config);
    if (args.promote) await promote(config, args);
    else if (args.status) await status(config, args, log);
    else await run(config, args, log);
  } catch (error) {
    log.error("db:standby failed", { error: (error as Error).message });
    process.exitCode = 1;
  }
}

await main();
