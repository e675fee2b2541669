/**
 * Presence across API instances on one database: a friend's websocket on one instance shows
 * them online on the other (presenceChanged, friendsOnline), only to their friends; closing it
 * stores lastSeenAt (shown to friends unless hidden, never to strangers); an instance killed
 * without a word has its users taken offline by the others within the timeout.
 */
import type { TestAccount } from "../helpers/accounts.ts";
import { ok, startApi, type Api } from "../helpers/api.ts";
import { startProcess, type RunningProcess } from "../helpers/process.ts";
import { connect, type LiveSocket, type LiveSubscription } from "../helpers/realtime.ts";
import {
  startTestServer,
  TEST_JWT_SECRET,
  type GraphQLBody,
  type TestServer,
} from "../helpers/server.ts";

const PRESENCE = { PRESENCE_HEARTBEAT_MS: "200", PRESENCE_TIMEOUT_MS: "2000" };
const PRESENCE_CHANGED = `subscription { presenceChanged { user { id } online lastSeenAt } }`;
const FRIENDS_ONLINE = `query { friendsOnline { id } }`;
const LAST_SEEN = `query ($id: UUID!) { user(id: $id) { lastSeenAt } }`;

interface Change {
  user: { id: string } | null;
  online: boolean;
  lastSeenAt: string | null;
}

let api: Api;
let second: TestServer;
let ana: TestAccount; // online and offline, watched by her friend ben
let ben: TestAccount;
let cat: TestAccount; // a stranger to ana
let dan: TestAccount; // blocked by ana
let max: TestAccount; // a friend of ben, cat and dan: a marker event everyone of them gets
const sockets: LiveSocket[] = [];

beforeAll(async () => {
  api = await startApi(PRESENCE);
  second = await startTestServer(api.db, PRESENCE);
  [ana, ben, cat, dan, max] = [
    await api.register(),
    await api.register(),
    await api.register(),
    await api.register(),
    await api.register(),
  ];
  await api.sql(
    `insert into app_public.friendships (requester_id, addressee_id, status)
     values ($1, $2, 'accepted'), ($5, $2, 'accepted'), ($5, $3, 'accepted'),
            ($5, $4, 'accepted'), ($1, $4, 'blocked')`,
    [ana.id, ben.id, cat.id, dan.id, max.id],
  );
});
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.dispose()));
});
afterAll(async () => {
  await second.close();
  await api.close();
});

function open(account: TestAccount, server: TestServer): LiveSocket {
  const socket = connect(server, { authorization: `Bearer ${account.accessToken}` });
  sockets.push(socket);
  return socket;
}

/** Subscribes to presenceChanged and waits until the server is listening for it. */
async function watch(account: TestAccount, server: TestServer): Promise<LiveSubscription<Change>> {
  const listening = server.log.next(/realtime: subscription live/);
  const subscription = open(account, server).subscribe<Change>(PRESENCE_CHANGED);
  await Promise.race([
    listening,
    subscription.failed.then((errors) => {
      throw new Error(`subscription failed: ${JSON.stringify(errors)}`);
    }),
  ]);
  return subscription;
}

async function call(
  server: { graphql: TestServer["graphql"] },
  account: TestAccount,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<GraphQLBody> {
  return (await server.graphql(query, variables, { token: account.accessToken })).body;
}

async function friendsOnline(server: TestServer, account: TestAccount): Promise<string[]> {
  const data = ok<{ friendsOnline: { id: string }[] }>(await call(server, account, FRIENDS_ONLINE));
  return data.friendsOnline.map((u) => u.id);
}

async function lastSeenOf(viewer: TestAccount, of: TestAccount): Promise<string | null> {
  const data = ok<{ user: { lastSeenAt: string | null } | null }>(
    await call(api.server, viewer, LAST_SEEN, { id: of.id }),
  );
  return data.user?.lastSeenAt ?? null;
}

/** Polls `check` until it holds, failing after `timeoutMs`. */
async function until(
  what: string,
  check: () => Promise<boolean>,
  timeoutMs = 10_000,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`still waiting after ${timeoutMs} ms: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

describe("presence", () => {
  it("shows a friend online and offline across instances, to friends only, and stores lastSeenAt", async () => {
    const ben$ = await watch(ben, second);
    const cat$ = await watch(cat, second);
    const dan$ = await watch(dan, second);

    const anaSocket = open(ana, api.server); // instance 1
    expect(await ben$.event(0)).toEqual({ user: { id: ana.id }, online: true, lastSeenAt: null });
    expect(await friendsOnline(second, ben)).toEqual([ana.id]);
    expect(await friendsOnline(api.server, ben)).toEqual([ana.id]);
    expect(await friendsOnline(second, cat)).toEqual([]);

    // a marker every watcher gets, after ana's event: cat and dan never got hers
    open(max, api.server);
    for (const sub of [cat$, dan$]) {
      expect(await sub.event(0)).toMatchObject({ user: { id: max.id }, online: true });
    }
    expect(await ben$.event(1)).toMatchObject({ user: { id: max.id }, online: true });
    expect(cat$.events).toHaveLength(1);
    expect(dan$.events).toHaveLength(1);
    expect((await friendsOnline(second, ben)).sort()).toEqual([ana.id, max.id].sort());

    await anaSocket.dispose();
    const offline = await ben$.event(2);
    expect(offline).toMatchObject({ user: { id: ana.id }, online: false });
    expect(offline.lastSeenAt).toEqual(expect.any(String));
    expect(Date.now() - Date.parse(offline.lastSeenAt ?? "")).toBeLessThan(60_000);
    expect(await friendsOnline(second, ben)).toEqual([max.id]);

    expect(await lastSeenOf(ben, ana)).toBe(offline.lastSeenAt);
    expect(await lastSeenOf(ana, ana)).toBe(offline.lastSeenAt);
    expect(await lastSeenOf(cat, ana)).toBeNull();
    expect(await lastSeenOf(dan, ana)).toBeNull();
    expect(await lastSeenOf(ben, cat)).toBeNull(); // never online: no time

    ok(
      await call(
        api.server,
        ana,
        `mutation ($id: UUID!) { updateUserProfileByUserId(input: { userId: $id, patch: { showLastSeen: false } }) { userProfile { showLastSeen } } }`,
        { id: ana.id },
      ),
    );
    expect(await lastSeenOf(ben, ana)).toBeNull();
    expect(await lastSeenOf(ana, ana)).toBe(offline.lastSeenAt);
    expect(cat$.events).toHaveLength(1);
    expect(dan$.events).toHaveLength(1);
  });

  it("takes the users of a killed instance offline within the timeout", async () => {
    // the first test's sockets have closed: wait until the second instance has heard it
    await until("max offline", async () => (await friendsOnline(second, ben)).length === 0);
    const ben$ = await watch(ben, second);
    const proc: RunningProcess = startProcess(["src/main.ts", "server"], {
      DATABASE_URL: api.db.ownerUrl,
      AUTH_DATABASE_URL: api.db.authUrl,
      DATABASE_AUTHENTICATOR_PASSWORD: "unused-in-this-test",
      JWT_SECRET: TEST_JWT_SECRET,
      HOST: "127.0.0.1",
      PORT: "0",
      ...PRESENCE,
    });
    try {
      const [, url] = await proc.waitFor(/GraphQL API ready at (http:\/\/[^/\s"]+)\/graphql/);
      const child = { url: url! } as TestServer;
      open(ana, child);
      expect(await ben$.event(0)).toMatchObject({ user: { id: ana.id }, online: true });
      expect(await friendsOnline(second, ben)).toEqual([ana.id]);

      proc.child.kill("SIGKILL"); // no goodbye, no offline notice
      const killedAt = Date.now();
      await proc.exited;
      expect(await ben$.event(1)).toMatchObject({ user: { id: ana.id }, online: false });
      const tookMs = Date.now() - killedAt;
      expect(tookMs).toBeLessThan(Number(PRESENCE.PRESENCE_TIMEOUT_MS) + 1500);
      expect(await friendsOnline(second, ben)).toEqual([]);
      const seen = await lastSeenOf(ana, ana);
      expect(Date.parse(seen ?? "")).toBeGreaterThanOrEqual(killedAt - 1000);
    } finally {
      if (proc.child.exitCode === null && proc.child.signalCode === null) {
        proc.child.kill("SIGKILL");
        await proc.exited;
      }
    }
  });
});
