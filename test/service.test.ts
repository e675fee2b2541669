/**
 * `npm start` as a newcomer runs it: the real entry point as a child process. Without
 * DATABASE_URL it boots the embedded PostgreSQL (reusing its data on the next start), migrates,
 * serves GraphQL and GraphiQL, runs the worker, and stops everything on SIGTERM.
 */
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { createTestDatabase } from "./helpers/database.ts";
import { freePort, startProcess, type RunningProcess } from "./helpers/process.ts";

const READY = /GraphQL API ready at (http:\/\/[\d.]+:\d+)\/graphql/;

async function stopGracefully(proc: RunningProcess): Promise<number | null> {
  proc.child.kill("SIGTERM");
  const code = await proc.exited;
  if (code !== 0)
    process.stderr.write(`exit ${code} signal ${proc.child.signalCode}\n${proc.output()}\n`);
  return code;
}

describe("npm start with the embedded database", () => {
  let dataDir: string;
  let env: Record<string, string>;

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "mking-start-"));
    // As root, postgres runs as the `postgres` user, which must be able to enter the folder.
    await chmod(dataDir, 0o755);
    env = {
      DATA_DIR: dataDir,
      EMBEDDED_PG_PORT: String(await freePort()),
      PORT: "0",
      METRICS_PORT: "0",
      LOG_LEVEL: "info",
    };
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it("boots Postgres, migrates, serves /graphql and /graphiql, runs the worker, and stops on SIGTERM", async () => {
    const proc = startProcess(["src/main.ts"], env);
    try {
      const [, url] = await proc.waitFor(READY);
      expect(proc.output()).toContain("initialising embedded PostgreSQL");
      await proc.waitFor(/Worker connected and looking for jobs/);

      const response = await fetch(`${url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ query: "{ posts { totalCount } }" }),
      });
      expect(await response.json()).toEqual({ data: { posts: { totalCount: 0 } } });
      expect((await fetch(`${url}/graphiql`)).status).toBe(200);
      expect(proc.output()).toContain(`GraphiQL (Ruru) at ${url}/graphiql`);

      // the worker does its jobs with no extra step: registering queues the verification e-mail
      const registered = await fetch(`${url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          query: `mutation { register(input: { email: "start@example.com", password: "a good password", username: "starter" }) { user { id } } }`,
        }),
      });
      expect(((await registered.json()) as { errors?: unknown }).errors).toBeUndefined();
      const [, eml] = await proc.waitFor(/send_email: verify_email sent .*to=(\S+\.eml)/);
      expect(eml!.startsWith(path.join(dataDir, "outbox"))).toBe(true);
      expect(await readFile(eml!, "utf8")).toContain("To: start@example.com");

      await proc.waitFor(/Completed task \d+ \(send_email/);
      const [, metricsUrl] = await proc.waitFor(/metrics at (http:\/\/\S+\/metrics)/);
      const metrics = await (await fetch(metricsUrl!)).text();
      expect(metrics).toContain("mking_worker_pools_alive 1");
      expect(metrics).toMatch(/mking_worker_jobs_completed_total\{task="send_email"\} 1/);
    } finally {
      expect(await stopGracefully(proc)).toBe(0);
    }
    expect(proc.output()).toMatch(/worker stopped[\s\S]*embedded PostgreSQL stopped/);
    // postgres removes its pid file when it has shut down
    expect(existsSync(path.join(dataDir, "postgres", "postmaster.pid"))).toBe(false);
  });

  it("reuses the data folder on the next start", async () => {
    const proc = startProcess(["src/main.ts"], env);
    try {
      await proc.waitFor(READY);
      expect(proc.output()).not.toContain("initialising embedded PostgreSQL");
      expect(proc.output()).toContain("Already up to date");
    } finally {
      expect(await stopGracefully(proc)).toBe(0);
    }
  });
});

describe("npm start with DATABASE_URL", () => {
  it("uses that server and starts no database of its own", async () => {
    const db = await createTestDatabase();
    const proc = startProcess(["src/main.ts", "server"], {
      DATABASE_URL: db.ownerUrl,
      AUTH_DATABASE_URL: db.authUrl,
      PORT: "0",
    });
    try {
      const [, url] = await proc.waitFor(READY);
      expect(proc.output()).not.toContain("embedded PostgreSQL");
      const ready = await fetch(`${url}/readyz`);
      expect(await ready.json()).toEqual({ status: "ready" });
    } finally {
      expect(await stopGracefully(proc)).toBe(0);
      await db.drop();
    }
    // `server` mode runs no worker
    expect(proc.output()).not.toContain("worker started");
  });

  it("runs only the worker in `worker` mode, with /healthz and /metrics on METRICS_PORT", async () => {
    const db = await createTestDatabase();
    const proc = startProcess(["src/main.ts", "worker"], {
      DATABASE_URL: db.ownerUrl,
      AUTH_DATABASE_URL: db.authUrl,
      METRICS_PORT: "0",
    });
    try {
      const [, base] = await proc.waitFor(/metrics at (http:\/\/\S+)\/metrics/);
      await proc.waitFor(/worker ready/);
      const health = await fetch(`${base}/healthz`);
      expect(health.status).toBe(200);
      expect(await health.json()).toEqual({ status: "ok" });
      const metrics = await (await fetch(`${base}/metrics`)).text();
      expect(metrics).toContain("# TYPE mking_jobs gauge");
      expect(metrics).toContain("mking_worker_pools_alive 1");
    } finally {
      expect(await stopGracefully(proc)).toBe(0);
      await db.drop();
    }
    expect(proc.output()).not.toContain("GraphQL API ready");
  });
});
