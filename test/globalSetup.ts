/**
 * Boots one real PostgreSQL for the whole test run — the embedded server in a throwaway folder
 * on a free port, or the server at TEST_DATABASE_URL (a superuser URL) — and migrates a
 * template database once. Each test file then copies the template (test/helpers/database.ts).
 */
import path from "node:path";

import pg from "pg";

import { ensureOwnerAndDatabase } from "../src/db/connection.ts";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "../src/db/embedded.ts";
import { migrateDatabase } from "../src/db/migrate.ts";
import { ensureStatementsExtension } from "../src/db/statements.ts";
import { withUrlParts } from "../src/db/urls.ts";
import { freePort } from "../src/freePort.ts";
import { PROJECT_ROOT } from "../src/paths.ts";
import { publishTestCluster, type TestCluster } from "./helpers/env.ts";
import { testLogger } from "./helpers/log.ts";

declare global {
  var __MKING_TEST_TEARDOWN__: (() => Promise<void>) | undefined;
}

export default async function globalSetup(): Promise<void> {
  process.env.GRAPHILE_ENV = "test";
  const log = testLogger();
  let embedded: EmbeddedPostgres | null = null;
  let superuserUrl: string;
  if (process.env.TEST_DATABASE_URL) {
    superuserUrl = withUrlParts(process.env.TEST_DATABASE_URL, { database: "postgres" });
  } else {
    const port = await freePort();
    embedded = await startEmbeddedPostgres({
      dataDir: path.join(PROJECT_ROOT, ".data", `test-cluster-${process.pid}`),
      port,
      superuserPassword: "test",
      log,
      throwaway: true,
      // Throwaway data: skip durability work, which only slows tests down.
      settings: {
        fsync: "off",
        synchronous_commit: "off",
        full_page_writes: "off",
        max_connections: "300",
        // slow-query statistics (src/db/statements.ts; test/metrics)
        shared_preload_libraries: "pg_stat_statements",
      },
    });
    superuserUrl = embedded.superuserUrl("postgres");
  }

  const cluster: TestCluster = {
    superuserUrl,
    templateDatabase: `mking_test_template_${process.pid}`,
    owner: { role: "mking_test_owner", password: "test_owner" },
    authenticator: { name: "mking_test_authenticator", password: "test_authenticator" },
  };
  const admin = new pg.Client({ connectionString: superuserUrl });
  await admin.connect();
  const dropTemplate = async (): Promise<void> => {
    await admin.query(
      `drop database if exists ${pg.escapeIdentifier(cluster.templateDatabase)} with (force)`,
    );
  };
  try {
    await dropTemplate();
    await ensureOwnerAndDatabase(superuserUrl, {
      role: cluster.owner.role,
      password: cluster.owner.password,
      database: cluster.templateDatabase,
    });
    await ensureStatementsExtension(
      withUrlParts(superuserUrl, { database: cluster.templateDatabase }),
    );
    await migrateDatabase({
      ownerUrl: withUrlParts(superuserUrl, {
        user: cluster.owner.role,
        password: cluster.owner.password,
        database: cluster.templateDatabase,
      }),
      authenticator: cluster.authenticator,
      log,
      // the migration being written, if any, is tested before it is committed
      current: true,
    });
  } catch (error) {
    await admin.end();
    await embedded?.stop();
    process.stderr.write(log.lines.join("\n") + "\n");
    throw error;
  }
  publishTestCluster(cluster);

  globalThis.__MKING_TEST_TEARDOWN__ = async () => {
    await dropTemplate().catch(() => undefined);
    await admin.end();
    await embedded?.stop();
  };
}
