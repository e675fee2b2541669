/**
 * The read cache in Redis (Debian's redis-server, test/ops/packages.txt; REDIS_URL, docs/SCALING.md
 * "Cache"), for real: a redis-server on loopback without persistence, a PostgreSQL (Debian's 15),
 * two API servers sharing the cache through Redis.
 *
 * - what one instance loaded, the other serves from Redis without loading it again;
 * - a refresh of the trending view (NOTIFY mking_cache) deletes the key in Redis (awaited as a
 *   Redis keyspace event), and both instances then answer with the new ranking;
 * - each viewer still gets only what row-level security lets them see.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { once } from "node:events";

import pg from "pg";
import { createClient } from "redis";

import { REDIS_KEY_PREFIX } from "../../src/cache/redisStore.ts";
import { ensureOwnerAndDatabase } from "../../src/db/connection.ts";
import { migrateDatabase } from "../../src/db/migrate.ts";
import { startApiServer, type ApiServer } from "../../src/server.ts";
import { testLogger } from "../helpers/log.ts";
import { freePort } from "../helpers/process.ts";
import { testConfig, type GraphQLBody } from "../helpers/server.ts";
import { createWorkspace, type PgServer, type PgWorkspace } from "./helpers/pgCluster.ts";

const OWNER = { name: "mking_owner", password: "owner-redis" };
const AUTHENTICATOR = { name: "mking_authenticator", password: "authenticator-redis" };
const DATABASE = "mking_friend";
const KEY = `${REDIS_KEY_PREFIX}trending:all`;

const REGISTER = `mutation ($input: RegisterInput!) {
  register(input: $input) { accessToken user { id } }
}`;
const TRENDING = `{ trendingPosts(first: 50) { nodes { id } } }`;

let ws: PgWorkspace;
let primary: PgServer;
let redis: ChildProcess;
let redisOutput = "";
let redisUrl: string;
let watcher: ReturnType<typeof createClient>;
const apis: ApiServer[] = [];
let owner: pg.Client;

async function graphql(api: ApiServer, query: string, variables = {}, token?: string) {
  const response = await fetch(`${api.url}/graphql`, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      ...(token ? { authorization: `Bearer ${token}` } : {}),
    },
    body: JSON.stringify({ query, variables }),
  });
  const body = (await response.json()) as GraphQLBody;
  if (body.errors) throw new Error(JSON.stringify(body.errors));
  return body.data!;
}

async function register(api: ApiServer, tag: string): Promise<{ id: string; token: string }> {
  const name = `${tag}_${Math.random().toString(36).slice(2, 8)}`;
  const data = await graphql(api, REGISTER, {
    input: { email: `${name}@example.com`, username: name, password: "correct horse battery" },
  });
  const r = (data as { register: { accessToken: string; user: { id: string } } }).register;
  return { id: r.user.id, token: r.accessToken };
}

const trending = async (api: ApiServer, token?: string): Promise<string[]> =>
  (
    (await graphql(api, TRENDING, {}, token)) as { trendingPosts: { nodes: { id: string }[] } }
  ).trendingPosts.nodes.map((n) => n.id);

async function post(authorId: string, privacy: string): Promise<string> {
  const { rows } = await owner.query<{ id: string }>(
    `insert into app_public.posts (author_id, content, privacy_level) values ($1, $2, $3) returning id`,
    [authorId, `a ${privacy} post`, privacy],
  );
  return rows[0]!.id;
}

beforeAll(async () => {
  const port = await freePort();
  redis = spawn(
    "redis-server",
    ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
    { stdio: ["ignore", "pipe", "pipe"] },
  );
  redis.stdout?.on("data", (c: Buffer) => void (redisOutput += c.toString()));
  redis.stderr?.on("data", (c: Buffer) => void (redisOutput += c.toString()));
  await new Promise<void>((resolve, reject) => {
    const onData = (): void => {
      if (/Ready to accept connections/.test(redisOutput)) resolve();
    };
    redis.stdout?.on("data", onData);
    redis.once("exit", (code) => reject(new Error(`redis-server exited ${code}: ${redisOutput}`)));
  });
  redisUrl = `redis://127.0.0.1:${port}`;
  // deletions of the cached key, as Redis keyspace events
  watcher = createClient({ url: redisUrl });
  await watcher.connect();
  await watcher.configSet("notify-keyspace-events", "Kg");

  ws = await createWorkspace();
  primary = await ws.primary("primary");
  await ensureOwnerAndDatabase(primary.url(), {
    role: OWNER.name,
    password: OWNER.password,
    database: DATABASE,
  });
  await migrateDatabase({
    ownerUrl: primary.url(DATABASE, OWNER),
    authenticator: AUTHENTICATOR,
    log: testLogger(),
    current: true,
  });
  owner = new pg.Client({ connectionString: primary.url(DATABASE, OWNER) });
  await owner.connect();
  const authUrl = primary.url(DATABASE, AUTHENTICATOR);
  for (let i = 0; i < 2; i++) {
    apis.push(
      await startApiServer({
        config: testConfig({
          CACHE_ENABLED: "true",
          REDIS_URL: redisUrl,
          DATABASE_AUTHENTICATOR: AUTHENTICATOR.name,
        }),
        ownerUrl: primary.url(DATABASE, OWNER),
        authUrl,
        log: testLogger(),
      }),
    );
  }
}, 180_000);

afterAll(async () => {
  for (const api of apis) await api.close();
  await owner?.end().catch(() => undefined);
  await watcher?.close().catch(() => undefined);
  await ws?.remove();
  if (redis && redis.exitCode === null && redis.signalCode === null) {
    redis.kill("SIGTERM");
    await once(redis, "exit");
  }
});

it("two instances share the cache through Redis, and a refresh's NOTIFY deletes it there", async () => {
  const [a, b] = [apis[0]!, apis[1]!];
  expect(a.readCache?.cache.store.kind).toBe("redis");
  const ann = await register(a, "ann");
  const ben = await register(a, "ben");
  const publicPost = await post(ann.id, "public");
  const privatePost = await post(ann.id, "private");
  await owner.query(`select app_private.refresh_views()`);

  // a loads the ranking and stores it in Redis; b serves it from there without loading
  expect(await trending(a, ann.token)).toEqual(expect.arrayContaining([publicPost, privatePost]));
  expect(JSON.parse((await watcher.get(KEY))!)).toEqual(
    expect.arrayContaining([publicPost, privatePost]),
  );
  const bStats = { ...b.readCache!.cache.stats };
  const forBen = await trending(b, ben.token);
  expect(b.readCache!.cache.stats.hits).toBe(bStats.hits + 1);
  expect(b.readCache!.cache.stats.misses).toBe(bStats.misses);
  // the shared ranking holds ann's private post; ben never gets it
  expect(forBen).toContain(publicPost);
  expect(forBen).not.toContain(privatePost);
  expect(await trending(b)).not.toContain(privatePost); // signed out

  // a new post, a refresh: the NOTIFY deletes the key in Redis, both answer with the new ranking
  const fresh = await post(ben.id, "public");
  const subscriber = watcher.duplicate();
  await subscriber.connect();
  let onDeleted!: () => void;
  const deleted = new Promise<void>((resolve) => (onDeleted = resolve));
  await subscriber.subscribe(`__keyspace@0__:${KEY}`, (event) => {
    if (event === "del") onDeleted();
  });
  await owner.query(`select app_private.refresh_views()`);
  await deleted;
  await subscriber.close();
  expect(await trending(b, ben.token)).toContain(fresh);
  expect(await trending(a, ann.token)).toContain(fresh);
});
