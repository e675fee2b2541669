/**
 * pgBackRest (Debian's `pgbackrest` package) run with production's configuration file,
 * docker/postgres/pgbackrest.conf, copied into the test's folder (PGBACKREST_CONFIG) with only
 * the paths changed, through environment variables, which take precedence over the file: the
 * repository, the data folder, the socket, the port, locks, logs and the spool. The repository's
 * cipher pass is PGBACKREST_REPO1_CIPHER_PASS, as in production. The same variables reach the
 * server, so its archive_command (archive-push) and restore_command (archive-get) use the same
 * repository. Nothing under /etc is read or written.
 */
import { chown, copyFile, mkdir } from "node:fs/promises";
import path from "node:path";

import { PROJECT_ROOT } from "../../../src/paths.ts";
import { type RunAs } from "../../../src/db/postgresUser.ts";
import { mustRun } from "./postgres15.ts";

/** Production's pgBackRest configuration (the `postgres` and `backup` services). */
export const PRODUCTION_CONFIG = path.join(PROJECT_ROOT, "docker", "postgres", "pgbackrest.conf");

export const STANZA = "mking";

export interface PgBackRestSetup {
  /**
   * Folder for the configuration file, the repository, locks, logs and the spool, owned by the
   * server's user.
   */
  readonly workDir: string;
  readonly dataDir: string;
  readonly port: number;
  readonly socketDir: string;
  readonly user: RunAs;
  readonly cipherPass: string;
  /** More options as PGBACKREST_* variables, over the file's. */
  readonly overrides?: NodeJS.ProcessEnv;
}

export interface PgBackRest {
  readonly configFile: string;
  readonly repoPath: string;
  /** The environment the server and every pgbackrest command need. */
  readonly env: NodeJS.ProcessEnv;
  /** Runs `pgbackrest --stanza=mking <args>`; throws with its output when it fails. */
  run(...args: string[]): Promise<string>;
  /** The same, with other environment variables (e.g. a wrong cipher pass): never throws. */
  runWith(env: NodeJS.ProcessEnv, ...args: string[]): Promise<{ ok: boolean; output: string }>;
}

export async function setUpPgBackRest(setup: PgBackRestSetup): Promise<PgBackRest> {
  const folder = async (name: string): Promise<string> => {
    const dir = path.join(setup.workDir, name);
    await mkdir(dir, { recursive: true, mode: 0o750 });
    if (setup.user.uid !== undefined) await chown(dir, setup.user.uid, setup.user.gid ?? 0);
    return dir;
  };
  const configFile = path.join(setup.workDir, "pgbackrest.conf");
  await copyFile(PRODUCTION_CONFIG, configFile);
  if (setup.user.uid !== undefined) {
    await chown(configFile, setup.user.uid, setup.user.gid ?? setup.user.uid);
  }
  const repoPath = await folder("repo");
  const env: NodeJS.ProcessEnv = {
    PATH: "/usr/bin:/bin",
    LANG: "C",
    PGBACKREST_CONFIG: configFile,
    PGBACKREST_REPO1_CIPHER_PASS: setup.cipherPass,
    PGBACKREST_REPO1_PATH: repoPath,
    PGBACKREST_PG1_PATH: setup.dataDir,
    PGBACKREST_PG1_PORT: String(setup.port),
    PGBACKREST_PG1_SOCKET_PATH: setup.socketDir,
    // initdb's superuser here; the official image's is POSTGRES_USER
    PGBACKREST_PG1_USER: "postgres",
    PGBACKREST_LOCK_PATH: await folder("lock"),
    PGBACKREST_LOG_PATH: await folder("log"),
    PGBACKREST_SPOOL_PATH: await folder("spool"),
    ...setup.overrides,
  };
  const runWith = async (
    extra: NodeJS.ProcessEnv,
    ...args: string[]
  ): Promise<{ ok: boolean; output: string }> => {
    try {
      const output = await mustRun(
        "/usr/bin/pgbackrest",
        [`--stanza=${STANZA}`, ...args],
        setup.user,
        { ...env, ...extra },
      );
      return { ok: true, output };
    } catch (error) {
      return { ok: false, output: (error as Error).message };
    }
  };
  return {
    configFile,
    repoPath,
    env,
    run: (...args) =>
      mustRun("/usr/bin/pgbackrest", [`--stanza=${STANZA}`, ...args], setup.user, env),
    runWith,
  };
}
