/** Accounts for tests, created the way clients create them: through register. */
import pg from "pg";

import type { GraphQLBody, TestServer } from "./server.ts";

export interface TestAccount {
  id: string;
  email: string;
  username: string;
  password: string;
  accessToken: string;
  refreshToken: string;
}

const REGISTER = /* GraphQL */ `
  mutation ($input: RegisterInput!) {
    register(input: $input) {
      accessToken
      refreshToken
      accessTokenExpiresAt
      user {
        id
        username
        displayName
      }
    }
  }
`;

let counter = 0;

/** Registers a fresh account (unique e-mail and username) and returns its credentials. */
export async function registerAccount(
  server: TestServer,
  overrides: Partial<{
    email: string;
    username: string;
    password: string;
    displayName: string;
  }> = {},
): Promise<TestAccount> {
  counter += 1;
  const tag = `${process.pid}_${counter}_${Math.random().toString(36).slice(2, 7)}`;
  const input = {
    email: overrides.email ?? `user_${tag}@example.com`,
    username: overrides.username ?? `user_${tag}`.slice(0, 50),
    password: overrides.password ?? "correct horse battery",
    ...(overrides.displayName ? { displayName: overrides.displayName } : {}),
  };
  const { body } = await server.graphql(REGISTER, { input });
  const payload = body.data?.register as
    | { accessToken: string; refreshToken: string; user: { id: string; username: string } }
    | undefined;
  if (!payload) throw new Error(`register failed: ${JSON.stringify(body.errors)}`);
  return {
    id: payload.user.id,
    email: input.email.trim().toLowerCase(),
    username: payload.user.username,
    password: input.password,
    accessToken: payload.accessToken,
    refreshToken: payload.refreshToken,
  };
}

/** The first error's code, or undefined. */
export const codeOf = (body: GraphQLBody): unknown => body.errors?.[0]?.extensions?.code;

/**
 * Live sessions (refresh-token families) for users created in SQL (test/helpers/world.ts), so
 * that tokens signed for them pass the API's session check (src/auth/sessions.ts). Returns each
 * user's session id, in the order given.
 */
export async function openSessions(
  ownerUrl: string,
  userIds: readonly string[],
): Promise<string[]> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const { rows } = await client.query<{ family_id: string }>(
      `insert into app_private.refresh_tokens (user_id, family_id, token_hash, expires_at)
       select u, gen_random_uuid(), 'test-session:' || gen_random_uuid(), now() + interval '1 day'
         from unnest($1::uuid[]) with ordinality as t(u, n)
        order by n
       returning family_id`,
      [userIds],
    );
    return rows.map((r) => r.family_id);
  } finally {
    await client.end();
  }
}
