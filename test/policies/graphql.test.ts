/**
 * Row-level security as a client meets it: the same world, through the GraphQL API over HTTP,
 * with real access tokens.
 */
import { codeOf, openSessions } from "../helpers/accounts.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { buildWorld, type Person, type World } from "../helpers/world.ts";
import { tokenServiceFor } from "../../src/server.ts";

let db: TestDatabase;
let server: TestServer;
let world: World;
let tokenOf: (who: Person) => string;

beforeAll(async () => {
  db = await createTestDatabase();
  world = await buildWorld(db.ownerUrl);
  server = await startTestServer(db);
  const tokens = tokenServiceFor(server.config);
  const people = Object.keys(world.user) as Person[];
  const sessions = await openSessions(
    db.ownerUrl,
    people.map((p) => world.user[p]),
  );
  const sessionOf = new Map(people.map((p, i) => [p, sessions[i]!]));
  tokenOf = (who) => tokens.sign(world.user[who], sessionOf.get(who)!).token;
});
afterAll(async () => {
  await server.close();
  await db.drop();
});

const POSTS = `{ posts(first: 100) { nodes { id } } }`;
const idsOf = (data: unknown): string[] =>
  ((data as { posts: { nodes: { id: string }[] } }).posts.nodes.map((n) => n.id)).sort();
const rows = (...names: string[]): string[] => names.map((n) => world.row[n]!).sort();

describe("posts through GraphQL", () => {
  it("anonymous visitors get exactly the public posts outside private groups", async () => {
    const { body } = await server.graphql(POSTS);
    expect(idsOf(body.data)).toEqual(rows("post.public", "post.stan_public", "post.in_public_group"));
  });

  it("a friend also gets friends-only posts; the author also her private one; a member the group's", async () => {
    expect(idsOf((await server.graphql(POSTS, {}, { token: tokenOf("fred") })).body.data)).toEqual(
      rows("post.public", "post.friends", "post.stan_public", "post.in_public_group"),
    );
    expect(idsOf((await server.graphql(POSTS, {}, { token: tokenOf("olga") })).body.data)).toEqual(
      rows("post.public", "post.friends", "post.private", "post.stan_public", "post.in_public_group"),
    );
    expect(idsOf((await server.graphql(POSTS, {}, { token: tokenOf("mia") })).body.data)).toEqual(
      rows("post.public", "post.stan_public", "post.in_public_group", "post.in_private_group"),
    );
  });

  it("someone olga blocked gets none of hers", async () => {
    expect(idsOf((await server.graphql(POSTS, {}, { token: tokenOf("bob") })).body.data)).toEqual(
      rows("post.stan_public", "post.in_public_group"),
    );
  });

  it("a post you may not see is simply not there", async () => {
    const { body } = await server.graphql(`query ($id: UUID!) { post(id: $id) { id } }`, { id: world.row["post.friends"] }, {
      token: tokenOf("stan"),
    });
    expect(body).toEqual({ data: { post: null } });
  });
});

describe("people through GraphQL", () => {
  it("a post's author is a User card; the account behind it stays private", async () => {
    const { body } = await server.graphql(
      `query ($id: UUID!) { post(id: $id) { author { id username account { email } } } }`,
      { id: world.row["post.public"] },
      { token: tokenOf("stan") },
    );
    expect(body.data).toEqual({ post: { author: { id: world.user.olga, username: "olga", account: null } } });
  });

  it("hides people across a block", async () => {
    const { body } = await server.graphql(`query ($id: UUID!) { user(id: $id) { id } }`, { id: world.user.olga }, {
      token: tokenOf("bob"),
    });
    expect(body).toEqual({ data: { user: null } });
  });

  it("shows a profile by its privacy level", async () => {
    const query = `query ($id: UUID!) { userProfileByUserId(userId: $id) { username bio } }`;
    const asFred = await server.graphql(query, { id: world.user.olga }, { token: tokenOf("fred") });
    const asStan = await server.graphql(query, { id: world.user.olga }, { token: tokenOf("stan") });
    expect(asFred.body.data).toEqual({ userProfileByUserId: { username: "olga", bio: null } });
    expect(asStan.body.data).toEqual({ userProfileByUserId: null });
  });
});

describe("writes through GraphQL", () => {
  it("refuses anonymous writes with FORBIDDEN", async () => {
    const { body } = await server.graphql(
      `mutation ($a: UUID!) { createPost(input: { post: { authorId: $a, content: "hi" } }) { post { id } } }`,
      { a: world.user.olga },
    );
    expect(codeOf(body)).toBe("FORBIDDEN");
  });

  it("refuses writing as someone else with FORBIDDEN, and allows it as yourself", async () => {
    const create = `mutation ($a: UUID!) { createPost(input: { post: { authorId: $a, content: "hi" } }) { post { id author { username } } } }`;
    const forged = await server.graphql(create, { a: world.user.olga }, { token: tokenOf("fred") });
    expect(codeOf(forged.body)).toBe("FORBIDDEN");
    const own = await server.graphql(create, { a: world.user.fred }, { token: tokenOf("fred") });
    expect(own.body.data).toMatchObject({ createPost: { post: { author: { username: "fred" } } } });
  });

  it("lets only the recipient mark a notification read (a generated update of nothing answers NOT_FOUND)", async () => {
    const mark = `mutation ($id: UUID!) { updateNotification(input: { id: $id, patch: { isRead: true } }) { notification { isRead } } }`;
    const byFred = await server.graphql(mark, { id: world.row["notification.for_olga"] }, { token: tokenOf("fred") });
    expect(byFred.body.data).toEqual({ updateNotification: null });
    expect(byFred.body.errors?.[0]).toMatchObject({ extensions: { code: "NOT_FOUND" } });
    const byOlga = await server.graphql(mark, { id: world.row["notification.for_olga"] }, { token: tokenOf("olga") });
    expect(byOlga.body.data).toEqual({ updateNotification: { notification: { isRead: true } } });
  });

  it("answers a generated delete of something you may not delete with NOT_FOUND", async () => {
    const del = `mutation ($id: UUID!) { deleteNotification(input: { id: $id }) { notification { id } } }`;
    const byFred = await server.graphql(del, { id: world.row["notification.for_olga"] }, { token: tokenOf("fred") });
    expect(byFred.body.errors?.[0]).toMatchObject({ extensions: { code: "NOT_FOUND" } });
  });
});
