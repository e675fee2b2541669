/**
 * The API as operators run it: `src/main.ts server` (the real entry point, a child process)
 * with DATABASE_URL. PostgreSQL URLs name one host, so pointing the API at another server is a
 * restart with a new DATABASE_URL.
 */
import { startProcess, type RunningProcess } from "../../helpers/process.ts";
import type { GraphQLBody } from "../../helpers/server.ts";
import { TEST_JWT_SECRET } from "../../helpers/server.ts";

const READY = /GraphQL API ready at (http:\/\/[\d.]+:\d+)\/graphql/;

export interface ApiProcess {
  readonly url: string;
  readonly proc: RunningProcess;
  graphql(query: string, variables?: Record<string, unknown>, token?: string): Promise<GraphQLBody>;
  /** SIGTERM, then SIGKILL if it has not exited after `graceMs`. */
  stop(graceMs?: number): Promise<void>;
}

export async function startApiProcess(databaseUrl: string, dataDir: string): Promise<ApiProcess> {
  const proc = startProcess(["src/main.ts", "server"], {
    DATABASE_URL: databaseUrl,
    DATA_DIR: dataDir,
    PORT: "0",
    // the same key before and after the failover: tokens issued by the old API stay valid
    JWT_SECRET: TEST_JWT_SECRET,
    BCRYPT_COST: "4",
    LOG_LEVEL: "info",
    // the failover drill writes ~750 posts a minute per user
    MUTATIONS_PER_MINUTE_PER_USER: "100000",
  });
  const [, url] = await proc.waitFor(READY);
  return {
    url: url!,
    proc,
    async graphql(query, variables = {}, token) {
      const response = await fetch(`${url}/graphql`, {
        method: "POST",
        headers: {
          "content-type": "application/json",
          accept: "application/json",
          ...(token ? { authorization: `Bearer ${token}` } : {}),
        },
        body: JSON.stringify({ query, variables }),
      });
      return (await response.json()) as GraphQLBody;
    },
    async stop(graceMs = 10_000) {
      if (proc.child.exitCode !== null || proc.child.signalCode !== null) return;
      proc.child.kill("SIGTERM");
      const timer = setTimeout(() => proc.child.kill("SIGKILL"), graceMs);
      try {
        await proc.exited;
      } finally {
        clearTimeout(timer);
      }
    },
  };
}
