/**
 * `npm run db:backup | db:backups | db:restore | db:verify` — backups of the embedded server
 * (no DATABASE_URL). docs/OPERATIONS.md, "Embedded server: backups and restore".
 *
 *   backup                      take a base backup now (starts or reuses the embedded server),
 *                               then apply BACKUP_RETENTION_DAYS
 *   backups                     list base backups and the restorable window
 *   restore --to <time>|--latest
 *                               restore into the data folder (the service must be stopped)
 *   verify                      restore the newest backup into a scratch folder and check it
 */
import { ConfigError, loadConfig, type Config } from "../config.ts";
import { connectDatabase } from "../db/connection.ts";
import { postgresRunAs } from "../db/postgresUser.ts";
import { createLogger, type Logger } from "../log.ts";
import { backupFoldersFor } from "./archive.ts";
import { backupNow, restoreWindow } from "./catalog.ts";
import { pruneBackups } from "./prune.ts";
import { clusterDirOf, parseTarget } from "./place.ts";
import { restoreCluster, serverRunningOn } from "./restore.ts";
import { verifyLatestBackup } from "./verify.ts";

const COMMANDS = ["backup", "backups", "restore", "verify"];

function print(line = ""): void {
  process.stdout.write(line + "\n");
}

async function run(command: string, args: string[], config: Config, log: Logger): Promise<void> {
  if (config.database.url) {
    throw new Error(
      "DATABASE_URL is set: backups of that server are the operator's job (docs/OPERATIONS.md); " +
        "these commands serve the embedded server",
    );
  }
  const e = config.embeddedPostgres;
  switch (command) {
    case "backup": {
      const db = await connectDatabase(config, log);
      try {
        const clusterDir = db.embedded!.dataDir;
        const entry = await backupNow({
          superuserUrl: db.rootUrl!,
          clusterDir,
          owner: await postgresRunAs(),
          log,
        });
        print(
          `base backup ${entry.id}: ${entry.bytes} bytes, ${entry.startLsn} → ${entry.stopLsn}`,
        );
        await pruneBackups({ clusterDir, retentionDays: config.retention.backupDays, log });
      } finally {
        await db.close();
      }
      break;
    }
    case "backups": {
      const clusterDir = clusterDirOf(config);
      const stopped = serverRunningOn(clusterDir) === null;
      const w = await restoreWindow(clusterDir, { includeLocalWal: stopped });
      print(`backups of ${clusterDir} (in ${backupFoldersFor(clusterDir).root})`);
      if (w.backups.length === 0) {
        print("no base backups yet (npm run db:backup; the worker takes one daily)");
        break;
      }
      print("id                    finished (UTC)             size        start LSN → stop LSN");
      for (const b of w.backups) {
        const size = `${(b.bytes / 1024 / 1024).toFixed(1)} MiB`.padEnd(11);
        print(`${b.id.padEnd(21)} ${b.finishedAt.padEnd(26)} ${size} ${b.startLsn} → ${b.stopLsn}`);
      }
      print(`earliest restorable time: ${w.earliest?.toISOString() ?? "none"}`);
      print(`latest restorable time:   ${w.latest?.toISOString() ?? "none"}`);
      break;
    }
    case "restore": {
      const target = parseTarget(args);
      const restored = await restoreCluster({
        dataDir: clusterDirOf(config),
        target,
        port: e.port,
        superuserPassword: e.superuserPassword,
        log,
      });
      await restored.server.stop();
      print(
        `restored base backup ${restored.backup.id} ` +
          (restored.replayedAll
            ? "with all archived WAL"
            : `to ${args[args.indexOf("--to") + 1]}`) +
          ` in ${restored.recoverySeconds.toFixed(1)} s`,
      );
      if (restored.asideDir) {
        print(`the previous data folder is in ${restored.asideDir}: delete it when satisfied`);
      }
      break;
    }
    case "verify": {
      const report = await verifyLatestBackup({
        clusterDir: clusterDirOf(config),
        databaseName: e.databaseName,
        superuserPassword: e.superuserPassword,
        log,
      });
      print(JSON.stringify(report, null, 2));
      if (!report.ok) throw new Error(`backup ${report.backupId} failed verification`);
      break;
    }
  }
}

async function main(): Promise<void> {
  const [command = "", ...args] = process.argv.slice(2);
  if (!COMMANDS.includes(command)) {
    process.stderr.write(`usage: node src/backup/cli.ts <${COMMANDS.join("|")}> [args]\n`);
    process.exitCode = 2;
    return;
  }
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
  const name = command === "backups" ? "db:backups" : `db:${command}`;
  try {
    await run(command, args, config, log);
  } catch (error) {
    log.error(`${name} failed`, { error: (error as Error).message });
    process.exitCode = 1;
  }
}

await main();
