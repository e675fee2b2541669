/**
 * A fresh, migrated database per test file: a copy of the template that test/globalSetup.ts
 * migrated once (copying is much faster than migrating).
 */
import { randomBytes } from "node:crypto";

import pg from "pg";

import { withUrlParts } from "../../src/db/urls.ts";
import { testCluster } from "./env.ts";

export interface TestDatabase {
  readonly name: string;
  /** As the owner (migrations, worker). */
  readonly ownerUrl: string;
  /** As the authenticator (PostGraphile). */
  readonly authUrl: string;
  /** As the superuser. */
  readonly superuserUrl: string;
  readonly authenticator: { name: string; password: string };
  drop(): Promise<void>;
}

async function asSuperuser<T>(fn: (client: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: testCluster().superuserUrl });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}

export async function createTestDatabase(
  options: { migrated?: boolean } = {},
): Promise<TestDatabase> {
  const cluster = testCluster();
  const name = `mking_test_${randomBytes(6).toString("hex")}`;
  const id = pg.escapeIdentifier(name);
  const owner = pg.escapeIdentifier(cluster.owner.role);
  await asSuperuser((client) =>
    client.query(
      options.migrated === false
        ? `create database ${id} owner ${owner} encoding 'UTF8' template template0`
        : `create database ${id} template ${pg.escapeIdentifier(cluster.templateDatabase)} owner ${owner}`,
    ),
  );
  const superuserUrl = withUrlParts(cluster.superuserUrl, { database: name });
  return {
    name,
    superuserUrl,
    ownerUrl: withUrlParts(superuserUrl, {
      user: cluster.owner.role,
      password: cluster.owner.password,
    }),
    authUrl: withUrlParts(superuserUrl, {
      user: cluster.authenticator.name,
      password: cluster.authenticator.password,
    }),
    authenticator: cluster.authenticator,
    drop: () =>
      asSuperuser((client) => client.query(`drop database if exists ${id} with (force)`)).then(
        () => undefined,
      ),
  };
}

/** Runs `fn` with a connected client and always closes it. */
export async function withClient<T>(
  url: string,
  fn: (client: pg.Client) => Promise<T>,
): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await fn(client);
  } finally {
    await client.end();
  }
}
