/**
 * Production backups with pgBackRest, for real (docs/OPERATIONS.md): a PostgreSQL 15 server
 * from Debian's packages with this project's migrations, WAL archived by
 * `archive_command = pgbackrest archive-push`, an encrypted repository, a full and a
 * differential backup, and a point-in-time restore to a moment between two batches of writes —
 * with production's pgbackrest.conf (docker/postgres/), only its paths changed, and the
 * postgres service's archive settings from docker-compose.yml.
 * (pgBackRest 2.45, Debian 12's, does not know PostgreSQL 18; production's image uses the
 * PostgreSQL project's newer pgBackRest with the same configuration.)
 */
import { randomBytes } from "node:crypto";
import { readFileSync } from "node:fs";
import { readdir, readFile } from "node:fs/promises";
import path from "node:path";

import pg from "pg";
import { parse } from "yaml";

import { ensureOwnerAndDatabase } from "../../src/db/connection.ts";
import {
  latestAppliedMigrationHash,
  latestCommittedMigrationHash,
  migrateDatabase,
} from "../../src/db/migrate.ts";
import { withUrlParts } from "../../src/db/urls.ts";
import { PROJECT_ROOT } from "../../src/paths.ts";
import { freePort } from "../helpers/process.ts";
import { testLogger } from "../helpers/log.ts";
import { setUpPgBackRest, STANZA, type PgBackRest } from "./helpers/pgbackrest.ts";
import {
  initCluster,
  opsFolder,
  startServer,
  type OpsFolder,
  type Server,
} from "./helpers/postgres15.ts";

const DATABASE = "mking_friend";
/** A string no backup can contain in plaintext: it is in every row the test writes. */
const MARKER = `pitr-${randomBytes(8).toString("hex")}`;
const ROWS_PER_BATCH = 100;

interface BackupInfo {
  label: string;
  type: "full" | "diff" | "incr";
  /** Seconds since the epoch. */
  timestamp: { start: number; stop: number };
}
interface StanzaInfo {
  name: string;
  cipher: string;
  status: { code: number; message: string };
  backup: BackupInfo[];
}

let folder: OpsFolder;
let dataDir: string;
let port: number;
let socketDir: string;
let backrest: PgBackRest;
let server: Server | null = null;
let settings: Record<string, string>;

async function withDb<T>(fn: (client: pg.Client) => Promise<T>, on: Server = server!): Promise<T> {
  const client = new pg.Client({ connectionString: on.url(DATABASE) });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

/** Writes one batch of accounts, e-mails `<batch>-<n>-<MARKER>@backup.test`, in one transaction. */
async function writeBatch(batch: string): Promise<void> {
  await withDb((client) =>
    client.query(
      `insert into app_public.users (email)
       select $1 || '-' || n || '-' || $2 || '@backup.test' from generate_series(1, $3::int) n`,
      [batch, MARKER, ROWS_PER_BATCH],
    ),
  );
}

async function countBatch(batch: string, on: Server = server!): Promise<number> {
  return withDb(async (client) => {
    const { rows } = await client.query<{ n: number }>(
      "select count(*)::int as n from app_public.users where email like $1",
      [`${batch}-%-${MARKER}@backup.test`],
    );
    return rows[0]!.n;
  }, on);
}

async function databaseMegabytes(on: Server): Promise<number> {
  return withDb(async (client) => {
    const { rows } = await client.query<{ mb: number }>(
      "select round(sum(pg_database_size(oid)) / 1048576.0)::int as mb from pg_database",
    );
    return rows[0]!.mb;
  }, on);
}

/** One line on stderr with how long a restore took: docs/OPERATIONS.md quotes it (RTO). */
function reportTiming(what: string, mb: number, ms: { restore: number; recovery: number }): void {
  const s = (n: number): string => (n / 1000).toFixed(1);
  process.stderr.write(
    `pgBackRest ${what}, ${mb} MB: restore ${s(ms.restore)} s, ` +
      `WAL replay and promotion ${s(ms.recovery)} s\n`,
  );
}

/** archive_mode, archive_command, archive_timeout: as docker-compose.yml's postgres service. */
function productionArchiveSettings(): Record<string, string> {
  const compose = parse(readFileSync(path.join(PROJECT_ROOT, "docker-compose.yml"), "utf8"), {
    merge: true,
  }) as { services: { postgres: { command: string[] } } };
  const settings: Record<string, string> = {};
  for (const arg of compose.services.postgres.command) {
    const m = /^(archive_\w+)=(.*)$/.exec(arg);
    if (m) settings[m[1]!] = m[2]!;
  }
  return settings;
}

async function info(): Promise<StanzaInfo> {
  const stanzas = JSON.parse(await backrest.run("--output=json", "info")) as StanzaInfo[];
  const stanza = stanzas.find((s) => s.name === STANZA);
  if (!stanza) throw new Error(`no stanza ${STANZA} in pgbackrest info`);
  return stanza;
}

/** Every regular file under `dir`, recursively (symbolic links such as `latest` are skipped). */
async function filesUnder(dir: string): Promise<string[]> {
  const entries = await readdir(dir, { withFileTypes: true, recursive: true });
  return entries.filter((e) => e.isFile()).map((e) => path.join(e.parentPath, e.name));
}

async function filesContaining(files: string[], text: string): Promise<string[]> {
  const needle = Buffer.from(text, "utf8");
  const found: string[] = [];
  for (const file of files) if ((await readFile(file)).includes(needle)) found.push(file);
  return found;
}

beforeAll(async () => {
  folder = await opsFolder("pgbackrest");
  dataDir = path.join(folder.dir, "data");
  socketDir = await folder.sub("run");
  port = await freePort();
  await initCluster(dataDir, folder.user);
  backrest = await setUpPgBackRest({
    workDir: folder.dir,
    dataDir,
    port,
    socketDir,
    user: folder.user,
    cipherPass: randomBytes(24).toString("base64"),
    // no compression, so that only the cipher stands between the rows and the bytes in the
    // repository: the plaintext check below then means something (production compresses)
    overrides: { PGBACKREST_COMPRESS_TYPE: "none" },
  });
  settings = productionArchiveSettings();
  expect(settings.archive_command).toBe(`pgbackrest --stanza=${STANZA} archive-push %p`);
  server = await startServer({
    dataDir,
    port,
    socketDir,
    user: folder.user,
    settings,
    env: backrest.env,
  });
}, 120_000);

afterAll(async () => {
  await server?.stop();
  await folder?.remove();
}, 60_000);

describe("pgBackRest against PostgreSQL 15", () => {
  let fullLabel: string;
  let target: string;
  let fullStoppedAt: number;

  it("creates the stanza, checks that WAL reaches the repository, and takes a full backup", async () => {
    await backrest.run("stanza-create");
    await backrest.run("check");

    // the project's own schema, as production's is: the committed migrations and the policies
    // (not migrations/current.sql, which is work in progress: npm test checks it)
    const log = testLogger();
    const owner = { role: "mking_owner", password: "ops", database: DATABASE };
    await ensureOwnerAndDatabase(server!.url(), owner);
    await migrateDatabase({
      ownerUrl: withUrlParts(server!.url(DATABASE), { user: owner.role, password: "ops" }),
      authenticator: { name: "mking_authenticator", password: "ops" },
      log,
    });

    await backrest.run("--type=full", "backup");
    const backups = (await info()).backup;
    expect(backups.map((b) => b.type)).toEqual(["full"]);
    fullLabel = backups[0]!.label;
    fullStoppedAt = backups[0]!.timestamp.stop;
  }, 180_000);

  it("archives writes after it, and takes a differential backup", async () => {
    // pgBackRest knows when a backup ended to the second, and restores a time target from the
    // newest backup that ended before it: let the full backup's second pass before the writes
    // (a real incident's target is minutes or hours after the backup it restores from)
    const wait = (fullStoppedAt + 1) * 1000 - Date.now();
    if (wait > 0) await new Promise((resolve) => setTimeout(resolve, wait));
    await writeBatch("before");
    // the moment to restore to: after the first batch committed, before the second
    target = await withDb(async (client) => {
      const { rows } = await client.query<{ t: string }>(
        `select to_char(clock_timestamp() at time zone 'utc', 'YYYY-MM-DD HH24:MI:SS.US') || '+00' as t`,
      );
      return rows[0]!.t;
    });
    await writeBatch("after");
    await backrest.run("--type=diff", "backup");
    await writeBatch("latest");
    expect(await countBatch("latest")).toBe(ROWS_PER_BATCH);

    const stanza = await info();
    expect([stanza.status.code, stanza.status.message]).toEqual([0, "ok"]);
    expect(stanza.backup.map((b) => [b.label === fullLabel, b.type])).toEqual([
      [true, "full"],
      [false, "diff"],
    ]);
  }, 120_000);

  it("keeps the repository encrypted: no plaintext, and useless without the pass", async () => {
    expect((await info()).cipher).toBe("aes-256-cbc");

    // the rows are plaintext in the server's own WAL (the control) ...
    const wal = (await filesUnder(path.join(dataDir, "pg_wal"))).filter((f) =>
      /\/[0-9A-F]{24}$/.test(f),
    );
    expect((await filesContaining(wal, MARKER)).length).toBeGreaterThan(0);
    // ... and nowhere in the repository, whose every file (WAL, data, manifests, info) is
    // OpenSSL-encrypted: it starts with "Salted__"
    const repoFiles = await filesUnder(backrest.repoPath);
    expect(
      repoFiles.filter((f) => f.includes(`${path.sep}archive${path.sep}`)).length,
    ).toBeGreaterThan(0);
    expect(await filesContaining(repoFiles, MARKER)).toEqual([]);
    const notEncrypted: string[] = [];
    for (const file of repoFiles) {
      const bytes = await readFile(file);
      if (bytes.length > 0 && !bytes.subarray(0, 8).equals(Buffer.from("Salted__"))) {
        notEncrypted.push(file);
      }
    }
    expect(notEncrypted).toEqual([]);

    // with the right pass the repository lists its backups; with another it lists nothing
    expect(await backrest.run("info")).toContain(fullLabel);
    const wrongPass = await backrest.runWith(
      { PGBACKREST_REPO1_CIPHER_PASS: "not-the-pass" },
      "info",
    );
    expect(wrongPass.output).toMatch(/status: error/);
    expect(wrongPass.output).not.toContain(fullLabel);
  });

  it("restores that moment into an empty folder, as on a new machine after a lost disk", async () => {
    const emptyDir = await folder.sub("data-new");
    const started = Date.now();
    await backrest.run(
      `--pg1-path=${emptyDir}`,
      "--type=time",
      `--target=${target}`,
      "--target-action=promote",
      "restore",
    );
    const restoredAt = Date.now();
    // a look only: no archiving, so that its new timeline does not reach the repository
    const copy = await startServer({
      dataDir: emptyDir,
      port: await freePort(),
      socketDir,
      user: folder.user,
      settings: { archive_mode: "off" },
      env: backrest.env,
    });
    try {
      const recoveredAt = Date.now();
      expect(await countBatch("before", copy)).toBe(ROWS_PER_BATCH);
      expect(await countBatch("after", copy)).toBe(0);
      reportTiming("restore into an empty folder", await databaseMegabytes(copy), {
        restore: restoredAt - started,
        recovery: recoveredAt - restoredAt,
      });
    } finally {
      await copy.stop();
    }
  }, 180_000);

  it("restores to the moment between the batches: the rows before it are back, the later ones are not", async () => {
    await server!.stop();
    server = null;

    const started = Date.now();
    const restored = await backrest.run(
      "--delta",
      "--type=time",
      `--target=${target}`,
      "--target-action=promote",
      "restore",
    );
    // pgBackRest picks the newest backup that ended before the target: the full one
    expect(restored).toContain(`restore backup set ${fullLabel}`);
    const restoredAt = Date.now();
    server = await startServer({
      dataDir,
      port,
      socketDir,
      user: folder.user,
      settings,
      env: backrest.env,
    });
    const recoveredAt = Date.now();
    expect(server.log()).toMatch(/recovery stopping before commit of transaction/);

    expect(await countBatch("before")).toBe(ROWS_PER_BATCH);
    expect(await countBatch("after")).toBe(0);
    expect(await countBatch("latest")).toBe(0);
    // the schema is there, and the server takes writes again
    await withDb(async (client) =>
      expect(await latestAppliedMigrationHash(client)).toBe(await latestCommittedMigrationHash()),
    );
    await writeBatch("again");
    expect(await countBatch("again")).toBe(ROWS_PER_BATCH);

    reportTiming("delta restore in place", await databaseMegabytes(server), {
      restore: restoredAt - started,
      recovery: recoveredAt - restoredAt,
    });
  }, 180_000);

  it("archives on the new timeline, and verify finds the repository sound", async () => {
    await backrest.run("check");
    const verified = await backrest.run("verify");
    expect(verified).not.toMatch(/ERROR|WARN/);
    expect(verified).toMatch(/verify command end: completed successfully/);
  }, 120_000);
});
