/**
 * The API as a client uses it: a fresh database, the real server, accounts created through
 * register, and a call helper per signed-in person.
 */
import { registerAccount, type TestAccount } from "./accounts.ts";
import { createTestDatabase, withClient, type TestDatabase } from "./database.ts";
import { startTestServer, type GraphQLBody, type TestServer } from "./server.ts";

export type Call = (query: string, variables?: Record<string, unknown>) => Promise<GraphQLBody>;

export interface Api {
  readonly db: TestDatabase;
  readonly server: TestServer;
  register(username?: string): Promise<TestAccount>;
  /** Calls as this account (or anonymously with null). */
  as(account: TestAccount | null): Call;
  /** Runs SQL as the owner (setting up what a test needs, or checking what happened). */
  sql<T = Record<string, unknown>>(text: string, values?: unknown[]): Promise<T[]>;
  close(): Promise<void>;
}

export async function startApi(env: Record<string, string> = {}): Promise<Api> {
  const db = await createTestDatabase();
  const server = await startTestServer(db, env);
  return {
    db,
    server,
    register: (username) => registerAccount(server, username ? { username } : {}),
    as:
      (account) =>
      async (query, variables = {}) =>
        (await server.graphql(query, variables, account ? { token: account.accessToken } : {}))
          .body,
    sql: (text, values = []) =>
      withClient(db.ownerUrl, async (c) => (await c.query(text, values)).rows as never),
    async close() {
      await server.close();
      await db.drop();
    },
  };
}

/** The data of a successful response; fails the test with the errors otherwise. */
export function ok<T = Record<string, unknown>>(body: GraphQLBody): T {
  if (body.errors) throw new Error(`unexpected errors: ${JSON.stringify(body.errors)}`);
  return body.data as T;
}

/** The extensions of the first error (code, field, ...). */
export function refusal(body: GraphQLBody): Record<string, unknown> | undefined {
  return body.errors?.[0]?.extensions;
}
