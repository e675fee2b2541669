/**
 * `npm start` as a newcomer runs it: the real entry point as a child process. Without
 * DATABASE_URL it boots the embedded PostgreSQL (reusing its data on the next start), migrates,
 * serves GraphQL and GraphiQL, runs the worker, and stops everything on SIGTERM — and on a
 * terminal's Ctrl-C, which signals npm, Node and (before it had a session of its own) postgres
 * at once, it still lets a running job finish before it stops postgres.
 */
import { once } from "node:events";
import { existsSync } from "node:fs";
import { chmod, mkdtemp, readFile, rm } from "node:fs/promises";
import { connect, createServer, type AddressInfo, type Socket } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";

import { createTestDatabase, withClient } from "./helpers/database.ts";
import {
  freePort,
  groupMembers,
  isAlive,
  signalGroup,
  startProcess,
  waitUntil,
  type RunningProcess,
} from "./helpers/process.ts";
import { startFakeSmtp, type FakeSmtp } from "./helpers/smtp.ts";

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

describe("METRICS_DATABASE", () => {
  it.each([
    { setting: undefined, collects: true },
    { setting: "false", collects: false },
  ])(
    "an API instance with METRICS_PORT collects the database's metrics unless set false ($setting)",
    async ({ setting, collects }) => {
      const db = await createTestDatabase();
      const proc = startProcess(["src/main.ts", "server"], {
        DATABASE_URL: db.ownerUrl,
        AUTH_DATABASE_URL: db.authUrl,
        PORT: "0",
        METRICS_PORT: "0",
        ...(setting === undefined ? {} : { METRICS_DATABASE: setting }),
      });
      try {
        const [, metricsUrl] = await proc.waitFor(/metrics at (http:\/\/\S+\/metrics)/);
        await proc.waitFor(READY);
        const metrics = await (await fetch(metricsUrl!)).text();
        // the API's own metrics either way; the database's (registered at start) only if asked
        expect(metrics).toContain("# TYPE mking_http_requests_in_flight gauge");
        expect(metrics.includes("# TYPE mking_db_up gauge")).toBe(collects);
        expect(/^mking_db_/m.test(metrics) || metrics.includes("# TYPE mking_db_")).toBe(collects);
      } finally {
        expect(await stopGracefully(proc)).toBe(0);
        await db.drop();
      }
    },
  );
});

/**
 * An SMTP server that holds every connection until `release()`: a send_email job that connects
 * is in flight (waiting for the greeting) until the test lets it through to `target`.
 */
async function startHoldingSmtp(target: FakeSmtp): Promise<{
  url: string;
  connected: Promise<void>;
  release(): void;
  close(): Promise<void>;
}> {
  const { hostname, port } = new URL(target.url);
  const sockets = new Set<Socket>();
  let release = (): void => undefined;
  const released = new Promise<void>((resolve) => (release = resolve));
  let onConnect = (): void => undefined;
  const connected = new Promise<void>((resolve) => (onConnect = resolve));
  const server = createServer((client) => {
    sockets.add(client);
    client.on("error", () => undefined);
    onConnect();
    void released.then(() => {
      const upstream = connect(Number(port), hostname);
      sockets.add(upstream);
      upstream.on("error", () => undefined);
      client.pipe(upstream).pipe(client);
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return {
    url: `smtp://127.0.0.1:${(server.address() as AddressInfo).port}`,
    connected,
    release,
    close: async () => {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** After a failed assertion: no process of the test outlives it. */
function killLeftovers(proc: RunningProcess): void {
  if (proc.child.exitCode === null && proc.child.signalCode === null) {
    signalGroup(proc.child.pid!, "SIGKILL");
  }
}

describe("stopping npm start with the embedded database", () => {
  let dataDir: string;
  let env: Record<string, string>;
  const postmasterPid = async (): Promise<number> =>
    Number(
      (await readFile(path.join(dataDir, "postgres", "postmaster.pid"), "utf8")).split("\n")[0],
    );
  const npmStart = (extra: Record<string, string> = {}): RunningProcess =>
    // its own process group, as a shell runs a foreground job; `npm start` as the README says
    startProcess(["start"], { ...env, ...extra }, { command: "npm", detached: true });

  /** Nothing left: not npm, Node or postgres, nor postgres's watchdog or backends. */
  async function expectAllGone(proc: RunningProcess, postgresPid: number): Promise<void> {
    expect(groupMembers(proc.child.pid!)).toEqual([]);
    expect(isAlive(postgresPid)).toBe(false);
    // postgres and its watchdog share postgres's group; the watchdog ends just after Node
    await waitUntil(
      "postgres's process group to empty",
      () => groupMembers(postgresPid).length === 0,
    );
    expect(existsSync(path.join(dataDir, "postgres", "postmaster.pid"))).toBe(false);
  }

  beforeAll(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "mking-stop-"));
    await chmod(dataDir, 0o755);
    env = {
      DATA_DIR: dataDir,
      EMBEDDED_PG_PORT: String(await freePort()),
      PORT: "0",
      // postgres's own log lines too ("terminating connection ..."), and the worker's
      LOG_LEVEL: "debug",
      // a developer's .env must not point this test elsewhere (set variables win over it)
      DATABASE_URL: "",
      NODE_ENV: "development",
      npm_config_update_notifier: "false",
    };
  });
  afterAll(() => rm(dataDir, { recursive: true, force: true }));

  it("on Ctrl-C (SIGINT to the whole process group) finishes the running job, then stops postgres", async () => {
    const smtp = await startFakeSmtp();
    const holding = await startHoldingSmtp(smtp);
    const proc = npmStart({ SMTP_URL: holding.url });
    try {
      const [, url] = await proc.waitFor(READY);
      await proc.waitFor(/Worker connected and looking for jobs/);
      const pgPid = await postmasterPid();

      // registering queues send_email, which connects to the SMTP server and waits there
      const registered = await fetch(`${url}/graphql`, {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({
          query: `mutation { register(input: { email: "ctrl-c@example.com", password: "a good password", username: "ctrlc" }) { user { id } } }`,
        }),
      });
      expect(((await registered.json()) as { errors?: unknown }).errors).toBeUndefined();
      await holding.connected;

      signalGroup(proc.child.pid!, "SIGINT");
      await proc.waitFor(/shutting down signal=SIGINT/);
      // the signal reached the group, yet postgres still serves: the job can finish its work
      const superuserUrl = `postgres://postgres:postgres@127.0.0.1:${env.EMBEDDED_PG_PORT}/postgres`;
      expect(
        await withClient(superuserUrl, async (c) => (await c.query("select 1 as ok")).rows),
      ).toEqual([{ ok: 1 }]);
      holding.release();

      expect(await proc.exited).toBe(0);
      const output = proc.output();
      expect(output).toMatch(
        /shutting down signal=SIGINT[\s\S]*Completed task \d+ \(send_email[\s\S]*worker stopped[\s\S]*embedded PostgreSQL stopped/,
      );
      expect(output).not.toContain("terminating connection due to administrator command");
      expect(output).not.toContain("Failed to fail jobs");
      expect(output).not.toContain("second signal");
      expect(await smtp.message(0)).toContain("To: ctrl-c@example.com");
      await expectAllGone(proc, pgPid);
    } finally {
      killLeftovers(proc);
      await holding.close();
      await smtp.close();
    }
  });

  it("on SIGTERM to the npm process alone stops Node and postgres too (nothing orphaned)", async () => {
    const proc = npmStart();
    try {
      await proc.waitFor(READY);
      const pgPid = await postmasterPid();
      proc.child.kill("SIGTERM");
      expect(await proc.exited).toBe(0);
      expect(proc.output()).toMatch(
        /shutting down signal=SIGTERM[\s\S]*embedded PostgreSQL stopped/,
      );
      await expectAllGone(proc, pgPid);
    } finally {
      killLeftovers(proc);
    }
  });

  it("when Node dies without stopping postgres (SIGKILL), postgres shuts down by itself", async () => {
    const proc = startProcess(["src/main.ts"], env, { detached: true });
    try {
      await proc.waitFor(READY);
      const pgPid = await postmasterPid();
      proc.child.kill("SIGKILL");
      await proc.exited;
      await waitUntil("postgres to shut down", () => groupMembers(pgPid).length === 0);
      // a clean (fast) shutdown removes the pid file; a killed postgres would leave it
      expect(existsSync(path.join(dataDir, "postgres", "postmaster.pid"))).toBe(false);
    } finally {
      killLeftovers(proc);
    }
  });
});
