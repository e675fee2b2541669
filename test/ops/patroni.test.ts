/**
 * Automated failover with the existing engine for it (docs/OPERATIONS.md, "Automated failover
 * with Patroni and etcd"; issue #11): Debian's Patroni 3.0 and etcd 3.4, for real. One etcd
 * member and two Patroni nodes managing Debian's PostgreSQL 15, everything on free loopback
 * ports in a folder under /var/tmp. Patroni elects a leader and clones the replica from it;
 * rows written on the leader reach the replica; then the leader's Patroni and its PostgreSQL are
 * killed (SIGKILL, a machine lost as far as they can tell) and the replica must take the leader
 * key and promote itself, with the rows, taking writes — within FAILOVER_LIMIT_SECONDS.
 *
 * The DCS timing is shortened for a quick test (ttl 10 s, loop_wait 2 s, retry_timeout 5 s); the
 * failover time this prints is what docs/OPERATIONS.md reports.
 */
import pg from "pg";

import { ensureOwnerAndDatabase } from "../../src/db/connection.ts";
import { startApiProcess, type ApiProcess } from "./helpers/apiProcess.ts";
import { opsFolder, type OpsFolder } from "./helpers/postgres15.ts";
import {
  startEtcd,
  startPatroniNode,
  until,
  type Etcd,
  type PatroniNode,
} from "./helpers/patroni.ts";

const TTL = 10;
const LOOP_WAIT = 2;
const RETRY_TIMEOUT = 5;
/**
 * The leader key expires `ttl` seconds after its last renewal at most; the replica notices within
 * one `loop_wait` and promotes. The rest is slack for a busy machine.
 */
const FAILOVER_LIMIT_SECONDS = 30;
const ROWS = 1000;

const OWNER = { role: "mking_owner", password: "owner-patroni", database: "mking_friend" };
const REGISTER = `mutation ($input: RegisterInput!) {
  register(input: $input) { accessToken user { id } }
}`;
const PUBLISH = `mutation ($c: String!) { publishPost(input: { content: $c }) { post { id } } }`;

/** The API's DATABASE_URL for `node` (one host: pointing it elsewhere is a restart). */
function apiUrl(node: PatroniNode): string {
  return `postgres://${OWNER.role}:${OWNER.password}@127.0.0.1:${node.port}/${OWNER.database}`;
}

async function query<T extends pg.QueryResultRow>(
  url: string,
  sql: string,
  params: unknown[] = [],
): Promise<T[]> {
  const client = new pg.Client({ connectionString: url });
  client.on("error", () => undefined);
  await client.connect();
  try {
    return (await client.query<T>(sql, params)).rows;
  } finally {
    await client.end().catch(() => undefined);
  }
}

async function count(url: string): Promise<number> {
  const [row] = await query<{ n: number }>(url, "select count(*)::int as n from failover_drill");
  return row!.n;
}

describe("automated failover with Patroni and etcd", () => {
  let folder: OpsFolder;
  let etcd: Etcd | null = null;
  const nodes: PatroniNode[] = [];
  let leader: PatroniNode;
  let replica: PatroniNode;
  let api: ApiProcess | null = null;
  /** A user registered through the API on the first leader. */
  let account: { id: string; token: string };

  /** Runs `step`; when it fails, the error carries the end of every server's log. */
  async function withLogs<T>(step: () => Promise<T>): Promise<T> {
    try {
      return await step();
    } catch (error) {
      const tail = (text: string): string => text.trim().split("\n").slice(-25).join("\n");
      const logs = [
        ...nodes.map((n) => `--- patroni ${n.name}:\n${tail(n.log())}`),
        `--- etcd:\n${tail(etcd?.log() ?? "")}`,
      ];
      if (error instanceof Error) error.message += `\n${logs.join("\n")}`;
      throw error;
    }
  }

  beforeAll(async () => {
    folder = await opsFolder("patroni");
    etcd = await startEtcd(folder);
    const options = { folder, etcd, ttl: TTL, loopWait: LOOP_WAIT, retryTimeout: RETRY_TIMEOUT };
    nodes.push(await startPatroniNode({ ...options, name: "node1" }));
    nodes.push(await startPatroniNode({ ...options, name: "node2" }));
  });

  afterAll(async () => {
    await api?.stop();
    await Promise.all(nodes.map((n) => n.stop()));
    await etcd?.stop();
    await folder?.remove();
  });

  it("elects exactly one leader, and the other node streams from it", async () => {
    await withLogs(async () => {
      // one node bootstraps (initdb), the other clones it (pg_basebackup) and follows
      [leader, replica] = await until(
        "GET /primary answers 200 on exactly one node",
        60_000,
        async () => {
          const statuses = await Promise.all(nodes.map((n) => n.status("/primary")));
          const leaders = nodes.filter((_, i) => statuses[i] === 200);
          const others = nodes.filter((_, i) => statuses[i] !== 200);
          return leaders.length === 1 ? [leaders[0]!, others[0]!] : null;
        },
      );

      // the project's owner role and database, made on the leader as docs/OPERATIONS.md says
      await ensureOwnerAndDatabase(leader.url(), OWNER);
      // the API on the leader (it migrates at start); a user registered through it
      api = await startApiProcess(apiUrl(leader), folder.dir);
      const registered = await api.graphql(REGISTER, {
        input: {
          email: "patroni@example.com",
          username: "patroni",
          password: "correct horse battery",
        },
      });
      expect(registered.errors).toBeUndefined();
      const { register } = registered.data as {
        register: { accessToken: string; user: { id: string } };
      };
      account = { id: register.user.id, token: register.accessToken };
      await api.stop();
      api = null;
      // then rows written directly: once they are replayed, everything before them is too
      await query(leader.url(), "create table failover_drill (id int primary key, note text)");
      await query(
        leader.url(),
        "insert into failover_drill select i, 'written on ' || $1 from generate_series(1, $2::int) i",
        [leader.name, ROWS],
      );

      await until(`${replica.name} streams from ${leader.name}`, 60_000, async () => {
        if ((await replica.status("/replica")) !== 200) return null;
        const state = await leader.state();
        const streaming = state.replication?.some(
          (r) => r.application_name === replica.name && r.state === "streaming",
        );
        return streaming ? true : null;
      });
      // asynchronous replication: wait for the rows to be replayed (a crash before that loses them)
      await until(`${replica.name} has replayed the rows`, 30_000, async () =>
        (await count(replica.url())) === ROWS ? true : null,
      );
      const [recovery] = await query<{ standby: boolean }>(
        replica.url(),
        "select pg_is_in_recovery() as standby",
      );
      expect(recovery!.standby).toBe(true);
      expect(await replica.status("/primary")).toBe(503);
    });
  });

  it("promotes the replica when the leader's Patroni and PostgreSQL are killed", async () => {
    await withLogs(async () => {
      const timelineBefore = (await leader.state()).timeline ?? 0;
      const crashAt = Date.now();
      await leader.kill();
      const newLeaderAt = await until(
        `${replica.name} becomes the leader (GET /primary 200)`,
        FAILOVER_LIMIT_SECONDS * 2 * 1000,
        async () => ((await replica.status("/primary")) === 200 ? Date.now() : null),
      );
      const failoverSeconds = (newLeaderAt - crashAt) / 1000;
      expect(await leader.status("/primary")).toBeNull();

      // GET /primary answers 200 as soon as the node holds the leader key, a moment before
      // PostgreSQL has finished promoting: the first writes HAProxy sends may still be refused
      const promotedAt = await until(
        `${replica.name} has promoted PostgreSQL`,
        30_000,
        async () => {
          const state = await replica.state();
          if (!["master", "primary"].includes(state.role ?? "") || state.state !== "running") {
            return null;
          }
          const [recovery] = await query<{ standby: boolean }>(
            replica.url(),
            "select pg_is_in_recovery() as standby",
          );
          return recovery!.standby ? null : Date.now();
        },
      );
      const writableSeconds = (promotedAt - crashAt) / 1000;
      const state = await replica.state();
      expect(state.timeline).toBe(timelineBefore + 1);
      // every row written on the old leader is there, and the new leader takes writes
      expect(await count(replica.url())).toBe(ROWS);
      await query(
        replica.url(),
        "insert into failover_drill values ($1, 'written after the failover')",
        [ROWS + 1],
      );
      expect(await count(replica.url())).toBe(ROWS + 1);
      expect(writableSeconds).toBeLessThan(FAILOVER_LIMIT_SECONDS);

      process.stdout.write(
        `\nPatroni failover (Patroni 3.0, etcd 3.4, PostgreSQL 15; ttl ${TTL} s, loop_wait ` +
          `${LOOP_WAIT} s, retry_timeout ${RETRY_TIMEOUT} s):\n` +
          `  SIGKILL of ${leader.name}'s Patroni and PostgreSQL → ${replica.name} answers ` +
          `GET /primary 200: ${failoverSeconds.toFixed(1)} s; PostgreSQL promoted (out of ` +
          `recovery): ${writableSeconds.toFixed(1)} s; timeline ${timelineBefore} → ` +
          `${state.timeline}; ${ROWS} of ${ROWS} rows there, writes accepted\n`,
      );
    });
  });

  it("the API, restarted against the new leader, knows the user and takes writes", async () => {
    await withLogs(async () => {
      api = await startApiProcess(apiUrl(replica), folder.dir);
      const me = await api.graphql(`{ currentUser { id } }`, {}, account.token);
      expect(me.errors).toBeUndefined();
      expect(me.data).toEqual({ currentUser: { id: account.id } });
      const published = await api.graphql(
        PUBLISH,
        { c: "after the Patroni failover" },
        account.token,
      );
      expect(published.errors).toBeUndefined();
    });
  });
});
