/**
 * Friends, blocks and follows through GraphQL: sendFriendRequest, acceptFriendRequest,
 * declineFriendRequest, cancelFriendRequest, removeFriend, blockUser, unblockUser, followUser,
 * unfollowUser, and the User fields friendshipStatus, friends, followers, following,
 * viewerIsFollowing; Query.pendingFriendRequests.
 */
import type { TestAccount } from "../helpers/accounts.ts";
import { ok, refusal, startApi, type Api } from "../helpers/api.ts";

let api: Api;
beforeAll(async () => {
  api = await startApi();
});
afterAll(() => api.close());

const SEND = `mutation ($id: UUID!) { sendFriendRequest(input: { userId: $id }) { friendship { status requesterId addresseeId } } }`;
const ACCEPT = `mutation ($id: UUID!) { acceptFriendRequest(input: { userId: $id }) { friendship { status } } }`;
const DECLINE = `mutation ($id: UUID!) { declineFriendRequest(input: { userId: $id }) { success } }`;
const CANCEL = `mutation ($id: UUID!) { cancelFriendRequest(input: { userId: $id }) { success } }`;
const REMOVE = `mutation ($id: UUID!) { removeFriend(input: { userId: $id }) { success } }`;
const BLOCK = `mutation ($id: UUID!) { blockUser(input: { userId: $id }) { success } }`;
const UNBLOCK = `mutation ($id: UUID!) { unblockUser(input: { userId: $id }) { success } }`;
const FOLLOW = `mutation ($id: UUID!) { followUser(input: { userId: $id }) { follower { followerId followingId } } }`;
const UNFOLLOW = `mutation ($id: UUID!) { unfollowUser(input: { userId: $id }) { success } }`;
const STATUS = `query ($id: UUID!) { user(id: $id) { friendshipStatus viewerIsFollowing } }`;

async function statusBetween(viewer: TestAccount, other: TestAccount): Promise<unknown> {
  return ok<{ user: { friendshipStatus: string } | null }>(
    await api.as(viewer)(STATUS, { id: other.id }),
  ).user?.friendshipStatus;
}

async function pair(): Promise<[TestAccount, TestAccount]> {
  return [await api.register(), await api.register()];
}

describe("friend requests", () => {
  it("go from request to friendship, seen from both sides", async () => {
    const [ana, ben] = await pair();
    const sent = ok<{ sendFriendRequest: { friendship: Record<string, unknown> } }>(
      await api.as(ana)(SEND, { id: ben.id }),
    );
    expect(sent.sendFriendRequest.friendship).toEqual({
      status: "pending",
      requesterId: ana.id,
      addresseeId: ben.id,
    });
    expect(await statusBetween(ana, ben)).toBe("REQUEST_SENT");
    expect(await statusBetween(ben, ana)).toBe("REQUEST_RECEIVED");

    const pending = ok<{ pendingFriendRequests: { nodes: { requester: { id: string } }[] } }>(
      await api.as(ben)(`{ pendingFriendRequests { nodes { requester { id } } } }`),
    );
    expect(pending.pendingFriendRequests.nodes).toEqual([{ requester: { id: ana.id } }]);

    expect(ok(await api.as(ben)(ACCEPT, { id: ana.id }))).toEqual({
      acceptFriendRequest: { friendship: { status: "accepted" } },
    });
    expect(await statusBetween(ana, ben)).toBe("FRIENDS");
    const friends = ok<{ user: { friends: { nodes: { id: string }[] }; friendCount: number } }>(
      await api.as(ana)(
        `query ($id: UUID!) { user(id: $id) { friends { nodes { id } } friendCount } }`,
        { id: ben.id },
      ),
    );
    expect(friends.user).toEqual({ friends: { nodes: [{ id: ana.id }] }, friendCount: 1 });
  });

  it("is idempotent: sending twice leaves one pending request", async () => {
    const [ana, ben] = await pair();
    ok(await api.as(ana)(SEND, { id: ben.id }));
    ok(await api.as(ana)(SEND, { id: ben.id }));
    const rows = await api.sql(
      `select status from app_public.friendships where requester_id = $1 and addressee_id = $2`,
      [ana.id, ben.id],
    );
    expect(rows).toEqual([{ status: "pending" }]);
  });

  it("accepts theirs when you send a request to someone who already asked you", async () => {
    const [ana, ben] = await pair();
    ok(await api.as(ana)(SEND, { id: ben.id }));
    const back = ok<{ sendFriendRequest: { friendship: { status: string } } }>(
      await api.as(ben)(SEND, { id: ana.id }),
    );
    expect(back.sendFriendRequest.friendship.status).toBe("accepted");
    expect(
      await api.sql(
        `select count(*)::int as n from app_public.friendships where $1 in (requester_id, addressee_id)`,
        [ana.id],
      ),
    ).toEqual([{ n: 1 }]);
  });

  it("can be declined by the addressee and cancelled by the requester, and not the other way round", async () => {
    const [ana, ben] = await pair();
    ok(await api.as(ana)(SEND, { id: ben.id }));
    expect(refusal(await api.as(ana)(DECLINE, { id: ben.id }))).toEqual({
      code: "NOT_FOUND",
      field: "user_id",
    });
    expect(ok(await api.as(ben)(DECLINE, { id: ana.id }))).toEqual({
      declineFriendRequest: { success: true },
    });
    expect(await statusBetween(ana, ben)).toBe("NONE");

    ok(await api.as(ana)(SEND, { id: ben.id }));
    expect(refusal(await api.as(ben)(CANCEL, { id: ana.id }))).toEqual({
      code: "NOT_FOUND",
      field: "user_id",
    });
    expect(ok(await api.as(ana)(CANCEL, { id: ben.id }))).toEqual({
      cancelFriendRequest: { success: true },
    });
    expect(refusal(await api.as(ben)(ACCEPT, { id: ana.id }))).toEqual({
      code: "NOT_FOUND",
      field: "user_id",
    });
  });

  it("ends with removeFriend, from either side", async () => {
    const [ana, ben] = await pair();
    ok(await api.as(ana)(SEND, { id: ben.id }));
    ok(await api.as(ben)(ACCEPT, { id: ana.id }));
    expect(ok(await api.as(ben)(REMOVE, { id: ana.id }))).toEqual({
      removeFriend: { success: true },
    });
    expect(await statusBetween(ana, ben)).toBe("NONE");
    expect(refusal(await api.as(ana)(REMOVE, { id: ben.id }))).toEqual({
      code: "NOT_FOUND",
      field: "user_id",
    });
  });

  it("refuses yourself, unknown people, and anonymous callers", async () => {
    const ana = await api.register();
    expect(refusal(await api.as(ana)(SEND, { id: ana.id }))).toEqual({
      code: "INVALID_INPUT",
      field: "user_id",
    });
    expect(
      refusal(await api.as(ana)(SEND, { id: "00000000-0000-4000-8000-000000000000" })),
    ).toEqual({
      code: "NOT_FOUND",
      field: "user_id",
    });
    expect(refusal(await api.as(null)(SEND, { id: ana.id }))?.code).toBe("UNAUTHENTICATED");
  });
});

describe("blocking", () => {
  it("ends friendship and follows both ways and hides each from the other", async () => {
    const [ana, ben] = await pair();
    ok(await api.as(ana)(SEND, { id: ben.id }));
    ok(await api.as(ben)(ACCEPT, { id: ana.id }));
    ok(await api.as(ana)(FOLLOW, { id: ben.id }));
    ok(await api.as(ben)(FOLLOW, { id: ana.id }));

    expect(ok(await api.as(ana)(BLOCK, { id: ben.id }))).toEqual({ blockUser: { success: true } });
    expect(await statusBetween(ana, ben)).toBe("BLOCKED");
    // ben no longer sees ana at all
    expect(ok(await api.as(ben)(STATUS, { id: ana.id }))).toEqual({ user: null });
    expect(
      await api.sql(
        `select count(*)::int as n from app_public.followers where $1 in (follower_id, following_id)`,
        [ana.id],
      ),
    ).toEqual([{ n: 0 }]);
    expect(
      await api.sql(
        `select status from app_public.friendships where $1 in (requester_id, addressee_id)`,
        [ana.id],
      ),
    ).toEqual([{ status: "blocked" }]);
  });

  it("is idempotent, and refuses friend requests and follows across it", async () => {
    const [ana, ben] = await pair();
    ok(await api.as(ana)(BLOCK, { id: ben.id }));
    ok(await api.as(ana)(BLOCK, { id: ben.id }));
    expect(refusal(await api.as(ben)(SEND, { id: ana.id }))).toEqual({
      code: "NOT_FOUND",
      field: "user_id",
    });
    expect(refusal(await api.as(ben)(FOLLOW, { id: ana.id }))).toEqual({
      code: "NOT_FOUND",
      field: "user_id",
    });
    // the blocker still sees whom she blocked (to manage blocks) but must unblock first
    expect(refusal(await api.as(ana)(SEND, { id: ben.id }))).toEqual({
      code: "FORBIDDEN",
      field: "user_id",
    });
    expect(refusal(await api.as(ana)(FOLLOW, { id: ben.id }))).toEqual({
      code: "FORBIDDEN",
      field: "user_id",
    });
  });

  it("is lifted by the blocker only; nothing comes back by itself", async () => {
    const [ana, ben] = await pair();
    ok(await api.as(ana)(BLOCK, { id: ben.id }));
    expect(ok(await api.as(ben)(UNBLOCK, { id: ana.id }))).toEqual({
      unblockUser: { success: false },
    });
    expect(ok(await api.as(ana)(UNBLOCK, { id: ben.id }))).toEqual({
      unblockUser: { success: true },
    });
    expect(await statusBetween(ana, ben)).toBe("NONE");
    expect(await statusBetween(ben, ana)).toBe("NONE");
  });
});

describe("follows", () => {
  it("follow and unfollow idempotently; lists and counts follow", async () => {
    const [ana, ben] = await pair();
    ok(await api.as(ana)(FOLLOW, { id: ben.id }));
    ok(await api.as(ana)(FOLLOW, { id: ben.id }));
    const seen = ok<{ user: Record<string, unknown> }>(
      await api.as(ana)(
        `query ($id: UUID!) { user(id: $id) { viewerIsFollowing followerCount followers { nodes { id } } } }`,
        { id: ben.id },
      ),
    );
    expect(seen.user).toEqual({
      viewerIsFollowing: true,
      followerCount: 1,
      followers: { nodes: [{ id: ana.id }] },
    });
    const following = ok<{
      user: { following: { nodes: { id: string }[] }; followingCount: number };
    }>(
      await api.as(ben)(
        `query ($id: UUID!) { user(id: $id) { following { nodes { id } } followingCount } }`,
        { id: ana.id },
      ),
    );
    expect(following.user).toEqual({ following: { nodes: [{ id: ben.id }] }, followingCount: 1 });

    expect(ok(await api.as(ana)(UNFOLLOW, { id: ben.id }))).toEqual({
      unfollowUser: { success: true },
    });
    expect(ok(await api.as(ana)(UNFOLLOW, { id: ben.id }))).toEqual({
      unfollowUser: { success: false },
    });
    expect(
      ok<{ user: Record<string, unknown> }>(await api.as(ana)(STATUS, { id: ben.id })).user
        .viewerIsFollowing,
    ).toBe(false);
  });

  it("refuses following yourself", async () => {
    const ana = await api.register();
    expect(refusal(await api.as(ana)(FOLLOW, { id: ana.id }))).toEqual({
      code: "INVALID_INPUT",
      field: "user_id",
    });
  });

  it("hides a follower list entry across a block", async () => {
    const [ana, ben] = await pair();
    const cat = await api.register();
    ok(await api.as(cat)(FOLLOW, { id: ben.id }));
    ok(await api.as(ana)(BLOCK, { id: cat.id }));
    const list = ok<{ user: { followers: { nodes: unknown[] } } }>(
      await api.as(ana)(`query ($id: UUID!) { user(id: $id) { followers { nodes { id } } } }`, {
        id: ben.id,
      }),
    );
    expect(list.user.followers.nodes).toEqual([]);
  });
});

describe("acceptFriendRequest", () => {
  it("is idempotent: accepting again returns the friendship and changes nothing", async () => {
    const [ana, ben] = await pair();
    ok(await api.as(ana)(SEND, { id: ben.id }));
    ok(await api.as(ben)(ACCEPT, { id: ana.id }));
    const before = await api.sql(
      `select id, status, updated_at from app_public.friendships where $1 in (requester_id, addressee_id)`,
      [ana.id],
    );
    expect(ok(await api.as(ben)(ACCEPT, { id: ana.id }))).toEqual({
      acceptFriendRequest: { friendship: { status: "accepted" } },
    });
    // the requester "accepting" the friendship that exists is the same no-op
    expect(ok(await api.as(ana)(ACCEPT, { id: ben.id }))).toEqual({
      acceptFriendRequest: { friendship: { status: "accepted" } },
    });
    expect(
      await api.sql(
        `select id, status, updated_at from app_public.friendships where $1 in (requester_id, addressee_id)`,
        [ana.id],
      ),
    ).toEqual(before);
  });

  it("refuses the requester accepting their own pending request", async () => {
    const [ana, ben] = await pair();
    ok(await api.as(ana)(SEND, { id: ben.id }));
    expect(refusal(await api.as(ana)(ACCEPT, { id: ben.id }))).toEqual({
      code: "NOT_FOUND",
      field: "user_id",
    });
    expect(await statusBetween(ana, ben)).toBe("REQUEST_SENT");
  });
});

describe("User.friends", () => {
  const FRIENDS = `query ($id: UUID!) { user(id: $id) { id friends { nodes { id } } } }`;
  const friendsOf = async (viewer: TestAccount, owner: TestAccount): Promise<string[]> => {
    const data = ok<{ user: { friends: { nodes: { id: string }[] } } | null }>(
      await api.as(viewer)(FRIENDS, { id: owner.id }),
    );
    expect(data.user).not.toBeNull(); // the card is visible: only the list is withheld
    return data.user!.friends.nodes.map((n) => n.id);
  };
  const befriend = async (a: TestAccount, b: TestAccount) => {
    ok(await api.as(a)(SEND, { id: b.id }));
    ok(await api.as(b)(ACCEPT, { id: a.id }));
  };
  const setPrivacy = async (who: TestAccount, level: string) => {
    ok(
      await api.as(who)(
        `mutation ($id: UUID!, $p: String!) { updateUserProfileByUserId(input: { userId: $id, patch: { privacyLevel: $p } }) { userProfile { privacyLevel } } }`,
        { id: who.id, p: level },
      ),
    );
  };

  it("of a friends-only profile: seen by the owner and their friends, not by strangers", async () => {
    const [ana, ben] = await pair();
    const cat = await api.register();
    await befriend(ana, ben);
    await setPrivacy(ana, "friends");
    expect(await friendsOf(ana, ana)).toEqual([ben.id]);
    expect(await friendsOf(ben, ana)).toEqual([ben.id]);
    expect(await friendsOf(cat, ana)).toEqual([]);
    // ben's profile is public: his list, which shows ana, is seen by everyone
    expect(await friendsOf(cat, ben)).toEqual([ana.id]);
  });

  it("of a private profile: seen by the owner only, not even by their friends", async () => {
    const [dan, ben] = await pair();
    const cat = await api.register();
    await befriend(dan, ben);
    await setPrivacy(dan, "private");
    expect(await friendsOf(dan, dan)).toEqual([ben.id]);
    expect(await friendsOf(ben, dan)).toEqual([]);
    expect(await friendsOf(cat, dan)).toEqual([]);
    // the friend's own public list still shows the friendship: it is theirs to show
    expect(await friendsOf(cat, ben)).toEqual([dan.id]);
    // going public shows it to everyone
    await setPrivacy(dan, "public");
    expect(await friendsOf(cat, dan)).toEqual([ben.id]);
  });
});
