/**
 * `npm run status` (src/status.ts) run as a developer runs it, as a child process against a
 * real database: the API's readiness and the worker's heartbeat, the database's size and
 * tables, the slowest statements, the job queue and the last backup — and, when no database
 * runs, one line saying so, without starting one.
 */
import { mkdir, mkdtemp, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import type { BackupManifest } from "../../src/backup/catalog.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { testCluster } from "../helpers/env.ts";
import { freePort, startProcess } from "../helpers/process.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { startTestWorker, type TestWorker } from "../helpers/worker.ts";

let db: TestDatabase;
let server: TestServer;
let worker: TestWorker;
let dataDir: string;

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startTestServer(db);
  worker = await startTestWorker(db, { heartbeatMs: 200 });
  dataDir = await mkdtemp(path.join(tmpdir(), "mking-status-"));
});
afterAll(async () => {
  await worker.close();
  await server.close();
  await db.drop();
  await rm(dataDir, { recursive: true, force: true });
});

/** Runs `npm run status`'s program with `env`; its exit code and output. */
async function status(env: Record<string, string>): Promise<{ code: number | null; out: string }> {
  const proc = startProcess(["src/status.ts"], {
    NODE_ENV: "development",
    DATA_DIR: dataDir,
    ...env,
  });
  const code = await proc.exited;
  return { code, out: proc.output() };
}

/** The lines of one section (from its heading to the next blank line). */
function section(out: string, heading: string): string {
  const start = out.indexOf(`\n${heading}`);
  expect({ heading, found: start >= 0 }).toEqual({ heading, found: true });
  const end = out.indexOf("\n\n", start + 1);
  return out.slice(start + 1, end < 0 ? undefined : end);
}

const apiEnv = (): Record<string, string> => {
  const { hostname, port } = new URL(server.url);
  return { HOST: hostname, PORT: port };
};

describe("npm run status", () => {
  it("shows the service, database, statements, job queue and backups of DATABASE_URL's database", async () => {
    await withClient(db.ownerUrl, (c) =>
      c.query(
        `select graphile_worker.add_job('test__status_probe', '{}'::json, run_at := now() - interval '90 seconds')`,
      ),
    );
    const { code, out } = await status({ DATABASE_URL: db.ownerUrl, ...apiEnv() });
    expect({ code, out }).toEqual({ code: 0, out: expect.any(String) });
    // plain text when not a terminal
    expect(out).not.toContain("\u001b[");

    const service = section(out, "Service");
    expect(service).toMatch(new RegExp(`API\\s+ready \\(\\d+ ms\\) ${server.url}/readyz`));
    expect(service).toMatch(/Worker\s+1 alive: \S+ pid \d+, beat \d+ s ago/);

    const database = section(out, "Database");
    expect(database).toMatch(new RegExp(`Name\\s+${db.name} \\(PostgreSQL \\d+`));
    expect(database).toMatch(/Size\s+\d+(\.\d)? MB/);
    expect(database).toMatch(/Connections\s+\d+ of max \d+: .*active \d+/);
    expect(database).toMatch(/Biggest tables\s+size\s+rows\s+dead/);
    // five tables, each with schema.name, a size and row counts
    expect(database.match(/^ {4}\w+\.\w+\s+\d+(\.\d)? (B|kB|MB)\s+\d+\s+\d+$/gm)).toHaveLength(5);

    const statements = section(out, "Slowest statements");
    const installed = await withClient(
      db.ownerUrl,
      async (c) =>
        (await c.query(`select 1 from pg_extension where extname = 'pg_stat_statements'`))
          .rowCount === 1,
    );
    if (installed) expect(statements).toMatch(/mean ms\s+calls\s+total ms\s+statement/);
    else
      expect(statements).toMatch(
        /pg_stat_statements is not installed in this database \(create extension/,
      );

    const queue = section(out, "Job queue");
    expect(queue).toMatch(/task\s+ready\s+scheduled\s+running\s+retrying\s+failed/);
    expect(queue).toMatch(/test__status_probe\s+1\s+0\s+0\s+0\s+0$/m);
    expect(queue).toMatch(/oldest ready job: (9\d|1\d\d) s$/m);

    // an outside server's backups are not in the embedded catalog
    expect(section(out, "Last backup")).toMatch(/no backups found/);
  });

  it("reads a running embedded server without starting one, and its backups catalog", async () => {
    // the test cluster stands in for an embedded server already running on EMBEDDED_PG_PORT
    const superuser = new URL(testCluster().superuserUrl);
    expect(superuser.hostname).toBe("127.0.0.1");
    const finishedAt = new Date(Date.now() - 3 * 3600 * 1000);
    const manifest: BackupManifest = {
      id: "20250101T000000Z",
      label: "mking-20250101T000000Z",
      startLsn: "0/2000028",
      stopLsn: "0/2000100",
      startedAt: new Date(finishedAt.getTime() - 60_000).toISOString(),
      finishedAt: finishedAt.toISOString(),
      bytes: 1234,
    };
    const folder = path.join(dataDir, "backups", "base", manifest.id);
    await mkdir(folder, { recursive: true });
    await writeFile(path.join(folder, "manifest.json"), JSON.stringify(manifest));

    const { code, out } = await status({
      EMBEDDED_PG_PORT: superuser.port,
      EMBEDDED_PG_SUPERUSER_PASSWORD: decodeURIComponent(superuser.password),
      EMBEDDED_PG_DATABASE: db.name,
      ...apiEnv(),
    });
    expect({ code, out }).toEqual({ code: 0, out: expect.any(String) });
    expect(section(out, "Database")).toMatch(new RegExp(`Name\\s+${db.name} `));
    expect(section(out, "Last backup")).toMatch(
      new RegExp(
        `${finishedAt.toISOString().replace(/\./g, "\\.")} \\(3\\.0 h ago; 1 base backup kept\\)`,
      ),
    );
    expect(out).not.toContain("embedded PostgreSQL is running");
  });

  it("says the database is not running, and starts none, when no embedded server runs", async () => {
    const empty = await mkdtemp(path.join(tmpdir(), "mking-status-none-"));
    try {
      const port = await freePort();
      const { code, out } = await status({
        DATA_DIR: empty,
        EMBEDDED_PG_PORT: String(port),
        PORT: String(await freePort()),
      });
      expect(code).toBe(1);
      expect(out).toMatch(/^API: unreachable \(ECONNREFUSED\)$/m);
      expect(out).toContain(
        `database not running: no embedded PostgreSQL on 127.0.0.1:${port} (npm start starts it)`,
      );
      expect(await readdir(empty)).toEqual([]);
    } finally {
      await rm(empty, { recursive: true, force: true });
    }
  });
});
