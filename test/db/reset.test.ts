/**
 * `npm run db:reset` (src/db/cli.ts reset), run as a child process on a scratch database of
 * the test cluster: it rebuilds a development database from the migrations, and refuses to run
 * in production, or against a server that is not on this machine unless told `--force`.
 */
import { readdirSync } from "node:fs";

import { loadConfig } from "../../src/config.ts";
import { hostOf, isLocalHost, resetRefusal } from "../../src/db/reset.ts";
import { withUrlParts } from "../../src/db/urls.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { testCluster } from "../helpers/env.ts";
import { startProcess } from "../helpers/process.ts";

const committedMigrations = readdirSync(new URL("../../migrations/committed", import.meta.url))
  .filter((f) => f.endsWith(".sql"))
  .sort();

/** Runs `node src/db/cli.ts reset [args]`; resolves with its exit code and output. */
async function dbReset(
  env: Record<string, string>,
  args: string[] = [],
): Promise<{ code: number | null; output: string }> {
  const proc = startProcess(["src/db/cli.ts", "reset", ...args], { LOG_LEVEL: "info", ...env });
  const code = await proc.exited;
  return { code, output: proc.output() };
}

/** What a reset must throw away or rebuild: a user row, and the migration bookkeeping. */
async function stateOf(
  url: string,
): Promise<{ users: number; migrations: string[]; rls: boolean }> {
  return withClient(url, async (client) => {
    const { rows } = await client.query<{ users: number; migrations: string[]; rls: boolean }>(
      `select (select count(*)::int from app_public.users) as users,
              (select array_agg(filename order by filename) from graphile_migrate.migrations) as migrations,
              (select relrowsecurity from pg_class where oid = 'app_public.users'::regclass) as rls`,
    );
    return rows[0]!;
  });
}

describe("npm run db:reset", () => {
  let db: TestDatabase;
  /** The scratch database as the service sees it: owner, authenticator, superuser URLs. */
  let env: Record<string, string>;

  beforeEach(async () => {
    db = await createTestDatabase();
    await withClient(db.ownerUrl, (c) =>
      c.query("insert into app_public.users (email) values ('keep-or-drop@example.com')"),
    );
    env = {
      NODE_ENV: "development",
      DATABASE_URL: db.ownerUrl,
      AUTH_DATABASE_URL: db.authUrl,
      ROOT_DATABASE_URL: withUrlParts(testCluster().superuserUrl, { database: "postgres" }),
    };
  });
  afterEach(() => db.drop());

  it("drops a development database and rebuilds it from the committed migrations", async () => {
    expect((await stateOf(db.ownerUrl)).users).toBe(1);
    const { code, output } = await dbReset(env);
    expect({ code, output }).toEqual({
      code: 0,
      output: expect.stringContaining("database dropped and re-created"),
    });
    expect(await stateOf(db.ownerUrl)).toEqual({
      users: 0,
      migrations: committedMigrations,
      rls: true,
    });
    // re-created for the same owner, so the service can use it as before
    const owner = await withClient(
      db.superuserUrl,
      async (c) =>
        (
          await c.query<{ owner: string }>(
            "select pg_get_userbyid(datdba) as owner from pg_database where datname = $1",
            [db.name],
          )
        ).rows[0]?.owner,
    );
    expect(owner).toBe(testCluster().owner.role);
  });

  it("refuses with NODE_ENV=production, even with --force, and leaves the database alone", async () => {
    const { code, output } = await dbReset(
      {
        ...env,
        NODE_ENV: "production",
        DATABASE_AUTHENTICATOR_PASSWORD: "production-password",
        JWT_SECRET: "a-production-secret-of-at-least-32-chars",
      },
      ["--force"],
    );
    expect(code).toBe(1);
    expect(output).toContain("db:reset refuses to run with NODE_ENV=production");
    expect((await stateOf(db.ownerUrl)).users).toBe(1);
  });

  it("refuses a database on another machine without --force, before connecting to it", async () => {
    // a reserved name (RFC 2606): were it looked up, the command would fail differently
    const remote = {
      ...env,
      DATABASE_URL: "postgres://owner:secret@db.internal.example:5432/mking_friend",
      AUTH_DATABASE_URL: "postgres://auth:secret@db.internal.example:5432/mking_friend",
      ROOT_DATABASE_URL: "postgres://postgres:secret@db.internal.example:5432/postgres",
    };
    const { code, output } = await dbReset(remote);
    expect(code).toBe(1);
    expect(output).toContain(
      `db:reset refuses to drop database \\"mking_friend\\" on db.internal.example, which is not this machine; if you mean it: npm run db:reset -- --force`,
    );
  });

  it("says what is missing without a superuser connection", async () => {
    const { ROOT_DATABASE_URL: _root, ...withoutRoot } = env;
    const { code, output } = await dbReset(withoutRoot);
    expect(code).toBe(1);
    expect(output).toContain("db:reset needs a superuser connection: set ROOT_DATABASE_URL");
    expect((await stateOf(db.ownerUrl)).users).toBe(1);
  });
});

describe("which databases db:reset accepts", () => {
  const development = loadConfig({}, "/srv/app");
  const production = loadConfig(
    {
      NODE_ENV: "production",
      DATABASE_URL: "postgres://o:p@127.0.0.1/app",
      DATABASE_AUTHENTICATOR_PASSWORD: "s3cret",
      JWT_SECRET: "a-production-secret-of-at-least-32-chars",
    },
    "/srv/app",
  );

  it.each([
    ["postgres://o:p@localhost:5432/app", "localhost"],
    ["postgres://o:p@127.0.0.1:54321/app", "127.0.0.1"],
    ["postgres://o:p@127.1.2.3/app", "127.1.2.3"],
    ["postgres://o:p@[::1]:5432/app", "::1"],
    ["postgres:///app?host=/var/run/postgresql", "/var/run/postgresql"],
    ["postgres:///app", ""],
  ])("treats %s as this machine", (url, host) => {
    expect(hostOf(url)).toBe(host);
    expect(isLocalHost(host)).toBe(true);
    expect(resetRefusal(development, url, false)).toBeNull();
  });

  it.each([
    "postgres://o:p@db.example.com:5432/app",
    "postgres://o:p@10.0.0.5/app",
    "postgres://o:p@[2001:db8::1]/app",
    "postgres://o:p@localhost.example.com/app",
    "postgres://o:p@127.0.0.1.nip.io/app",
  ])("treats %s as another machine: refused, unless --force", (url) => {
    expect(resetRefusal(development, url, false)).toMatch(/not this machine.*--force/);
    expect(resetRefusal(development, url, true)).toBeNull();
  });

  it("refuses every database in production, --force or not", () => {
    for (const force of [false, true]) {
      expect(resetRefusal(production, "postgres://o:p@127.0.0.1/app", force)).toBe(
        "db:reset refuses to run with NODE_ENV=production",
      );
    }
  });
});
