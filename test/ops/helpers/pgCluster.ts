/**
 * Real PostgreSQL servers from Debian's packages (postgresql-15: initdb, pg_ctl, pg_basebackup),
 * each in a folder of its own under /var/tmp, run as the `postgres` system user when we are
 * root: a primary, and streaming standbys cloned from it with `pg_basebackup -R`.
 */
import { chown, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import path from "node:path";

import { postgresRunAs, runAs, type RunAs } from "../../../src/db/postgresUser.ts";
import { freePort } from "../../helpers/process.ts";

export const PG15_BIN = "/usr/lib/postgresql/15/bin";
export const SUPERUSER = "postgres";
export const REPLICATION_ROLE = { name: "mking_replicator", password: "replicator-test" };

export interface PgServer {
  readonly name: string;
  readonly port: number;
  readonly dataDir: string;
  /** Superuser URL for `database` (default postgres). */
  url(database?: string, user?: { name: string; password: string }): string;
  start(): Promise<void>;
  /** `pg_ctl stop -m <mode>`: immediate is a crash as far as the server is concerned. */
  stop(mode?: "fast" | "immediate"): Promise<void>;
  /** `pg_ctl promote -w`: ends recovery; resolves once the server accepts writes. */
  promote(): Promise<void>;
  /** The end of the server log (for failure messages). */
  logTail(lines?: number): Promise<string>;
}

export interface PgWorkspace {
  readonly root: string;
  readonly user: RunAs;
  /** initdb (scram-sha-256, superuser password) and start a primary with a replication role. */
  primary(name: string): Promise<PgServer>;
  /** pg_basebackup -R from `primary` (as the replication role), then start it as hot standby. */
  standby(name: string, primary: PgServer): Promise<PgServer>;
  /** Stops every server still running and deletes the folder. */
  remove(): Promise<void>;
}

const PASSWORD = "failover-test";

async function run(
  user: RunAs,
  program: string,
  args: string[],
  env: Record<string, string> = {},
): Promise<string> {
  const { output, failure } = await runAs(path.join(PG15_BIN, program), args, user, {
    ...process.env,
    LC_MESSAGES: "C",
    ...env,
  });
  if (failure) throw new Error(`${program} ${args.join(" ")}: ${failure}\n${output}`);
  return output;
}

export async function createWorkspace(): Promise<PgWorkspace> {
  const user = await postgresRunAs();
  const root = await mkdtemp("/var/tmp/mking-failover-");
  const own = async (file: string): Promise<void> => {
    if (user.uid !== undefined) await chown(file, user.uid, user.gid ?? -1);
  };
  await own(root);
  const servers: PgServer[] = [];
  const running = new Set<PgServer>();

  const server = (name: string, port: number): PgServer => {
    const dataDir = path.join(root, name);
    const logFile = path.join(root, `${name}.log`);
    const self: PgServer = {
      name,
      port,
      dataDir,
      url: (database = "postgres", as = { name: SUPERUSER, password: PASSWORD }) =>
        `postgres://${encodeURIComponent(as.name)}:${encodeURIComponent(as.password)}@127.0.0.1:${port}/${database}`,
      async start() {
        await run(user, "pg_ctl", [
          "start",
          "-w",
          "-t",
          "60",
          "-D",
          dataDir,
          "-l",
          logFile,
          "-o",
          `-p ${port} -c listen_addresses=127.0.0.1 -c unix_socket_directories=''`,
        ]);
        running.add(self);
      },
      async stop(mode = "fast") {
        await run(user, "pg_ctl", ["stop", "-w", "-m", mode, "-D", dataDir]);
        running.delete(self);
      },
      async promote() {
        await run(user, "pg_ctl", ["promote", "-w", "-t", "60", "-D", dataDir]);
      },
      async logTail(lines = 30) {
        const text = await readFile(logFile, "utf8").catch(() => "");
        return text.trim().split("\n").slice(-lines).join("\n");
      },
    };
    servers.push(self);
    return self;
  };

  return {
    root,
    user,
    async primary(name) {
      const primary = server(name, await freePort());
      const pwfile = path.join(root, `.pw-${name}`);
      await writeFile(pwfile, PASSWORD + "\n", { mode: 0o600 });
      await own(pwfile);
      await run(user, "initdb", [
        `--pgdata=${primary.dataDir}`,
        "--auth=scram-sha-256",
        `--username=${SUPERUSER}`,
        `--pwfile=${pwfile}`,
        "--encoding=UTF8",
        "--locale=C",
      ]);
      await rm(pwfile, { force: true });
      await primary.start();
      // initdb's pg_hba.conf already lets 127.0.0.1 connect for replication with scram-sha-256
      await run(user, "psql", [
        "-v",
        "ON_ERROR_STOP=1",
        "-d",
        primary.url(),
        "-c",
        `create role ${REPLICATION_ROLE.name} with replication login password '${REPLICATION_ROLE.password}'`,
      ]);
      return primary;
    },
    async standby(name, primary) {
      const standby = server(name, await freePort());
      await run(
        user,
        "pg_basebackup",
        [
          "-D",
          standby.dataDir,
          "-R",
          "-X",
          "stream",
          "-c",
          "fast",
          "-d",
          `host=127.0.0.1 port=${primary.port} user=${REPLICATION_ROLE.name} application_name=${name}`,
        ],
        { PGPASSWORD: REPLICATION_ROLE.password },
      );
      await standby.start();
      return standby;
    },
    async remove() {
      for (const s of [...running]) await s.stop("immediate").catch(() => undefined);
      await rm(root, { recursive: true, force: true });
    },
  };
}
