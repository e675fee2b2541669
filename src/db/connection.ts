/**
 * Decides which PostgreSQL the process talks to:
 *
 * - DATABASE_URL set: that server, as that user (the owner); nothing is started.
 * - otherwise: the embedded server (src/db/embedded.ts), with an owner role and a database
 *   created on first start.
 *
 * Either way the result names three connections: the owner (migrations, worker), the
 * authenticator (PostGraphile) and, when known, a superuser one (development tooling only).
 */
import pg from "pg";

import { prepareArchiving } from "../backup/archive.ts";
import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import { startEmbeddedPostgres, type EmbeddedPostgres } from "./embedded.ts";
import { ensureStatementsExtension } from "./statements.ts";
import type { AuthenticatorRole } from "./roles.ts";
import { userOf, withUrlParts } from "./urls.ts";

export interface DatabaseConnections {
  ownerUrl: string;
  authUrl: string;
  authenticator: AuthenticatorRole;
  /** A superuser URL to the same server, when known (embedded, or ROOT_DATABASE_URL). */
  rootUrl: string | null;
  embedded: EmbeddedPostgres | null;
  /** Stops the embedded server if this process started it; otherwise does nothing. */
  close(): Promise<void>;
}

/** Creates the owner role (with CREATEROLE, to create the API roles) and its database. */
export async function ensureOwnerAndDatabase(
  superuserUrl: string,
  owner: { role: string; password: string; database: string },
): Promise<void> {
  const client = new pg.Client({ connectionString: superuserUrl });
  await client.connect();
  try {
    const role = pg.escapeIdentifier(owner.role);
    const password = pg.escapeLiteral(owner.password);
    const { rowCount: roleExists } = await client.query(
      "select 1 from pg_catalog.pg_roles where rolname = $1",
      [owner.role],
    );
    await client.query(
      roleExists
        ? `alter role ${role} login createrole password ${password}`
        : `create role ${role} login createrole password ${password}`,
    );
    // the metrics collector (src/metrics/database.ts) reads every session's activity
    await client.query(`grant pg_monitor to ${role}`);
    const { rowCount: dbExists } = await client.query(
      "select 1 from pg_catalog.pg_database where datname = $1",
      [owner.database],
    );
    if (!dbExists) {
      await client.query(
        `create database ${pg.escapeIdentifier(owner.database)} owner ${role} encoding 'UTF8' template template0`,
      );
    }
  } finally {
    await client.end();
  }
}

function authConnection(
  config: Config,
  ownerUrl: string,
): { url: string; role: AuthenticatorRole } {
  if (config.database.authUrl) {
    const u = new URL(config.database.authUrl);
    return {
      url: config.database.authUrl,
      role: { name: userOf(config.database.authUrl), password: decodeURIComponent(u.password) },
    };
  }
  const role = {
    name: config.database.authenticatorRole,
    password: config.database.authenticatorPassword,
  };
  return { url: withUrlParts(ownerUrl, { user: role.name, password: role.password }), role };
}

export async function connectDatabase(config: Config, log: Logger): Promise<DatabaseConnections> {
  if (config.database.url) {
    const ownerUrl = config.database.url;
    const auth = authConnection(config, ownerUrl);
    return {
      ownerUrl,
      authUrl: auth.url,
      authenticator: auth.role,
      rootUrl: config.database.rootUrl,
      embedded: null,
      close: async () => undefined,
    };
  }

  const { embeddedPostgres: e, database: d } = config;
  const embedded = await startEmbeddedPostgres({
    dataDir: e.dataDir,
    port: e.port,
    superuserPassword: e.superuserPassword,
    log,
    // continuous WAL archiving beside the cluster (src/backup/archive.ts; not on Windows: sh)
    prepare: process.platform === "win32" || !e.walArchive ? undefined : prepareArchiving,
    // slow-query statistics for `npm run db:top` and /debug/statements (src/db/statements.ts)
    settings: { shared_preload_libraries: "pg_stat_statements" },
  });
  try {
    await ensureOwnerAndDatabase(embedded.superuserUrl("postgres"), {
      role: d.ownerRole,
      password: d.ownerPassword,
      database: e.databaseName,
    });
    await ensureStatementsExtension(embedded.superuserUrl(e.databaseName));
  } catch (error) {
    await embedded.stop();
    throw error;
  }
  const ownerUrl = withUrlParts(embedded.superuserUrl(e.databaseName), {
    user: d.ownerRole,
    password: d.ownerPassword,
  });
  const auth = authConnection(config, ownerUrl);
  return {
    ownerUrl,
    authUrl: auth.url,
    authenticator: auth.role,
    rootUrl: embedded.superuserUrl("postgres"),
    embedded,
    close: () => embedded.stop(),
  };
}
