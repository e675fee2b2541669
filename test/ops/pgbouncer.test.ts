/**
 * The API and the worker through PgBouncer in transaction pooling mode (Debian's pgbouncer,
 * test/ops/packages.txt; DATABASE_POOLER_URL, docs/SCALING.md "Pooling"), for real: a
 * PostgreSQL (Debian's 15), PgBouncer in front of it with 20 server connections, four API
 * processes (the real entry point) and a worker.
 *
 * - 500 concurrent clients over the four APIs: no errors, never more than 20 server
 *   connections, and every answer is the one its own token asks for (currentUser under the
 *   request's own jwt.claims; anonymous requests see nobody): one request's role or claims seen
 *   by another would show here.
 * - the worker's jobs go through PgBouncer while its LISTEN keeps a direct session: a new job
 *   wakes it at once (its poll interval is 10 minutes), and a task that needs a session (a
 *   session advisory lock) leaves no lock behind.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";
import { chown, mkdir, writeFile } from "node:fs/promises";
import path from "node:path";
import { setTimeout as delay } from "node:timers/promises";

import pg from "pg";

import { ensureOwnerAndDatabase } from "../../src/db/connection.ts";
import { migrateDatabase } from "../../src/db/migrate.ts";
import { testLogger } from "../helpers/log.ts";
import { freePort, startProcess, type RunningProcess } from "../helpers/process.ts";
import { connect as connectSocket } from "../helpers/realtime.ts";
import { TEST_JWT_SECRET, type GraphQLBody, type TestServer } from "../helpers/server.ts";
import { createWorkspace, type PgServer, type PgWorkspace } from "./helpers/pgCluster.ts";

const OWNER = { name: "mking_owner", password: "owner-pgbouncer" };
const AUTHENTICATOR = { name: "mking_authenticator", password: "authenticator-pgbouncer" };
const DATABASE = "mking_friend";
const SERVER_CONNECTIONS = 20;
const API_PROCESSES = 4;
const CLIENTS = 500;
const USERS = 60;

const REGISTER = `mutation ($input: RegisterInput!) {
  register(input: $input) { accessToken user { id } }
}`;
const WHO_AM_I = `query { currentUser { id } }`;

let ws: PgWorkspace;
let primary: PgServer;
let pgbouncer: ChildProcess;
let pgbouncerOutput = "";
let poolerUrl: string;
const apis: { proc: RunningProcess; url: string }[] = [];
let monitor: pg.Client;
let users: { id: string; token: string }[] = [];

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => undefined);
  await client.connect();
  return client;
}

async function until<T>(what: string, probe: () => Promise<T | null>, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await probe().catch(() => null);
    if (value !== null) return value;
    if (Date.now() > deadline) {
      throw new Error(`still waiting after ${timeoutMs} ms: ${what}\n${pgbouncerOutput}`);
    }
    await delay(50);
  }
}

/** PgBouncer as the `postgres` system user (it refuses to run as root), config in ws.root. */
async function startPgBouncer(): Promise<number> {
  const port = await freePort();
  const dir = path.join(ws.root, "pgbouncer");
  await mkdir(dir);
  const users = [OWNER, AUTHENTICATOR].map((u) => `"${u.name}" "${u.password}"`).join("\n");
  await writeFile(path.join(dir, "userlist.txt"), users + "\n", { mode: 0o600 });
  await writeFile(
    path.join(dir, "pgbouncer.ini"),
    [
      "[databases]",
      `${DATABASE} = host=127.0.0.1 port=${primary.port} dbname=${DATABASE}`,
      "[pgbouncer]",
      "listen_addr = 127.0.0.1",
      `listen_port = ${port}`,
      "unix_socket_dir =",
      "auth_type = scram-sha-256",
      `auth_file = ${path.join(dir, "userlist.txt")}`,
      "pool_mode = transaction",
      `default_pool_size = ${SERVER_CONNECTIONS}`,
      `max_db_connections = ${SERVER_CONNECTIONS}`,
      "max_client_conn = 1000",
      "server_reset_query =",
      "",
    ].join("\n"),
  );
  for (const file of [dir, path.join(dir, "userlist.txt"), path.join(dir, "pgbouncer.ini")]) {
    if (ws.user.uid !== undefined) await chown(file, ws.user.uid, ws.user.gid ?? -1);
  }
  pgbouncer = spawn("/usr/sbin/pgbouncer", [path.join(dir, "pgbouncer.ini")], {
    ...ws.user,
    cwd: "/",
    stdio: ["ignore", "pipe", "pipe"],
  });
  const collect = (chunk: Buffer): void => {
    pgbouncerOutput += chunk.toString("utf8");
  };
  pgbouncer.stdout?.on("data", collect);
  pgbouncer.stderr?.on("data", collect);
  return port;
}

function apiEnv(dataDir: string): Record<string, string> {
  return {
    DATABASE_URL: primary.url(DATABASE, OWNER),
    DATABASE_POOLER_URL: poolerUrl,
    DATABASE_AUTHENTICATOR: AUTHENTICATOR.name,
    DATABASE_AUTHENTICATOR_PASSWORD: AUTHENTICATOR.password,
    DATA_DIR: dataDir,
    JWT_SECRET: TEST_JWT_SECRET,
    BCRYPT_COST: "4",
    HOST: "127.0.0.1",
    PORT: "0",
    LOG_LEVEL: "info",
    ACCESS_LOG: "false",
    // its 60 accounts all come from 127.0.0.1
    SIGNUPS_PER_CLIENT_PER_HOUR: "1000",
  };
}

async function startApi(index: number): Promise<void> {
  const proc = startProcess(["src/main.ts", "server"], apiEnv(path.join(ws.root, `api-${index}`)));
  const [, url] = await proc.waitFor(/GraphQL API ready at (http:\/\/[\d.]+:\d+)\/graphql/);
  apis.push({ proc, url: url! });
}

async function graphql(url: string, query: string, variables = {}, token?: string) {
  const response = await fetch(`${url}/graphql`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  return { status: response.status, body: (await response.json()) as GraphQLBody };
}

beforeAll(async () => {
  ws = await createWorkspace();
  primary = await ws.primary("primary");
  await ensureOwnerAndDatabase(primary.url(), {
    role: OWNER.name,
    password: OWNER.password,
    database: DATABASE,
  });
  const port = await startPgBouncer();
  poolerUrl = `postgres://127.0.0.1:${port}/${DATABASE}`;
  // the owner through PgBouncer answers: it is up
  await until("PgBouncer answers", async () => {
    const c = await connect(
      `postgres://${OWNER.name}:${OWNER.password}@127.0.0.1:${port}/${DATABASE}`,
    );
    await c.end();
    return true;
  });
  monitor = await connect(primary.url(DATABASE));
  // the schema as the test suite has it: the committed migrations and migrations/current.sql
  await migrateDatabase({
    ownerUrl: primary.url(DATABASE, OWNER),
    authenticator: AUTHENTICATOR,
    log: testLogger(),
    current: true,
  });
  await Promise.all(Array.from({ length: API_PROCESSES }, (_, i) => startApi(i)));
  // accounts, registered through the pooler too
  users = await Promise.all(
    Array.from({ length: USERS }, async (_, i) => {
      const tag = `pgb_${i}_${Math.random().toString(36).slice(2, 8)}`;
      const { body } = await graphql(apis[i % API_PROCESSES]!.url, REGISTER, {
        input: { email: `${tag}@example.com`, username: tag, password: "correct horse battery" },
      });
      if (body.errors) throw new Error(JSON.stringify(body.errors));
      const data = body.data as { register: { accessToken: string; user: { id: string } } };
      return { id: data.register.user.id, token: data.register.accessToken };
    }),
  );
}, 180_000);

afterAll(async () => {
  await monitor?.end().catch(() => undefined);
  for (const { proc } of apis) {
    if (proc.child.exitCode === null && proc.child.signalCode === null) {
      proc.child.kill("SIGTERM");
      await proc.exited;
    }
  }
  if (pgbouncer && pgbouncer.exitCode === null && pgbouncer.signalCode === null) {
    pgbouncer.kill("SIGTERM");
    await once(pgbouncer, "exit");
  }
  await ws?.remove();
});

describe("PgBouncer in transaction mode", () => {
  it("serves 500 concurrent clients over 4 APIs with 20 server connections: no errors, every answer under its own claims", async () => {
    // how many server connections PgBouncer opens, sampled while the load runs
    let sampling = true;
    let most = 0;
    const sampler = (async () => {
      while (sampling) {
        const { rows } = await monitor.query<{ n: number }>(
          `select count(*)::int as n from pg_stat_activity
            where datname = $1 and application_name = 'mking-friend-api'`,
          [DATABASE],
        );
        most = Math.max(most, rows[0]!.n);
        await delay(20);
      }
    })();

    // every 6th client is anonymous; the others are one of the users, spread over the APIs
    const results = await Promise.all(
      Array.from({ length: CLIENTS }, async (_, i) => {
        // (each user in turn: the n-th signed-in client is users[n % USERS])
        const user = i % 6 === 5 ? null : users[(i - Math.floor((i + 1) / 6)) % USERS]!;
        const api = apis[(i * 7) % API_PROCESSES]!;
        const { status, body } = await graphql(api.url, WHO_AM_I, {}, user?.token);
        return { expected: user?.id ?? null, status, body };
      }),
    );
    sampling = false;
    await sampler;

    const failures = results.filter((r) => r.status !== 200 || r.body.errors);
    expect(failures.map((r) => JSON.stringify(r.body).slice(0, 300))).toEqual([]);
    const seen = results.map((r) => {
      const data = r.body.data as { currentUser: { id: string } | null };
      return { expected: r.expected, got: data.currentUser?.id ?? null };
    });
    const mismatches = seen.filter((s) => s.expected !== s.got);
    expect(mismatches).toEqual([]);
    expect(seen.filter((s) => s.expected === null).length).toBeGreaterThan(50);
    expect(new Set(seen.map((s) => s.got)).size).toBe(USERS + 1);
    // the four pools (10 each) shared at most 20 server connections, and used the pooler
    expect(most).toBeGreaterThan(0);
    expect(most).toBeLessThanOrEqual(SERVER_CONNECTIONS);
  });

  it("delivers realtime events across the APIs: the LISTEN keeps a direct session", async () => {
    const [ana, ben] = [users[0]!, users[1]!];
    const created = await graphql(
      apis[1]!.url,
      `
        mutation ($p: [UUID]!) {
          createGroupConversation(input: { title: "pooled", participantIds: $p }) {
            conversation {
              id
            }
          }
        }
      `,
      { p: [ben.id] },
      ana.token,
    );
    const chat = (
      created.body.data as { createGroupConversation: { conversation: { id: string } } }
    ).createGroupConversation.conversation.id;
    const socket = connectSocket({ url: apis[0]!.url } as TestServer, {
      authorization: `Bearer ${ana.token}`,
    });
    try {
      const sub = socket.subscribe<{ id: string; content: string }>(
        `subscription ($c: UUID!) { messageAdded(conversationId: $c) { id content } }`,
        { c: chat },
      );
      // API 0 listens on the conversation's topic, on its own direct connection
      await until("API 0 listens", async () => {
        const { rows } = await monitor.query(
          `select 1 from pg_stat_activity
            where application_name = 'mking-friend-realtime' and query = $1`,
          [`LISTEN "conversation:${chat}"`],
        );
        return rows.length > 0 ? true : null;
      });
      const sent = await graphql(
        apis[2]!.url,
        `
          mutation ($c: UUID!) {
            sendMessage(input: { conversationId: $c, content: "through pgbouncer" }) {
              message {
                id
              }
            }
          }
        `,
        { c: chat },
        ben.token,
      );
      expect(sent.body.errors).toBeUndefined();
      const id = (sent.body.data as { sendMessage: { message: { id: string } } }).sendMessage
        .message.id;
      expect(await sub.event(0)).toEqual({ id, content: "through pgbouncer" });
    } finally {
      await socket.dispose();
    }
  });

  it("runs the worker's jobs through it, woken by a direct LISTEN, session tasks on a session", async () => {
    const worker = startProcess(["src/main.ts", "worker"], {
      ...apiEnv(path.join(ws.root, "worker")),
      MIGRATE_ON_START: "false",
      // only LISTEN can wake it within the test
      WORKER_POLL_INTERVAL_MS: "600000",
    });
    try {
      await worker.waitFor(/worker started/);
      // its LISTEN is a session of the direct pool, not one of PgBouncer's
      await until("the worker listens", async () => {
        const { rows } = await monitor.query(
          `select 1 from pg_stat_activity
            where application_name = 'mking-friend-worker-session'
              and query like 'LISTEN "jobs:insert"%'`,
        );
        return rows.length > 0 ? true : null;
      });
      const queued = Date.now();
      await monitor.query(
        `select graphile_worker.add_job('maintenance__reindex_bloated', '{}'::json)`,
      );
      await worker.waitFor(/maintenance__reindex_bloated done/);
      // the job's completion goes through PgBouncer (without named statements)
      await until(
        "the job is complete",
        async () => {
          const { rows } = await monitor.query<{ n: number }>(
            `select count(*)::int as n from graphile_worker.jobs
              where task_identifier = 'maintenance__reindex_bloated'`,
          );
          return rows[0]!.n === 0 ? true : null;
        },
        10_000,
      );
      expect(Date.now() - queued).toBeLessThan(15_000);
      // its session advisory lock was taken and released on the same (direct) connection
      const { rows } = await monitor.query<{ n: number }>(
        `select count(*)::int as n from pg_locks where locktype = 'advisory'`,
      );
      expect(rows[0]!.n).toBe(0);
      expect(worker.output()).not.toMatch(/prepared statement/i);
    } finally {
      worker.child.kill("SIGTERM");
      await worker.exited;
    }
  });
});
