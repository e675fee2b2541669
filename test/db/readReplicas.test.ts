/**
 * Read replicas (DATABASE_READ_URLS, src/db/replicaRouting.ts) against a real streaming hot
 * standby of a real primary (src/backup/standby.ts, as `npm run db:standby` builds it), through
 * the HTTP API. Which server answered is proven by the data: with the standby's replay paused,
 * a post committed on the primary is missing only on the standby. Two API instances (A and B)
 * share the primary and the replica, as behind a load balancer without stickiness.
 */
import path from "node:path";

import { ConfigError, loadConfig } from "../../src/config.ts";
import { startStandby, waitUntilReplayed, type Standby } from "../../src/backup/standby.ts";
import type { ReadRouting } from "../../src/db/replicaRouting.ts";
import { withUrlParts } from "../../src/db/urls.ts";
import {
  AUTHENTICATOR,
  createBackupTestCluster,
  DATABASE,
  PASSWORD,
  query,
  type BackupTestCluster,
} from "../backup/cluster.ts";
import { registerAccount, type TestAccount } from "../helpers/accounts.ts";
import type { TestDatabase } from "../helpers/database.ts";
import { testLogger } from "../helpers/log.ts";
import { freePort } from "../helpers/process.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

const MAX_LAG_MS = 3000;
const POLL_MS = 100;
const WINDOW_MS = MAX_LAG_MS + POLL_MS;

const log = testLogger();
let cluster: BackupTestCluster;
let standby: Standby | undefined;
let standbyPort: number;
let server: TestServer;
let routing: ReadRouting;
/** A second API instance on the same primary and replica. */
let serverB: TestServer;
let alice: TestAccount;
let bob: TestAccount;
/** When the newest of alice's and bob's access tokens was issued, at the latest. */
let tokensIssuedBy: number;

const CREATE_POST = /* GraphQL */ `
  mutation ($input: CreatePostInput!) {
    createPost(input: $input) {
      post {
        id
      }
    }
  }
`;
const POST = /* GraphQL */ `
  query ($id: UUID!) {
    post(id: $id) {
      id
      content
    }
  }
`;

/** The session (`sid` claim) of an account's access token. */
function sessionOf(account: TestAccount): string {
  const payload = account.accessToken.split(".")[1]!;
  return (JSON.parse(Buffer.from(payload, "base64url").toString("utf8")) as { sid: string }).sid;
}

/** Resolves after a poll that started after this call (the replicas' state is fresh). */
async function freshPoll(): Promise<void> {
  await routing.router.replicas.poll(); // may be one that was already running
  await routing.router.replicas.poll();
}

function standbyUrl(): string {
  return standby!.server.superuserUrl("postgres");
}

/** Resolves once the replica is in (or out of) rotation, as the API's poller sees it. */
function rotation(inRotation: boolean, via: TestServer = server): Promise<void> {
  const replicas = via.readRouting!.router.replicas;
  return new Promise((resolve) => {
    const check = (): void => {
      if (replicas.replicas[0]!.inRotation === inRotation) {
        replicas.off("change", check);
        resolve();
      }
    };
    replicas.on("change", check);
    check();
  });
}

async function createPost(
  account: TestAccount,
  content: string,
  via: TestServer = server,
): Promise<string> {
  const { body } = await via.graphql(
    CREATE_POST,
    { input: { post: { authorId: account.id, content, privacyLevel: "public" } } },
    { token: account.accessToken },
  );
  expect(body.errors).toBeUndefined();
  return (body.data as { createPost: { post: { id: string } } }).createPost.post.id;
}

/** The post as `account` reads it through the API (null: not there, or not visible). */
async function readPost(
  account: TestAccount,
  id: string,
  via: TestServer = server,
): Promise<string | null> {
  const { body } = await via.graphql(POST, { id }, { token: account.accessToken });
  expect(body.errors).toBeUndefined();
  return (body.data as { post: { content: string } | null }).post?.content ?? null;
}

async function routed(
  during: () => Promise<void>,
  via: TestServer = server,
): Promise<{ primary: number; replica: number }> {
  const router = via.readRouting!.router;
  const before = { ...router.routed };
  await during();
  return {
    primary: router.routed.primary - before.primary,
    replica: router.routed.replica - before.replica,
  };
}

beforeAll(async () => {
  cluster = await createBackupTestCluster(log);
  standbyPort = await freePort();
  const superuserUrl = cluster.superuserUrl(DATABASE);
  const db: TestDatabase = {
    name: DATABASE,
    ownerUrl: cluster.ownerUrl(),
    authUrl: withUrlParts(superuserUrl, {
      user: AUTHENTICATOR.name,
      password: AUTHENTICATOR.password,
    }),
    superuserUrl,
    authenticator: AUTHENTICATOR,
    drop: () => Promise.resolve(),
  };
  // the replica's URL names no user: the API logs in there as its authenticator
  const env = {
    DATABASE_READ_URLS: `postgres://127.0.0.1:${standbyPort}/${DATABASE}`,
    DATABASE_READ_MAX_LAG_MS: String(MAX_LAG_MS),
    DATABASE_READ_POLL_MS: String(POLL_MS),
    READ_YOUR_WRITES_WINDOW_MS: String(WINDOW_MS),
  };
  [server, serverB] = await Promise.all([startTestServer(db, env), startTestServer(db, env)]);
  routing = server.readRouting!;
}, 90_000);

afterAll(async () => {
  await serverB?.close();
  await server?.close();
  await standby?.server.stop();
  await cluster?.remove();
}, 60_000);

test("with the replica not running yet, reads go to the primary without errors", async () => {
  expect(routing.router.replicas.replicas[0]!.inRotation).toBe(false);
  const counts = await routed(async () => {
    alice = await registerAccount(server);
    bob = await registerAccount(server);
    tokensIssuedBy = Date.now();
    const id = await createPost(alice, "before the standby");
    expect(await readPost(bob, id)).toBe("before the standby");
  });
  expect(counts).toEqual({ primary: 1, replica: 0 });
});

test("a streaming standby enters rotation and serves queries", async () => {
  standby = await startStandby({
    primaryUrl: cluster.superuserUrl(),
    primaryDataDir: cluster.dataDir,
    dir: path.join(cluster.root, "standby"),
    port: standbyPort,
    superuserPassword: PASSWORD,
    log,
    settings: { fsync: "off" },
  });
  await rotation(true);
  // the accounts' tokens must be older than the window (younger ones read from the primary):
  // cloning the primary usually took longer than that already
  const wait = tokensIssuedBy + WINDOW_MS - Date.now();
  if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));

  const id = await createPost(alice, "replicated");
  await waitUntilReplayed(cluster.superuserUrl(), standby.name, 20_000);
  await freshPoll(); // the API knows the replica has Alice's write: she may read there too
  // prove where reads run: stop the replay, then write past it on the primary (not through the
  // API, so no session is pinned); the replica does not have that row, the primary does
  await query(standbyUrl(), "select pg_wal_replay_pause()");
  await query(cluster.ownerUrl(), "update app_public.posts set content = 'edited' where id = $1", [
    id,
  ]);
  const counts = await routed(async () => {
    expect(await readPost(bob, id)).toBe("replicated");
    expect(await readPost(alice, id)).toBe("replicated");
  });
  expect(counts).toEqual({ primary: 0, replica: 2 });
  await query(standbyUrl(), "select pg_wal_replay_resume()");
  await waitUntilReplayed(cluster.superuserUrl(), standby.name, 20_000);
}, 120_000);

test("read-your-writes: after a mutation the same session reads its write while the replica lags; others read the replica", async () => {
  await rotation(true);
  await query(standbyUrl(), "select pg_wal_replay_pause()");
  let id: string;
  try {
    id = await createPost(alice, "my post");
    // Alice wrote: her reads wait for a replica that has replayed her write, i.e. the primary
    const mine = await routed(async () => {
      expect(await readPost(alice, id)).toBe("my post");
    });
    expect(mine).toEqual({ primary: 1, replica: 0 });
    expect(routing.router.lastWriteOf(sessionOf(alice))?.lsn).not.toBeNull();
    // Bob did not write: he reads from the replica (lagging, but within the limit)
    const theirs = await routed(async () => {
      expect(await readPost(bob, id)).toBeNull();
    });
    expect(theirs).toEqual({ primary: 0, replica: 1 });
    // a session that has just signed up reads from the primary (its token is fresh)
    const carol = await registerAccount(server);
    const { body } = await server.graphql(
      `{ currentUser { id } }`,
      {},
      { token: carol.accessToken },
    );
    expect(body).toEqual({ data: { currentUser: { id: carol.id } } });

    // paused beyond the lag limit: out of rotation, everybody reads the primary
    await rotation(false);
    const out = await routed(async () => {
      expect(await readPost(bob, id)).toBe("my post");
    });
    expect(out).toEqual({ primary: 1, replica: 0 });
  } finally {
    await query(standbyUrl(), "select pg_wal_replay_resume()");
  }
  // replayed again: back in rotation, and Bob reads there (and sees the post)
  await rotation(true);
  const back = await routed(async () => {
    expect(await readPost(bob, id)).toBe("my post");
  });
  expect(back).toEqual({ primary: 0, replica: 1 });
}, 60_000);

test("read-your-writes across instances: a session posts via A and at once reads its post via B; others on B read the replica", async () => {
  await Promise.all([rotation(true), rotation(true, serverB)]);
  await waitUntilReplayed(cluster.superuserUrl(), standby!.name, 20_000);
  await query(standbyUrl(), "select pg_wal_replay_pause()");
  const ids: string[] = [];
  try {
    // each round: a new post through A, read at once through B (no sleep, no retry); B has
    // no record of Alice's writes but the one A published with NOTIFY in the post's transaction
    for (let round = 0; round < 5; round++) {
      const id = await createPost(alice, `mine ${round}`, server);
      const mine = await routed(async () => {
        expect(await readPost(alice, id, serverB)).toBe(`mine ${round}`);
      }, serverB);
      // B read it from the primary: the replica (paused) does not have it
      expect(mine).toEqual({ primary: 1, replica: 0 });
      ids.push(id);
    }
    expect(serverB.readRouting!.router.lastWriteOf(sessionOf(alice))?.heardAt).not.toBeNull();
    // A knows the write's own position and does not count its own notification as news
    expect(routing.router.lastWriteOf(sessionOf(alice))).toMatchObject({ heardAt: null });
    // Bob wrote nothing: through B he reads the replica, where the posts are not (yet)
    const theirs = await routed(async () => {
      for (const id of ids) expect(await readPost(bob, id, serverB)).toBeNull();
    }, serverB);
    expect(theirs).toEqual({ primary: 0, replica: ids.length });
  } finally {
    await query(standbyUrl(), "select pg_wal_replay_resume()");
  }
  // replayed: B knows how far Alice's writes reach (the first probe of the primary's position
  // sent after it heard them), so once its poll sees the replica that far, she reads there too
  await waitUntilReplayed(cluster.superuserUrl(), standby!.name, 20_000);
  await serverB.readRouting!.router.replicas.poll();
  await serverB.readRouting!.router.replicas.poll();
  const after = await routed(async () => {
    expect(await readPost(alice, ids[0]!, serverB)).toBe("mine 0");
  }, serverB);
  expect(after).toEqual({ primary: 0, replica: 1 });
}, 60_000);

test("with the session feed's LISTEN connection lost, signed-in sessions read from the primary (writes may go unheard)", async () => {
  await rotation(true, serverB);
  const CURRENT_USER = `{ currentUser { id } }`;
  const bobReads = () =>
    routed(async () => {
      const { body } = await serverB.graphql(CURRENT_USER, {}, { token: bob.accessToken });
      expect(body).toEqual({ data: { currentUser: { id: bob.id } } });
    }, serverB);
  expect(await bobReads()).toEqual({ primary: 0, replica: 1 });
  // the feeds' LISTEN connections (A's and B's; not their session-check pools) are killed;
  // they reconnect by themselves
  const killed = await query(
    cluster.superuserUrl(),
    `select pg_terminate_backend(pid) as killed from pg_stat_activity
      where application_name = 'mking-friend-sessions' and backend_type = 'client backend'
        and (query like 'listen %' or query like '%pg_current_wal_insert_lsn%')`,
  );
  expect(killed.length).toBeGreaterThanOrEqual(2);
  // lost, or listening again for less than a window: a write may have been missed meanwhile
  expect(await bobReads()).toEqual({ primary: 1, replica: 0 });
  expect(await bobReads()).toEqual({ primary: 1, replica: 0 });
}, 60_000);

test("a stopped replica causes no errors: reads fall back to the primary", async () => {
  await rotation(true);
  const id = await createPost(alice, "still here");
  await waitUntilReplayed(cluster.superuserUrl(), standby!.name, 20_000);
  await standby!.server.stop();
  // at once (before a poll notices), then once the poll has taken it out
  expect(await readPost(bob, id)).toBe("still here");
  await rotation(false);
  const counts = await routed(async () => {
    expect(await readPost(bob, id)).toBe("still here");
  });
  expect(counts).toEqual({ primary: 1, replica: 0 });
}, 60_000);

test("the settings are checked at start-up", () => {
  const problems = (env: Record<string, string>): readonly string[] => {
    try {
      loadConfig(env);
      return [];
    } catch (error) {
      if (error instanceof ConfigError) return error.problems;
      throw error;
    }
  };
  expect(
    loadConfig({ DATABASE_READ_URLS: "postgres://a:5432/db, postgres://b/db" }).readReplicas,
  ).toEqual({
    urls: ["postgres://a:5432/db", "postgres://b/db"],
    maxLagMs: 2000,
    pollIntervalMs: 250,
    readYourWritesWindowMs: 5000,
  });
  expect(problems({ DATABASE_READ_URLS: "http://a/db" })).toEqual([
    'DATABASE_READ_URLS: each entry must be a postgres:// URL (got "http://a/db")',
  ]);
  expect(
    problems({ DATABASE_READ_URLS: "postgres://a/db", READ_YOUR_WRITES_WINDOW_MS: "1000" }),
  ).toEqual([expect.stringMatching(/^READ_YOUR_WRITES_WINDOW_MS \(1000\) must be at least/)]);
  expect(
    problems({
      DATABASE_READ_URLS: "postgres://db:5432/app",
      DATABASE_URL: "postgres://owner:x@db/app",
    }),
  ).toEqual(["DATABASE_READ_URLS must list replicas, not DATABASE_URL's own server"]);
});
