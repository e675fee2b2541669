/**
 * Two people asking each other at the same moment end as friends: sendFriendRequest both ways
 * at once, over HTTP, many times, always leaves exactly one `accepted` row and no error. The
 * generated createFriendship refuses a request to someone who already asked, with CONFLICT and
 * a pointer to acceptFriendRequest — never a FORBIDDEN that leaves the pair half done.
 */
import type { TestAccount } from "../helpers/accounts.ts";
import { ok, refusal, startApi, type Api } from "../helpers/api.ts";
import type { GraphQLBody } from "../helpers/server.ts";

const SEND = `mutation ($id: UUID!) { sendFriendRequest(input: { userId: $id }) { friendship { status } } }`;
const CREATE = `mutation ($r: UUID!, $a: UUID!) {
  createFriendship(input: { friendship: { requesterId: $r, addresseeId: $a, status: "pending" } }) { friendship { status } }
}`;
const ROUNDS = 25;
const PAIRS = 4;

let api: Api;
beforeAll(async () => {
  api = await startApi();
});
afterAll(() => api.close());

const pair = async (): Promise<[TestAccount, TestAccount]> =>
  Promise.all([api.register(), api.register()]);

const pairRows = (a: TestAccount, b: TestAccount) =>
  api.sql<{ status: string; requester_id: string }>(
    `select status, requester_id from app_public.friendships
      where (requester_id = $1 and addressee_id = $2) or (requester_id = $2 and addressee_id = $1)`,
    [a.id, b.id],
  );

const errorsOf = (bodies: GraphQLBody[]) => bodies.flatMap((b) => b.errors ?? []);

describe("sendFriendRequest both ways at once", () => {
  /** One pair asking each other at once; several pairs run side by side to widen the race. */
  async function askEachOther(): Promise<void> {
    const [ana, ben] = await pair();
    const bodies = await Promise.all([
      api.as(ana)(SEND, { id: ben.id }),
      api.as(ben)(SEND, { id: ana.id }),
    ]);
    expect(errorsOf(bodies)).toEqual([]);
    // the second one saw the first and accepted it
    expect(
      bodies
        .map((b) => ok<{ sendFriendRequest: { friendship: { status: string } } }>(b))
        .map((d) => d.sendFriendRequest.friendship.status),
    ).toContain("accepted");
    expect((await pairRows(ana, ben)).map((r) => r.status)).toEqual(["accepted"]);
  }

  it(`always ends in one accepted friendship and no error (${ROUNDS} rounds of ${PAIRS} pairs)`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      await Promise.all(Array.from({ length: PAIRS }, askEachOther));
    }
  });
});

describe("the generated createFriendship", () => {
  const CONFLICT = {
    code: "CONFLICT",
    field: "addressee_id",
  };

  it("refuses a request to someone who already asked, with CONFLICT, and their request stays", async () => {
    const [ana, ben] = await pair();
    ok(await api.as(ben)(SEND, { id: ana.id }));
    const body = await api.as(ana)(CREATE, { r: ana.id, a: ben.id });
    expect(refusal(body)).toEqual(CONFLICT);
    expect(body.errors?.[0]?.message).toMatch(/acceptFriendRequest/);
    expect(await pairRows(ana, ben)).toEqual([{ status: "pending", requester_id: ben.id }]);
  });

  it(`against sendFriendRequest at the same moment: friends, or a clear CONFLICT (${ROUNDS} rounds)`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const [ana, ben] = await pair();
      const [created, sent] = await Promise.all([
        api.as(ana)(CREATE, { r: ana.id, a: ben.id }),
        api.as(ben)(SEND, { id: ana.id }),
      ]);
      // sendFriendRequest never fails: it either asks first or accepts the request it finds
      expect(sent.errors).toBeUndefined();
      const rows = await pairRows(ana, ben);
      if (created.errors) {
        expect(refusal(created)).toEqual(CONFLICT);
        expect(rows).toEqual([{ status: "pending", requester_id: ben.id }]);
      } else {
        expect(rows.map((r) => r.status)).toEqual(["accepted"]);
      }
    }
  });

  it(`both ways at once: one request, the other told CONFLICT (${ROUNDS} rounds)`, async () => {
    for (let round = 0; round < ROUNDS; round++) {
      const [ana, ben] = await pair();
      const bodies = await Promise.all([
        api.as(ana)(CREATE, { r: ana.id, a: ben.id }),
        api.as(ben)(CREATE, { r: ben.id, a: ana.id }),
      ]);
      expect(bodies.map((b) => refusal(b)?.code ?? "OK").sort()).toEqual(["CONFLICT", "OK"]);
      expect((await pairRows(ana, ben)).map((r) => r.status)).toEqual(["pending"]);
    }
  });
});
