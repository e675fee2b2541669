/**
 * The benchmark's peer: PostGraphile 4 (its CLI, from the npm alias `postgraphile4`) on the
 * same database, roles and row-level security as our PostGraphile 5 API, with PG4's own field
 * names.
 *
 * - installPg4Peer applies bench/peer/pg4.sql (schema bench_pg4: home_feed(n), which V5 has as a
 *   TypeScript plugin);
 * - startPostGraphile4 runs the CLI as a child process (Node 24: process.execPath), connected as
 *   the authenticator, in this folder so it reads postgraphile.tags.json5 (the smart tags that
 *   PG4 reads differently from V5);
 * - pg4Token signs what PG4 verifies: role `authenticated`, `user_id` (PG4 sets
 *   jwt.claims.user_id, which app_public.current_user_id() reads), audience `postgraphile`;
 * - PG4_SCENARIOS are the read scenarios, aliased to V5's field names so a response has the
 *   same shape as V5's (`post: postById(...)`, `comments: commentsByPostId(...)`, ...).
 */
import { spawn, type ChildProcess } from "node:child_process";
import { readFile } from "node:fs/promises";
import { createRequire } from "node:module";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";

import jwt from "jsonwebtoken";
import pg from "pg";

export type ScenarioName =
  | "feed_page1"
  | "feed_page50"
  | "post_detail"
  | "conversations_list"
  | "conversation_messages"
  | "profile"
  | "search_posts"
  | "search_users";

export interface Fixture {
  postId: string;
  conversationId: string;
  profileUserId: string;
  term: string;
}

export interface Pg4Server {
  /** http://127.0.0.1:PORT/graphql */
  url: string;
  /** The PG4 process (for CPU and memory readings). */
  pid: number;
  /** Stops the PG4 process (SIGTERM, then SIGKILL after 5 s). */
  close(): Promise<void>;
}

export interface Pg4Scenario {
  query: string;
  variables(f: Fixture): Record<string, unknown>;
}

const HERE = path.dirname(fileURLToPath(import.meta.url));

/** The schemas PG4 exposes: the API's, and bench_pg4 for homeFeed. */
export const PG4_SCHEMAS = ["app_public", "bench_pg4"] as const;

/** Applies bench/peer/pg4.sql (idempotent) as the owner: whatever PG4 needs that the schema lacks. */
export async function installPg4Peer(ownerUrl: string): Promise<void> {
  const sql = await readFile(path.join(HERE, "pg4.sql"), "utf8");
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    await client.query(sql);
  } finally {
    await client.end();
  }
}

/** The PG4 CLI's arguments (exported so the exact invocation can be printed). */
export function pg4CliArgs(o: { authUrl: string; port: number; jwtSecret: string }): string[] {
  return [
    "--connection",
    o.authUrl,
    "--schema",
    PG4_SCHEMAS.join(","),
    "--default-role",
    "anonymous",
    "--jwt-secret",
    o.jwtSecret,
    "--host",
    "127.0.0.1",
    "--port",
    String(o.port),
    // As V5's authenticator pool (src/server.ts).
    "--max-pool-size",
    "10",
    // V5's pgForbidSetofFunctionsToReturnNull.
    "--no-setof-functions-contain-nulls",
    // Only the one-to-one relation shapes (no deprecated duplicates).
    "--legacy-relations",
    "omit",
    // No generated CRUD mutations (the read benchmark needs none, and several would clash with
    // the API's own function mutations: createEvent, deletePost, ...). Function mutations stay.
    "--disable-default-mutations",
    // The CLI otherwise prints every query to stdout.
    "--disable-query-log",
    "--disable-graphiql",
  ];
}

function cliPath(): string {
  return createRequire(import.meta.url).resolve("postgraphile4/cli.js");
}

/** The installed PostGraphile 4 version (the `postgraphile4` npm alias), e.g. "4.14.1". */
export function pg4Version(): string {
  const require = createRequire(import.meta.url);
  return (require("postgraphile4/package.json") as { version: string }).version;
}

/** A bounded tail of the child's output, for error messages. */
class OutputTail {
  private text = "";
  add(chunk: Buffer | string): void {
    this.text = (this.text + chunk.toString()).slice(-8000);
  }
  toString(): string {
    return this.text.trim();
  }
}

async function answers(url: string): Promise<boolean> {
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ query: "{ __typename }" }),
      signal: AbortSignal.timeout(2000),
    });
    if (!res.ok) return false;
    const body = (await res.json()) as { data?: { __typename?: string } };
    return body.data?.__typename === "Query";
  } catch {
    return false;
  }
}

function waitForExit(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    child.once("exit", () => {
      clearTimeout(timer);
      resolve(true);
    });
  });
}

/** Spawns the PG4 CLI (child process, Node 24 via process.execPath) and resolves once it answers. */
export async function startPostGraphile4(o: {
  authUrl: string;
  port: number;
  jwtSecret: string;
  /** How long to wait for the schema to build and the server to answer (default 60 s). */
  timeoutMs?: number;
}): Promise<Pg4Server> {
  const url = `http://127.0.0.1:${o.port}/graphql`;
  if (await answers(url)) throw new Error(`something already answers GraphQL at ${url}`);
  const output = new OutputTail();
  const dedupe = pathToFileURL(path.join(HERE, "pg4-dedupe.ts")).href;
  const child = spawn(process.execPath, ["--import", dedupe, cliPath(), ...pg4CliArgs(o)], {
    cwd: HERE, // postgraphile.tags.json5 is read from the working directory
    stdio: ["ignore", "pipe", "pipe"],
    env: process.env,
  });
  child.stdout?.on("data", (c: Buffer) => output.add(c));
  child.stderr?.on("data", (c: Buffer) => output.add(c));
  let exited = false;
  // Never leave PG4 running after this process, even without close().
  const killOnExit = (): void => {
    child.kill("SIGKILL");
  };
  process.once("exit", killOnExit);
  child.once("exit", () => {
    exited = true;
    process.removeListener("exit", killOnExit);
  });
  child.once("error", (error) => {
    output.add(`\n${error.message}`);
    exited = true;
    process.removeListener("exit", killOnExit);
  });

  const close = async (): Promise<void> => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    child.kill("SIGTERM");
    if (!(await waitForExit(child, 5000))) {
      child.kill("SIGKILL");
      await waitForExit(child, 5000);
    }
  };

  const deadline = Date.now() + (o.timeoutMs ?? 60_000);
  while (!(await answers(url))) {
    if (exited) {
      throw new Error(
        `PostGraphile 4 exited (code ${child.exitCode}) before answering:\n${output}`,
      );
    }
    if (Date.now() > deadline) {
      await close();
      throw new Error(`PostGraphile 4 did not answer at ${url} in time:\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 200));
  }
  if (child.pid === undefined) throw new Error("PostGraphile 4 has no process id");
  return { url, pid: child.pid, close };
}

/** A token PG4 accepts for this user (valid for a day). */
export function pg4Token(userId: string, jwtSecret: string): string {
  return jwt.sign({ role: "authenticated", user_id: userId }, jwtSecret, {
    algorithm: "HS256",
    audience: "postgraphile",
    expiresIn: "1d",
  });
}

const AUTHOR = "author { username displayName avatarUrl }";

const FEED_SELECTION = /* GraphQL */ `
  edges {
    cursor
    node {
      id content createdAt likesCount commentsCount
      author { id username displayName avatarUrl }
    }
  }
  pageInfo { hasNextPage endCursor }
`;

/**
 * The read scenarios in PG4's own field names, selecting the same data as the V5 queries, and
 * aliased to V5's names so the response JSON has V5's shape. Orders mirror V5's plugins:
 * comments and replies oldest first, messages and a user's posts newest first, by (createdAt, id).
 */
export const PG4_SCENARIOS: Record<ScenarioName, Pg4Scenario> = {
  feed_page1: {
    // n: the rows PG4's page needs from bench_pg4.home_feed (offset + first + 1)
    query: /* GraphQL */ `{ homeFeed(n: 21, first: 20) { ${FEED_SELECTION} } }`,
    variables: () => ({}),
  },
  feed_page50: {
    // Variables come from pg4FeedPage50Variables (a natural-order cursor: see there).
    query: /* GraphQL */ `query ($after: Cursor) {
      homeFeed(n: 1001, first: 20, after: $after) { ${FEED_SELECTION} }
    }`,
    variables: () => ({}),
  },
  post_detail: {
    query: /* GraphQL */ `query ($id: UUID!) {
      post: postById(id: $id) {
        id content likesCount viewerHasLiked ${AUTHOR}
        comments: commentsByPostId(
          first: 20, condition: { parentCommentId: null }, orderBy: [CREATED_AT_ASC, ID_ASC]
        ) {
          nodes {
            id content likesCount viewerHasLiked ${AUTHOR}
            replies: commentsByParentCommentId(first: 3, orderBy: [CREATED_AT_ASC, ID_ASC]) {
              nodes { id content likesCount viewerHasLiked ${AUTHOR} }
            }
          }
        }
      }
    }`,
    variables: (f) => ({ id: f.postId }),
  },
  conversations_list: {
    query: /* GraphQL */ `
      {
        myConversations(first: 20) {
          nodes {
            id
            title
            conversationType
            unreadCount
            lastMessage {
              content
              createdAt
              sender {
                username
              }
            }
          }
        }
      }
    `,
    variables: () => ({}),
  },
  conversation_messages: {
    query: /* GraphQL */ `
      query ($id: UUID!) {
        conversation: conversationById(id: $id) {
          id
          messages: messagesByConversationId(first: 50, orderBy: [CREATED_AT_DESC, ID_DESC]) {
            nodes {
              id
              content
              createdAt
              isDeleted
              sender {
                username
                displayName
              }
            }
          }
        }
      }
    `,
    variables: (f) => ({ id: f.conversationId }),
  },
  profile: {
    query: /* GraphQL */ `
      query ($id: UUID!) {
        user: userById(id: $id) {
          id
          username
          displayName
          avatarUrl
          profile {
            bio
            location
            website
          }
          friendshipStatus
          followerCount
          followingCount
          friendCount
          viewerIsFollowing
          posts: postsByAuthorId(
            first: 20
            condition: { deletedAt: null }
            orderBy: [CREATED_AT_DESC, ID_DESC]
          ) {
            nodes {
              id
              content
              createdAt
              likesCount
              commentsCount
            }
          }
        }
      }
    `,
    variables: (f) => ({ id: f.profileUserId }),
  },
  search_posts: {
    query: /* GraphQL */ `
      query ($q: String!) {
        searchPosts(query: $q, first: 20) {
          nodes {
            id
            content
            createdAt
            author {
              username
            }
          }
        }
      }
    `,
    variables: (f) => ({ q: f.term }),
  },
  search_users: {
    query: /* GraphQL */ `
      query ($q: String!) {
        searchUsers(query: $q, first: 20) {
          nodes {
            id
            username
            displayName
            avatarUrl
          }
        }
      }
    `,
    variables: (f) => ({ q: f.term }),
  },
};

export interface GraphQLResponse {
  data?: Record<string, unknown> | null;
  errors?: { message: string }[];
}

/** POSTs one GraphQL request to the peer; throws on an HTTP or GraphQL error. */
export async function pg4Request(
  server: Pg4Server,
  token: string | null,
  query: string,
  variables: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  const headers: Record<string, string> = { "content-type": "application/json" };
  if (token !== null) headers.authorization = `Bearer ${token}`;
  const res = await fetch(server.url, {
    method: "POST",
    headers,
    body: JSON.stringify({ query, variables }),
  });
  const text = await res.text();
  let body: GraphQLResponse;
  try {
    body = JSON.parse(text) as GraphQLResponse;
  } catch {
    throw new Error(
      `PostGraphile 4 answered HTTP ${res.status} with non-JSON: ${text.slice(0, 500)}`,
    );
  }
  if (body.errors && body.errors.length > 0) {
    throw new Error(
      `PostGraphile 4 GraphQL errors: ${body.errors.map((e) => e.message).join("; ")}`,
    );
  }
  if (!res.ok || !body.data)
    throw new Error(`PostGraphile 4 answered HTTP ${res.status}: ${text.slice(0, 500)}`);
  return body.data;
}

const FEED_CURSOR_QUERY = /* GraphQL */ `
  query ($after: Cursor) {
    homeFeed(n: 1001, first: 20, after: $after) {
      pageInfo {
        hasNextPage
        endCursor
      }
    }
  }
`;

interface FeedPageInfo {
  homeFeed: { pageInfo: { hasNextPage: boolean; endCursor: string | null } } | null;
}

/**
 * For feed_page50: the `after` cursor that makes PG4's feed query return items 981–1000 for this
 * user, obtained as a PG4 client would, by paging 49 times (20 at a time) from the start.
 *
 * homeFeed is a function connection without `orderBy` (the function's own order), so PG4's
 * cursors are `natural` ones: a row number. Paging `after` one is an OFFSET (PG4 computes all
 * earlier rows); the cursor is equivalent to `offset: 980`.
 */
export async function pg4FeedPage50Variables(
  server: Pg4Server,
  token: string,
): Promise<Record<string, unknown>> {
  let after: string | null = null;
  for (let page = 1; page <= 49; page++) {
    const data = (await pg4Request(server, token, FEED_CURSOR_QUERY, {
      after,
    })) as unknown as FeedPageInfo;
    const info = data.homeFeed?.pageInfo;
    if (!info?.hasNextPage || !info.endCursor) {
      throw new Error(`this user's PG4 home feed ends on page ${page}: fewer than 981 items`);
    }
    after = info.endCursor;
  }
  return { after };
}
