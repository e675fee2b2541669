/**
 * Start-up against DATABASE_URL waits for a server that is not there yet (the chaos soak saw a
 * worker restarted while PostgreSQL restarted exit with code 1), but fails at once on a
 * configuration error, and gives up after DATABASE_WAIT_SECONDS with one clear line.
 */
import { chmod, mkdtemp, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";

import { startEmbeddedPostgres, type EmbeddedPostgres } from "../../src/db/embedded.ts";
import { withUrlParts } from "../../src/db/urls.ts";
import { DatabaseUnavailableError, waitForDatabase } from "../../src/db/waitForDatabase.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { testLogger } from "../helpers/log.ts";
import { freePort } from "../helpers/process.ts";

const log = testLogger();

test("waits for a server that starts after the first attempt, then answers", async () => {
  const port = await freePort();
  const dataDir = await mkdtemp(path.join(os.tmpdir(), "mking-wait-"));
  await chmod(dataDir, 0o755);
  let server: EmbeddedPostgres | null = null;
  try {
    const url = `postgres://postgres:wait-test@127.0.0.1:${port}/postgres`;
    const firstRefusal = log.next(/not answering yet/);
    const waiting = waitForDatabase({ url, waitSeconds: 120, log, firstDelayMs: 100 });
    await firstRefusal; // nothing listens on the port yet
    server = await startEmbeddedPostgres({
      dataDir: path.join(dataDir, "postgres"),
      port,
      superuserPassword: "wait-test",
      log,
    });
    const { attempts } = await waiting;
    expect(attempts).toBeGreaterThan(1);
  } finally {
    await server?.stop();
    await rm(dataDir, { recursive: true, force: true });
  }
}, 120_000);

describe("against a running server", () => {
  let db: TestDatabase;
  beforeAll(async () => {
    db = await createTestDatabase();
  }, 60_000);
  afterAll(async () => {
    await db?.drop();
  });

  test("answers at the first attempt", async () => {
    expect(await waitForDatabase({ url: db.ownerUrl, waitSeconds: 5, log })).toEqual({
      attempts: 1,
    });
  });

  test("a wrong password fails at once, without retrying", async () => {
    const url = withUrlParts(db.ownerUrl, { password: "not-the-password" });
    const started = Date.now();
    await expect(waitForDatabase({ url, waitSeconds: 60, log })).rejects.toMatchObject({
      code: "28P01",
    });
    expect(Date.now() - started).toBeLessThan(10_000);
  });
});

test("gives up after DATABASE_WAIT_SECONDS with one clear message, password redacted", async () => {
  const port = await freePort();
  const url = `postgres://someone:secret-password@127.0.0.1:${port}/nothing`;
  const error = await waitForDatabase({ url, waitSeconds: 1, log, firstDelayMs: 100 }).catch(
    (e: unknown) => e,
  );
  expect(error).toBeInstanceOf(DatabaseUnavailableError);
  expect((error as Error).message).toMatch(/did not accept connections within 1 s/);
  expect((error as Error).message).not.toContain("secret-password");
  expect((error as DatabaseUnavailableError).attempts).toBeGreaterThan(1);
}, 30_000);
