/**
 * `npm run db:reset`: drops the database and builds it again from the migrations. It destroys
 * every row, so it refuses with NODE_ENV=production (always) and on a server that is not on
 * this machine (unless `--force`): a DATABASE_URL copied from a shared environment should not
 * be one keystroke away from being wiped.
 */
import pg from "pg";

import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import type { DatabaseConnections } from "./connection.ts";
import { migrateDatabase } from "./migrate.ts";
import { databaseNameOf, userOf } from "./urls.ts";

/** Where a connection URL points: its host, or the socket folder of a `?host=/path` URL. */
export function hostOf(url: string): string {
  const u = new URL(url);
  return u.searchParams.get("host") ?? decodeURIComponent(u.hostname).replace(/^\[(.*)\]$/, "$1");
}

/** True for a server on this machine: loopback addresses, `localhost`, or a Unix socket. */
export function isLocalHost(host: string): boolean {
  const h = host.toLowerCase();
  return (
    h === "" || // no host: the default Unix socket
    h.startsWith("/") || // a Unix socket folder
    h === "localhost" ||
    h === "::1" ||
    /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h)
  );
}

/** Why db:reset must not run on `ownerUrl`, or null when it may. */
export function resetRefusal(config: Config, ownerUrl: string, force: boolean): string | null {
  if (config.isProduction) return "db:reset refuses to run with NODE_ENV=production";
  const host = hostOf(ownerUrl);
  if (!force && !isLocalHost(host)) {
    return (
      `db:reset refuses to drop database "${databaseNameOf(ownerUrl)}" on ${host}, which is not ` +
      `this machine; if you mean it: npm run db:reset -- --force`
    );
  }
  return null;
}

/** Drops and re-creates the owner's database (as the superuser at `rootUrl`), then migrates it. */
export async function resetDatabase(o: {
  config: Config;
  db: DatabaseConnections;
  rootUrl: string;
  force: boolean;
  log: Logger;
}): Promise<void> {
  const { db, log } = o;
  const refusal = resetRefusal(o.config, db.ownerUrl, o.force);
  if (refusal) throw new Error(refusal);
  const database = databaseNameOf(db.ownerUrl);
  const owner = userOf(db.ownerUrl);
  const client = new pg.Client({ connectionString: o.rootUrl });
  await client.connect();
  try {
    await client.query(
      "select pg_terminate_backend(pid) from pg_stat_activity where datname = $1 and pid <> pg_backend_pid()",
      [database],
    );
    await client.query(`drop database if exists ${pg.escapeIdentifier(database)}`);
    await client.query(
      `create database ${pg.escapeIdentifier(database)} owner ${pg.escapeIdentifier(owner)} encoding 'UTF8' template template0`,
    );
  } finally {
    await client.end();
  }
  log.info("database dropped and re-created", { database });
  await migrateDatabase({ ownerUrl: db.ownerUrl, authenticator: db.authenticator, log });
}
