/** Accounts for tests, created the way clients create them: through register. */
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
