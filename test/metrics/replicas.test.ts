/**
 * The read replicas' metrics (src/metrics/replicas.ts), scraped from METRICS_PORT of an API
 * whose DATABASE_READ_URLS names a real streaming standby (src/backup/standby.ts): in rotation or
 * not, its lag, and where each query operation was routed.
 */
import path from "node:path";

import { startStandby, waitUntilReplayed, type Standby } from "../../src/backup/standby.ts";
import { withUrlParts } from "../../src/db/urls.ts";
import { ProcessMetrics } from "../../src/metrics/registry.ts";
import { startMetricsServer, type MetricsServer } from "../../src/metricsServer.ts";
import {
  AUTHENTICATOR,
  createBackupTestCluster,
  DATABASE,
  PASSWORD,
  query,
  type BackupTestCluster,
} from "../backup/cluster.ts";
import type { TestDatabase } from "../helpers/database.ts";
import { testLogger } from "../helpers/log.ts";
import { freePort } from "../helpers/process.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { scrape, type Samples } from "./scrape.ts";

const MAX_LAG_MS = 1000;
const POLL_MS = 100;

const log = testLogger();
let cluster: BackupTestCluster;
let standby: Standby | undefined;
let standbyPort: number;
let server: TestServer;
let metricsServer: MetricsServer;
/** The replica label: host:port. */
let replica: string;

const read = (): Promise<Samples> => scrape(metricsServer.url);

/** An anonymous query operation that reads the database (routed like any other query). */
async function anonymousRead(): Promise<void> {
  const { body } = await server.graphql(`{ currentUser { id } }`, {});
  expect(body).toEqual({ data: { currentUser: null } });
}

/** Resolves once the API's poller has the replica in (or out of) rotation. */
function rotation(inRotation: boolean): Promise<void> {
  const replicas = server.readRouting!.router.replicas;
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

beforeAll(async () => {
  cluster = await createBackupTestCluster(log);
  standbyPort = await freePort();
  replica = `127.0.0.1:${standbyPort}`;
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
  const metrics = new ProcessMetrics();
  server = await startTestServer(
    db,
    {
      DATABASE_READ_URLS: `postgres://${replica}/${DATABASE}`,
      DATABASE_READ_MAX_LAG_MS: String(MAX_LAG_MS),
      DATABASE_READ_POLL_MS: String(POLL_MS),
      READ_YOUR_WRITES_WINDOW_MS: String(MAX_LAG_MS + POLL_MS),
    },
    { metrics },
  );
  metricsServer = await startMetricsServer({
    host: "127.0.0.1",
    port: 0,
    ownerUrl: db.ownerUrl,
    heartbeatMs: 1000,
    log,
    worker: null,
    metrics,
    database: null,
  });
}, 90_000);

afterAll(async () => {
  await metricsServer?.close();
  await server?.close();
  await standby?.server.stop();
  await cluster?.remove();
}, 60_000);

test("a replica not running: out of rotation, lag unknown, reads routed to the primary", async () => {
  const before = await read();
  expect(before.value("mking_db_read_replica_in_rotation", { replica })).toBe(0);
  expect(before.has("mking_db_read_replica_in_rotation", { replica })).toBe(true);
  expect(before.has("mking_db_read_replica_lag_seconds", { replica })).toBe(false);
  // the replica's pool is watched like the others
  expect(before.text).toMatch(/mking_pg_pool_connections\{[^}]*pool="api_read_0"/);

  await anonymousRead();
  const after = await read();
  expect(after.delta(before, "mking_db_reads_routed_total", { target: "primary" })).toBe(1);
  expect(after.delta(before, "mking_db_reads_routed_total", { target: "replica" })).toBe(0);
});

test("a streaming replica: in rotation, its lag measured, reads routed to it; lagging past the limit, out", async () => {
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
  await waitUntilReplayed(cluster.superuserUrl(), standby.name, 20_000);

  const before = await read();
  expect(before.value("mking_db_read_replica_in_rotation", { replica })).toBe(1);
  expect(before.has("mking_db_read_replica_lag_seconds", { replica })).toBe(true);
  expect(before.value("mking_db_read_replica_lag_seconds", { replica })).toBeLessThanOrEqual(
    MAX_LAG_MS / 1000,
  );
  await anonymousRead();
  await anonymousRead();
  const routed = await read();
  expect(routed.delta(before, "mking_db_reads_routed_total", { target: "replica" })).toBe(2);
  expect(routed.delta(before, "mking_db_reads_routed_total", { target: "primary" })).toBe(0);

  // replay paused and the primary writing on: the lag grows past the limit, the replica is out
  await query(standbyUrl(), "select pg_wal_replay_pause()");
  try {
    await query(cluster.ownerUrl(), "create table if not exists metrics_lag_probe (n int)");
    await rotation(false);
    const out = await read();
    expect(out.value("mking_db_read_replica_in_rotation", { replica })).toBe(0);
    expect(out.value("mking_db_read_replica_lag_seconds", { replica })).toBeGreaterThan(
      MAX_LAG_MS / 1000,
    );
    await anonymousRead();
    const after = await read();
    expect(after.delta(out, "mking_db_reads_routed_total", { target: "primary" })).toBe(1);
    expect(after.delta(out, "mking_db_reads_routed_total", { target: "replica" })).toBe(0);
  } finally {
    await query(standbyUrl(), "select pg_wal_replay_resume()");
  }
  await rotation(true);
  expect((await read()).value("mking_db_read_replica_in_rotation", { replica })).toBe(1);
}, 120_000);

function standbyUrl(): string {
  return standby!.server.superuserUrl("postgres");
}
