/**
 * The failover drill (docs/OPERATIONS.md, "Failover"), for real: a PostgreSQL primary and a
 * streaming hot standby (Debian's postgresql-15; pg_basebackup -R), the API's real entry point
 * against the primary, writes through the API at a steady rate while the replication lag is
 * sampled, then: stop the primary (immediate: a crash as far as PostgreSQL is concerned),
 * promote the standby, restart the API with DATABASE_URL pointing at it, and check that it
 * answers again within RTO_LIMIT_SECONDS and that every write it acknowledged is there.
 *
 * Twice: asynchronous replication (the default), where what the standby had not received at the
 * moment of the crash is lost — the test counts those writes at the moment of the last
 * acknowledgement, then lets the standby catch up before stopping the primary — and synchronous
 * (synchronous_standby_names set, synchronous_commit on), where the primary is stopped right
 * after the last acknowledgement and nothing may be lost.
 */
import { setTimeout as delay } from "node:timers/promises";

import pg from "pg";

import { ensureOwnerAndDatabase } from "../../src/db/connection.ts";
import { replicationStatus, type StandbyStatus } from "../../src/db/replication.ts";
import { startProcess } from "../helpers/process.ts";
import { startApiProcess, type ApiProcess } from "./helpers/apiProcess.ts";
import { createWorkspace, type PgServer, type PgWorkspace } from "./helpers/pgCluster.ts";
import { summarize } from "./helpers/stats.ts";

/** The API must answer again within this many seconds of the primary's crash. */
const RTO_LIMIT_SECONDS = 60;
/**
 * The load while the lag is sampled: posts per second (FAILOVER_WRITES_PER_SECOND overrides it)
 * for this many seconds, from this many clients at once.
 */
const WRITES_PER_SECOND = Number(process.env.FAILOVER_WRITES_PER_SECOND ?? 50);
const WRITE_SECONDS = 8;
const WRITERS = 4;
const USERS = 4;
const SAMPLE_EVERY_MS = 100;

const OWNER = { name: "mking_owner", password: "owner-failover" };
const DATABASE = "mking_friend";

const REGISTER = `mutation ($input: RegisterInput!) {
  register(input: $input) { accessToken user { id } }
}`;
const PUBLISH = `mutation ($c: String!) { publishPost(input: { content: $c }) { post { id } } }`;

interface Account {
  id: string;
  token: string;
}
interface Ack {
  kind: "user" | "post";
  id: string;
  /** pg_current_wal_lsn() on the primary right after the acknowledgement: ≥ the commit's LSN. */
  lsn: string;
}

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
    if (Date.now() > deadline) throw new Error(`still waiting after ${timeoutMs} ms: ${what}`);
    await delay(50);
  }
}

function ok<T>(body: { data?: unknown; errors?: unknown }): T {
  if (body.errors) throw new Error(`unexpected errors: ${JSON.stringify(body.errors)}`);
  return body.data as T;
}

/** Counts of acknowledged writes the standby had not flushed / not replayed yet. */
async function atRisk(monitor: pg.Client, standby: string, acks: readonly Ack[]) {
  const { rows } = await monitor.query<{ not_flushed: number; not_replayed: number }>(
    `select count(*) filter (where l > r.flush_lsn)::int as not_flushed,
            count(*) filter (where l > r.replay_lsn)::int as not_replayed
       from unnest($1::pg_lsn[]) as l,
            (select flush_lsn, replay_lsn from pg_stat_replication where application_name = $2) r`,
    [acks.map((a) => a.lsn), standby],
  );
  return rows[0] ?? { not_flushed: acks.length, not_replayed: acks.length };
}

describe.each([
  { mode: "asynchronous", synchronous: false },
  { mode: "synchronous", synchronous: true },
])("failover drill, $mode replication", ({ mode, synchronous }) => {
  let ws: PgWorkspace;
  let primary: PgServer;
  let standby: PgServer;
  let api: ApiProcess | null = null;
  const standbyName = `standby_${mode}`;

  beforeAll(async () => {
    ws = await createWorkspace();
    primary = await ws.primary("primary");
    await ensureOwnerAndDatabase(primary.url(), {
      role: OWNER.name,
      password: OWNER.password,
      database: DATABASE,
    });
    standby = await ws.standby(standbyName, primary);
  });

  afterAll(async () => {
    await api?.stop();
    await ws?.remove();
  });

  it("promotes the standby, the restarted API answers, and no acknowledged write is missing", async () => {
    const monitor = await connect(primary.url());
    let monitorOpen = true;
    const closeMonitor = async (): Promise<void> => {
      if (monitorOpen) await monitor.end().catch(() => undefined);
      monitorOpen = false;
    };
    try {
      if (synchronous) {
        await monitor.query(`alter system set synchronous_standby_names = '"${standbyName}"'`);
        await monitor.query("select pg_reload_conf()");
      }
      const streaming = await until("the standby streams", async () => {
        const rows = await replicationStatus(monitor);
        const row = rows.find((r) => r.standby === standbyName && r.state === "streaming");
        return row && row.sync === synchronous ? row : null;
      });
      expect(streaming.sync).toBe(synchronous);
      // what an operator sees: `npm run db:replication -- --json`
      const cli = startProcess(["src/db/replicationCli.ts", "--json"], {
        DATABASE_URL: primary.url(DATABASE, OWNER),
        ROOT_DATABASE_URL: primary.url(),
      });
      expect(await cli.exited).toBe(0);
      expect(JSON.parse(cli.output())).toEqual([
        expect.objectContaining({ standby: standbyName, state: "streaming", sync: synchronous }),
      ]);

      // the API migrates the primary on start; the standby replays it
      api = await startApiProcess(primary.url(DATABASE, OWNER), ws.root);
      const acks: Ack[] = [];
      const ack = async (kind: Ack["kind"], id: string): Promise<void> => {
        const { rows } = await monitor.query<{ lsn: string }>(
          "select pg_current_wal_lsn()::text as lsn",
        );
        acks.push({ kind, id, lsn: rows[0]!.lsn });
      };
      const accounts: Account[] = [];
      for (let i = 0; i < USERS; i++) {
        const input = {
          email: `failover_${mode}_${i}@example.com`,
          username: `failover_${mode}_${i}`,
          password: "correct horse battery",
        };
        const data = ok<{ register: { accessToken: string; user: { id: string } } }>(
          await api.graphql(REGISTER, { input }),
        );
        accounts.push({ id: data.register.user.id, token: data.register.accessToken });
        await ack("user", data.register.user.id);
      }

      // steady writes through the API, replication sampled alongside
      const samples: StandbyStatus[] = [];
      let writing = true;
      const sampler = (async () => {
        const sampleClient = await connect(primary.url());
        try {
          while (writing) {
            const row = (await replicationStatus(sampleClient)).find(
              (r) => r.standby === standbyName,
            );
            if (row) samples.push(row);
            await delay(SAMPLE_EVERY_MS);
          }
        } finally {
          await sampleClient.end();
        }
      })();
      const started = Date.now();
      const total = WRITES_PER_SECOND * WRITE_SECONDS;
      // WRITERS clients in parallel, each starting its next post when it is due (or at once if late)
      const writer = async (w: number): Promise<void> => {
        for (let n = w; n < total; n += WRITERS) {
          const due = started + (n * 1000) / WRITES_PER_SECOND;
          if (due > Date.now()) await delay(due - Date.now());
          const author = accounts[n % accounts.length]!;
          const data = ok<{ publishPost: { post: { id: string } } }>(
            await api!.graphql(PUBLISH, { c: `failover ${mode} post ${n}` }, author.token),
          );
          await ack("post", data.publishPost.post.id);
        }
      };
      await Promise.all(Array.from({ length: WRITERS }, (_, w) => writer(w)));
      const writeSeconds = (Date.now() - started) / 1000;
      writing = false;
      await sampler;
      const risk = await atRisk(monitor, standbyName, acks);

      if (!synchronous) {
        // asynchronous: what the standby has not received when the primary dies is lost; here
        // the drill lets it catch up first (a planned switchover), and reports the window above
        await until("the standby has replayed everything", async () => {
          const { rows } = await monitor.query<{ caught_up: boolean }>(
            `select replay_lsn >= pg_current_wal_lsn() as caught_up
               from pg_stat_replication where application_name = $1`,
            [standbyName],
          );
          return rows[0]?.caught_up ? true : null;
        });
      }
      await closeMonitor();

      // the failover
      const crashAt = Date.now();
      await primary.stop("immediate");
      await api.stop();
      api = null;
      const promoteFrom = Date.now();
      await standby.promote();
      const promoteSeconds = (Date.now() - promoteFrom) / 1000;
      const restartFrom = Date.now();
      api = await startApiProcess(standby.url(DATABASE, OWNER), ws.root);
      const reader = accounts[0]!;
      await until(
        "the API answers",
        async () => {
          const body = await api!.graphql(`{ currentUser { id } }`, {}, reader.token);
          return body.errors ? null : body;
        },
        RTO_LIMIT_SECONDS * 1000,
      );
      const restartSeconds = (Date.now() - restartFrom) / 1000;
      const rtoSeconds = (Date.now() - crashAt) / 1000;

      // every acknowledged write is on the new primary
      const promoted = await connect(standby.url(DATABASE));
      try {
        const { rows: recovery } = await promoted.query<{ standby: boolean }>(
          "select pg_is_in_recovery() as standby",
        );
        expect(recovery[0]!.standby).toBe(false);
        const present = async (table: string, ids: string[]): Promise<string[]> =>
          (
            await promoted.query<{ id: string }>(
              `select id from app_public.${table} where id = any($1::uuid[])`,
              [ids],
            )
          ).rows.map((r) => r.id);
        const userIds = acks.filter((a) => a.kind === "user").map((a) => a.id);
        const postIds = acks.filter((a) => a.kind === "post").map((a) => a.id);
        expect(postIds).toHaveLength(total);
        const users = new Set(await present("users", userIds));
        const posts = new Set(await present("posts", postIds));
        expect(userIds.filter((id) => !users.has(id))).toEqual([]);
        expect(postIds.filter((id) => !posts.has(id))).toEqual([]);
      } finally {
        await promoted.end();
      }

      // and it takes writes again, through the API
      const again = ok<{ publishPost: { post: { id: string } } }>(
        await api.graphql(PUBLISH, { c: "after the failover" }, reader.token),
      );
      expect(again.publishPost.post.id).toEqual(expect.any(String));
      expect(rtoSeconds).toBeLessThan(RTO_LIMIT_SECONDS);
      expect(samples.length).toBeGreaterThan(0);

      const lagSeconds = summarize(
        samples.map((s) => s.lagSeconds).filter((s): s is number => s !== null),
      );
      const lagBytes = summarize(samples.map((s) => s.lagBytes));
      process.stdout.write(
        `\nfailover drill (${mode}, PostgreSQL 15 streaming replication):\n` +
          `  load: ${total} posts through the API in ${writeSeconds.toFixed(1)} s ` +
          `(${(total / writeSeconds).toFixed(1)}/s, ${WRITERS} clients), ${samples.length} lag samples\n` +
          `  replay lag seconds: median ${lagSeconds.median}, p95 ${lagSeconds.p95}, max ${lagSeconds.max} (${lagSeconds.samples} non-null)\n` +
          `  replay lag bytes: median ${lagBytes.median}, p95 ${lagBytes.p95}, max ${lagBytes.max}\n` +
          `  at the last acknowledgement: ${risk.not_flushed} of ${acks.length} acknowledged writes not yet flushed on the standby, ${risk.not_replayed} not yet replayed\n` +
          `  promote: ${promoteSeconds.toFixed(2)} s; API restart until it answers: ${restartSeconds.toFixed(2)} s; ` +
          `crash → API answering: ${rtoSeconds.toFixed(2)} s\n`,
      );
    } finally {
      await closeMonitor();
    }
  });
});
