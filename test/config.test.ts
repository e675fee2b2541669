/**
 * Configuration is read once from the environment and validated; a bad value stops start-up
 * with one clear line naming the variable.
 */
import { readFileSync } from "node:fs";

import { ConfigError, configVariableNames, loadConfig } from "../src/config.ts";
import { startProcess } from "./helpers/process.ts";

const production = {
  NODE_ENV: "production",
  DATABASE_URL: "postgres://o:p@db/app",
  DATABASE_AUTHENTICATOR_PASSWORD: "s3cret",
  JWT_SECRET: "a-production-secret-of-at-least-32-chars",
};

function problemsOf(env: Record<string, string>): readonly string[] {
  try {
    loadConfig(env, "/srv/app");
  } catch (error) {
    if (error instanceof ConfigError) return error.problems;
    throw error;
  }
  return [];
}

describe("loadConfig", () => {
  it("starts from safe development defaults: embedded Postgres on 54321, GraphiQL on", () => {
    const config = loadConfig({}, "/srv/app");
    expect(config.env).toBe("development");
    expect(config.database.url).toBeNull();
    expect(config.embeddedPostgres.port).toBe(54321);
    expect(config.embeddedPostgres.dataDir).toBe("/srv/app/.data/postgres");
    expect(config.http).toMatchObject({ host: "127.0.0.1", port: 3000, graphiql: true });
  });

  it("reads and converts every kind of value", () => {
    const config = loadConfig(
      {
        PORT: "8080",
        GRAPHIQL: "off",
        EMBEDDED_PG_PORT: "55000",
        DATABASE_URL: "postgres://owner:pw@db.internal:5432/social",
        WORKER_CONCURRENCY: "8",
      },
      "/srv/app",
    );
    expect(config.http.port).toBe(8080);
    expect(config.http.graphiql).toBe(false);
    expect(config.embeddedPostgres.port).toBe(55000);
    expect(config.database.url).toBe("postgres://owner:pw@db.internal:5432/social");
    expect(config.worker.concurrency).toBe(8);
  });

  it.each([
    [{ PORT: "abc" }, 'PORT must be an integer from 0 to 65535 (got "abc")'],
    [{ PORT: "70000" }, 'PORT must be an integer from 0 to 65535 (got "70000")'],
    [
      { NODE_ENV: "staging" },
      'NODE_ENV must be one of development, test, production (got "staging")',
    ],
    [{ GRAPHIQL: "maybe" }, 'GRAPHIQL must be true or false (got "maybe")'],
    [
      { DATABASE_URL: "mysql://x@y/z" },
      'DATABASE_URL must be a postgres:// URL (got protocol "mysql:")',
    ],
    [
      { DATABASE_URL: "postgres://x@y:5432" },
      "DATABASE_URL must name a database, e.g. postgres://user:pass@host:5432/db",
    ],
    [
      { DATABASE_OWNER: "Robert'); drop" },
      `DATABASE_OWNER must be a lowercase PostgreSQL identifier (letters, digits, _) (got "Robert'); drop")`,
    ],
  ])("refuses %j with one line naming the variable", (env, line) => {
    expect(problemsOf(env)).toEqual([line]);
  });

  describe("PgBouncer and read replicas (docs/SCALING.md)", () => {
    const replica = { DATABASE_READ_URLS: "postgres://replica1:5432/app" };
    it.each([
      [
        { DATABASE_POOLER_URL: "http://pgbouncer:6432/app" },
        'DATABASE_POOLER_URL must be a postgres:// URL (got protocol "http:")',
      ],
      [
        { DATABASE_POOLER_URL: "not a url" },
        "DATABASE_POOLER_URL must be a postgres:// URL (got something that is not a URL)",
      ],
      [
        { DATABASE_POOLER_URL: "postgres://pgbouncer:6432" },
        "DATABASE_POOLER_URL must name a database, e.g. postgres://user:pass@host:5432/db",
      ],
      [
        // the same host and (default) port as DATABASE_URL: that is the database, not a pooler
        {
          DATABASE_URL: "postgres://owner:pw@db/app",
          DATABASE_POOLER_URL: "postgres://db:5432/app",
        },
        "DATABASE_POOLER_URL must point at the pooler (PgBouncer), not at DATABASE_URL's server: " +
          "LISTEN and migrations keep the direct connection",
      ],
      [
        { DATABASE_READ_URLS: "postgres://replica1/app, mysql://replica2/app" },
        'DATABASE_READ_URLS: each entry must be a postgres:// URL (got "mysql://replica2/app")',
      ],
      [
        { DATABASE_READ_URLS: "postgres:///app" },
        "DATABASE_READ_URLS: each URL must name a host, e.g. postgres://replica1:5432/db",
      ],
      [
        {
          DATABASE_URL: "postgres://owner:pw@db:5432/app",
          DATABASE_READ_URLS: "postgres://db/app",
        },
        "DATABASE_READ_URLS must list replicas, not DATABASE_URL's own server",
      ],
      [
        { ...replica, READ_YOUR_WRITES_WINDOW_MS: "soon" },
        'READ_YOUR_WRITES_WINDOW_MS must be an integer from 0 to 3600000 (got "soon")',
      ],
      [
        { ...replica, READ_YOUR_WRITES_WINDOW_MS: "2000" },
        "READ_YOUR_WRITES_WINDOW_MS (2000) must be at least DATABASE_READ_MAX_LAG_MS + " +
          "DATABASE_READ_POLL_MS (2250): a session's write must be remembered until every " +
          "replica in rotation has replayed it",
      ],
      [
        { ...replica, DATABASE_READ_MAX_LAG_MS: "5" },
        'DATABASE_READ_MAX_LAG_MS must be an integer from 10 to 3600000 (got "5")',
      ],
      [
        { ...replica, DATABASE_READ_MAX_LAG_MS: "200" },
        "DATABASE_READ_POLL_MS (250) must be below DATABASE_READ_MAX_LAG_MS (200): lag is " +
          "measured once per poll",
      ],
      [
        // a longer lag limit needs a longer window too
        { ...replica, DATABASE_READ_MAX_LAG_MS: "10000" },
        "READ_YOUR_WRITES_WINDOW_MS (5000) must be at least DATABASE_READ_MAX_LAG_MS + " +
          "DATABASE_READ_POLL_MS (10250): a session's write must be remembered until every " +
          "replica in rotation has replayed it",
      ],
    ])("refuses %j", (env, line) => {
      expect(problemsOf(env)).toEqual([line]);
    });

    it("accepts a pooler on another server and replicas with a long enough window", () => {
      const config = loadConfig(
        {
          DATABASE_URL: "postgres://owner:pw@db:5432/app",
          DATABASE_POOLER_URL: "postgres://pgbouncer:6432/app",
          DATABASE_READ_URLS: "postgres://replica1/app postgres://replica2:5433/app",
          DATABASE_READ_MAX_LAG_MS: "10000",
          READ_YOUR_WRITES_WINDOW_MS: "10250",
        },
        "/srv/app",
      );
      expect(config.database.poolerUrl).toBe("postgres://pgbouncer:6432/app");
      expect(config.readReplicas).toEqual({
        urls: ["postgres://replica1/app", "postgres://replica2:5433/app"],
        maxLagMs: 10000,
        pollIntervalMs: 250,
        readYourWritesWindowMs: 10250,
      });
    });
  });

  it("reports every bad variable at once, one line each", () => {
    expect(problemsOf({ PORT: "x", WORKER_CONCURRENCY: "0" })).toEqual([
      'PORT must be an integer from 0 to 65535 (got "x")',
      'WORKER_CONCURRENCY must be an integer from 1 to 100 (got "0")',
    ]);
  });

  it("in production, requires a real database and real secrets", () => {
    expect(problemsOf({ NODE_ENV: "production" })).toEqual([
      "DATABASE_URL must be set when NODE_ENV=production (the embedded server is for development)",
      "DATABASE_AUTHENTICATOR_PASSWORD must be set when NODE_ENV=production",
      "JWT_SECRET must be set when NODE_ENV=production (or use JWT_ALGORITHM=RS256)",
    ]);
    expect(problemsOf({ ...production, BCRYPT_COST: "8" })).toEqual([
      "BCRYPT_COST must be at least 10 when NODE_ENV=production (got 8)",
    ]);
    const config = loadConfig(production);
    expect(config.http.graphiql).toBe(false);
    expect(config.api.introspection).toBe(false);
    expect(config.auth.bcryptCost).toBe(12);
  });
});

describe("start-up with a bad value", () => {
  it("exits with status 1 and one clear line, no stack trace", async () => {
    const proc = startProcess(["src/main.ts"], { PORT: "abc" });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toBe('config: PORT must be an integer from 0 to 65535 (got "abc")\n');
  });
});

describe(".env.example", () => {
  it("lists every variable the configuration reads", () => {
    const example = readFileSync(new URL("../.env.example", import.meta.url), "utf8");
    const listed = new Set([...example.matchAll(/^#?\s*([A-Z][A-Z0-9_]+)=/gm)].map((m) => m[1]));
    for (const name of configVariableNames())
      expect({ name, listed: listed.has(name) }).toEqual({ name, listed: true });
  });
});
