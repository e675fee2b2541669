/**
 * One soak run: PostgreSQL, two API instances and two workers as separate processes, a seeded
 * graph, the mixed load and the subscribers, faults at random intervals, then — after the load
 * stopped and the queue drained — the invariants. Everything it starts, it stops; the data
 * folder (.data/soak-<pid>) is deleted at the end.
 */
import { randomBytes } from "node:crypto";
import { rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { freePort, serviceEnv } from "../bench/harness/processes.ts";
import { benchSessionId } from "../bench/harness/sessions.ts";
import { seedDatabase } from "../bench/seed/seed.ts";
import { loadConfig } from "../src/config.ts";
import { migrateDatabase } from "../src/db/migrate.ts";
import { withUrlParts } from "../src/db/urls.ts";
import { createLogger } from "../src/log.ts";
import { PROJECT_ROOT } from "../src/paths.ts";
import { tokenServiceFor } from "../src/server.ts";
import { runFaults, type FaultKind, type FaultRecord } from "./faults.ts";
import { checkInvariants, DELIVERY_GRACE_MS, drainQueue } from "./invariants.ts";
import { Ledger } from "./ledger.ts";
import { runLoad, type LoadContext } from "./load.ts";
import { startProber, type Window } from "./probe.ts";
import { makeInstance, startEmbeddedDatabase, type Database, type Instance } from "./processes.ts";
import { seededRandom } from "./random.ts";
import { availabilityRows, countBy, type SoakReport } from "./report.ts";
import { Stats } from "./stats.ts";
import { startSubscribers } from "./subscribers.ts";
import { setUpWorld } from "./world.ts";

export interface SoakOptions {
  minutes: number;
  seed: number;
  /** Users of the load (one loop each). */
  users: number;
  /** Mean pause between two actions of one user (ms). */
  thinkMs: number;
  /** Time between faults (ms). */
  faultGap: { min: number; max: number };
  /** Seed scale (bench/seed: 0.002 is 200 users, 2,000 posts). */
  scale: number;
  /** Your own database (owner URL, empty); null: the embedded server (restartable). */
  databaseUrl: string | null;
  /** Fault kinds in a fixed order instead of drawn at random (the short test). */
  faultPlan?: readonly FaultKind[];
  /** A line of progress. */
  say: (line: string) => void;
}

const OWNER = { role: "mking_owner", password: "soak-owner" };

async function openDatabase(o: SoakOptions, dataDir: string): Promise<Database> {
  const log = createLogger({ level: "warn", json: false });
  if (o.databaseUrl) {
    const url = o.databaseUrl;
    return {
      port: Number(new URL(url).port || 5432),
      dataDir: "",
      ownerUrl: url,
      superuserUrl: url,
      restartable: false,
      crash: () => Promise.reject(new Error("not our server")),
      start: async () => undefined,
      stop: async () => undefined,
    };
  }
  return startEmbeddedDatabase({
    dataDir: path.join(dataDir, "postgres"),
    port: await freePort(),
    database: "mking_soak",
    owner: OWNER,
    log,
  });
}

export async function runSoak(o: SoakOptions): Promise<SoakReport> {
  const random = seededRandom(o.seed);
  const dataDir = path.join(PROJECT_ROOT, ".data", `soak-${process.pid}`);
  const instances: Instance[] = [];
  let database: Database | null = null;
  const unexpectedExits: string[] = [];
  try {
    o.say(`seed ${o.seed}; data in ${path.relative(PROJECT_ROOT, dataDir)}`);
    database = await openDatabase(o, dataDir);
    const db = database;
    const authenticator = {
      name: "mking_authenticator",
      password: randomBytes(12).toString("hex"),
    };
    const log = createLogger({ level: "warn", json: false });
    await migrateDatabase({ ownerUrl: db.ownerUrl, authenticator, log, current: true });
    o.say(`seeding (scale ${o.scale})`);
    await seedDatabase({
      ownerUrl: db.ownerUrl,
      rootUrl: o.databaseUrl ? null : db.superuserUrl,
      scale: o.scale,
      progress: { label: () => undefined, advance: () => undefined, done: () => undefined },
    });
    const world = await setUpWorld(db.ownerUrl, o.users);

    const service = {
      ownerUrl: db.ownerUrl,
      authUrl: withUrlParts(db.ownerUrl, {
        user: authenticator.name,
        password: authenticator.password,
      }),
      authenticatorPassword: authenticator.password,
      jwtSecret: randomBytes(32).toString("base64url"),
    };
    const extraEnv = {
      ACCESS_TOKEN_TTL_SECONDS: "14400",
      ACCESS_LOG: "false",
      // info: the ready lines are info (jobs are logged too; only a tail of the output is kept)
      LOG_LEVEL: "info",
      // a killed worker's jobs go back to the queue within seconds
      WORKER_HEARTBEAT_MS: "1000",
      WORKER_POLL_INTERVAL_MS: "500",
    };
    const tokens = tokenServiceFor(loadConfig(serviceEnv(service, extraEnv)));
    const tokenCache = new Map<string, string>();
    const token = (userId: string): string => {
      let t = tokenCache.get(userId);
      if (!t) tokenCache.set(userId, (t = tokens.sign(userId, benchSessionId(userId)).token));
      return t;
    };

    const restartAfterCrash = (
      name: string,
      code: number | null,
      signal: string | null,
      tail: string,
    ): void => {
      // the error's own line (a crash's last lines are its stack), then the last lines
      const lines = tail.trim().split("\n");
      const error = lines.findLast(
        (l) => /error|unhandled|uncaught/i.test(l) && !/^\s+at /.test(l),
      );
      const last = [...(error ? [error.trim()] : []), ...lines.slice(-3)].join(" | ");
      unexpectedExits.push(`${name} exited by itself (${code ?? signal}): ${last}`);
      o.say(`!! ${name} exited by itself (${code ?? signal}); starting it again`);
      const instance = instances.find((i) => i.name === name);
      if (!instance) return;
      // the database may still be starting: a few tries, a second apart
      void (async () => {
        for (let attempt = 1; attempt <= 10; attempt += 1) {
          try {
            await instance.start();
            return;
          } catch (error) {
            if (attempt === 10) {
              const first = (error as Error).message.split("\n")[0];
              unexpectedExits.push(`${name} did not start again: ${first}`);
            }
            await new Promise((r) => setTimeout(r, 1_000));
          }
        }
      })();
    };
    o.say("starting two API instances and two workers");
    for (const [name, kind] of [
      ["api-1", "api"],
      ["api-2", "api"],
      ["worker-1", "worker"],
      ["worker-2", "worker"],
    ] as const) {
      instances.push(
        makeInstance({
          name,
          kind,
          port: kind === "api" ? await freePort() : null,
          service,
          extraEnv,
          onUnexpectedExit: restartAfterCrash,
        }),
      );
    }
    await Promise.all(instances.map((i) => i.start()));
    const apis = instances.filter((i) => i.kind === "api");
    const workers = instances.filter((i) => i.kind === "worker");
    const apiUrls = apis.map((a) => a.url!);

    const ledger = new Ledger();
    const startedAt = Date.now();
    const stats = new Stats(startedAt);
    const endAt = startedAt + o.minutes * 60_000;
    const stopped = (): boolean => Date.now() >= endAt;
    const subscribers = startSubscribers({
      ledger,
      users: world.users,
      conversationsOf: world.conversationsOf,
      apis: apiUrls,
      token,
    });
    const prober = startProber(
      apis.map((a) => ({ name: a.name, url: a.url! })),
      token(world.users[0]!),
    );
    const loadCtx: LoadContext = {
      world,
      ledger,
      stats,
      apis: apiUrls,
      token,
      thinkMs: o.thinkMs,
      stopped,
    };
    const faults: FaultRecord[] = [];
    const databaseDowntime: Window[] = [];
    o.say(`load and faults for ${o.minutes} min`);
    const progress = setInterval(() => {
      const t = stats.totals();
      const elapsed = Math.round((Date.now() - startedAt) / 1000);
      const kinds = Object.entries(countBy(faults, (f) => f.kind))
        .map(([k, n]) => `${k} ${n}`)
        .join(", ");
      o.say(
        `[${Math.floor(elapsed / 60)}:${String(elapsed % 60).padStart(2, "0")}] ops ${t.operations} · ` +
          `faults ${faults.length}${kinds ? ` (${kinds})` : ""} · errors ${t.errors} · ` +
          `messages received ${ledger.receivedEvents()}`,
      );
    }, 10_000);
    const loadSeed = random.int(1, 2 ** 31);
    const loadDone = runLoad(loadCtx, (userId) =>
      seededRandom(loadSeed ^ parseInt(userId.slice(0, 8), 16)),
    );
    const faultsDone = runFaults({
      random,
      apis,
      workers,
      database: db,
      prober,
      load: loadCtx,
      databaseDowntime,
      startedAt,
      gap: o.faultGap,
      plan: o.faultPlan,
      stopped,
      onFault: (f) => {
        faults.push(f);
        o.say(`fault at ${f.at} s: ${f.kind} ${f.target}: ${f.outcome}`);
      },
    });
    await Promise.all([loadDone, faultsDone]);
    clearInterval(progress);

    o.say("load stopped; waiting for the last deliveries and for the queue to drain");
    await new Promise((r) => setTimeout(r, DELIVERY_GRACE_MS));
    await subscribers.close();
    const availability = await prober.stop();
    const drainMs = await drainQueue(db.ownerUrl, 180_000);
    const invariants = await checkInvariants({
      ownerUrl: db.ownerUrl,
      ledger,
      availability,
      initial: { follows: world.initialFollows, friendships: world.initialFriendships },
      startedAt: new Date(startedAt),
    });
    return {
      startedAt: new Date(startedAt).toISOString(),
      seed: o.seed,
      minutes: o.minutes,
      users: world.users.length,
      machine: { cpus: os.cpus().length, node: process.version },
      stats: stats.summary(),
      faults,
      faultsByKind: countBy(faults, (f) => f.kind),
      unexpectedExits,
      postgresDowntime: databaseDowntime,
      availability: availabilityRows(availability),
      realtime: {
        sessions: ledger.sessions.length,
        messageEvents: ledger.receivedEvents(),
        notificationEvents: subscribers.notificationEvents(),
        closesByCode: subscribers.closesByCode(),
        sessionLog: ledger.sessions.map((s) => {
          const at = (t: number | null): number | null =>
            t === null ? null : Math.round((t - startedAt) / 100) / 10;
          return {
            id: s.id,
            instance: s.instance,
            opened: at(s.openedAt)!,
            live: at(s.liveFrom),
            ended: at(s.endedAt),
            reason: s.endReason,
            received: s.received.size,
          };
        }),
      },
      drainMs,
      invariants,
      ok: invariants.every((i) => i.ok) && unexpectedExits.length === 0,
    };
  } finally {
    await Promise.all(instances.map((i) => i.stop().catch(() => undefined)));
    await database?.stop().catch(() => undefined);
    await rm(dataDir, { recursive: true, force: true });
    // as root, a cluster out of the postgres user's reach is kept elsewhere (src/db/embeddedPlace.ts)
    if (database?.restartable && !database.dataDir.startsWith(dataDir)) {
      await rm(database.dataDir, { recursive: true, force: true });
    }
  }
}
