/**
 * The rules that used to live only in the custom mutations hold for the generated CRUD
 * mutations too (triggers, constraints and policies of migration 0006), through GraphQL as a
 * client would write them: blocking, group admins and moderators, deleted messages, media and
 * content, replies, group conversations across a block, and the account deletion audit.
 */
import type { TestAccount } from "../helpers/accounts.ts";
import { ok, refusal, startApi, type Api } from "../helpers/api.ts";

let api: Api;
beforeAll(async () => {
  api = await startApi();
});
afterAll(() => api.close());

const pair = async (): Promise<[TestAccount, TestAccount]> => [
  await api.register(),
  await api.register(),
];

describe("blocking through the generated createFriendship", () => {
  const SEND = `mutation ($id: UUID!) { sendFriendRequest(input: { userId: $id }) { friendship { status } } }`;
  const ACCEPT = `mutation ($id: UUID!) { acceptFriendRequest(input: { userId: $id }) { friendship { status } } }`;
  const FOLLOW = `mutation ($id: UUID!) { followUser(input: { userId: $id }) { follower { id } } }`;
  const BLOCK = `mutation ($r: UUID!, $a: UUID!) {
    createFriendship(input: { friendship: { requesterId: $r, addresseeId: $a, status: "blocked" } }) { friendship { status } }
  }`;
  const pairRows = (a: TestAccount, b: TestAccount) =>
    api.sql<{ status: string; requester_id: string }>(
      `select status, requester_id from app_public.friendships
        where (requester_id = $1 and addressee_id = $2) or (requester_id = $2 and addressee_id = $1)`,
      [a.id, b.id],
    );
  const follows = (a: TestAccount, b: TestAccount) =>
    api.sql(
      `select 1 from app_public.followers
        where (follower_id = $1 and following_id = $2) or (follower_id = $2 and following_id = $1)`,
      [a.id, b.id],
    );

  it("ends the friendship and the follows both ways, like blockUser", async () => {
    const [ana, ben] = await pair();
    ok(await api.as(ana)(SEND, { id: ben.id }));
    ok(await api.as(ben)(ACCEPT, { id: ana.id }));
    ok(await api.as(ana)(FOLLOW, { id: ben.id }));
    ok(await api.as(ben)(FOLLOW, { id: ana.id }));

    expect(ok(await api.as(ana)(BLOCK, { r: ana.id, a: ben.id }))).toEqual({
      createFriendship: { friendship: { status: "blocked" } },
    });
    expect(await pairRows(ana, ben)).toEqual([{ status: "blocked", requester_id: ana.id }]);
    expect(await follows(ana, ben)).toEqual([]);
  });

  it("replaces the blocker's own pending request (which would otherwise collide with the block)", async () => {
    const [ana, ben] = await pair();
    ok(await api.as(ana)(SEND, { id: ben.id }));
    ok(await api.as(ana)(BLOCK, { r: ana.id, a: ben.id }));
    expect(await pairRows(ana, ben)).toEqual([{ status: "blocked", requester_id: ana.id }]);
  });

  it("cleans up however the block is written, also by the owner turning a friendship into a block", async () => {
    const [ana, ben] = await pair();
    ok(await api.as(ana)(SEND, { id: ben.id }));
    ok(await api.as(ben)(ACCEPT, { id: ana.id }));
    ok(await api.as(ben)(FOLLOW, { id: ana.id }));
    await api.sql(
      `update app_public.friendships set status = 'blocked', requester_id = $1, addressee_id = $2
        where (requester_id = $1 and addressee_id = $2) or (requester_id = $2 and addressee_id = $1)`,
      [ben.id, ana.id],
    );
    expect(await pairRows(ana, ben)).toEqual([{ status: "blocked", requester_id: ben.id }]);
    expect(await follows(ana, ben)).toEqual([]);
  });

  it("still lets the other side block too (two blocks, one per blocker)", async () => {
    const [ana, ben] = await pair();
    ok(await api.as(ana)(BLOCK, { r: ana.id, a: ben.id }));
    ok(await api.as(ben)(BLOCK, { r: ben.id, a: ana.id }));
    expect((await pairRows(ana, ben)).map((r) => r.status)).toEqual(["blocked", "blocked"]);
  });
});

describe("group members through the generated updateGroupMember and deleteGroupMember", () => {
  const CREATE_GROUP = `mutation { createGroup(input: { name: "Climbers" }) { group { id } } }`;
  const JOIN = `mutation ($g: UUID!) { joinGroup(input: { groupId: $g }) { groupMember { id } } }`;
  const ROLE = `mutation ($g: UUID!, $u: UUID!, $r: String!) { setGroupMemberRole(input: { groupId: $g, userId: $u, role: $r }) { groupMember { role } } }`;
  const UPDATE = `mutation ($id: UUID!, $patch: GroupMemberPatch!) { updateGroupMember(input: { id: $id, patch: $patch }) { groupMember { role status } } }`;
  const DELETE = `mutation ($id: UUID!) { deleteGroupMember(input: { id: $id }) { groupMember { id } } }`;

  async function group(): Promise<{ g: string; admin: TestAccount; mod: TestAccount; member: TestAccount }> {
    const [admin, mod, member] = [await api.register(), await api.register(), await api.register()];
    const g = ok<{ createGroup: { group: { id: string } } }>(await api.as(admin)(CREATE_GROUP)).createGroup.group.id;
    ok(await api.as(mod)(JOIN, { g }));
    ok(await api.as(member)(JOIN, { g }));
    ok(await api.as(admin)(ROLE, { g, u: mod.id, r: "moderator" }));
    return { g, admin, mod, member };
  }
  const row = async (g: string, who: TestAccount) =>
    (
      await api.sql<{ id: string; role: string; status: string }>(
        `select id, role, status from app_public.group_members where group_id = $1 and user_id = $2`,
        [g, who.id],
      )
    )[0];

  it("lets a moderator ban and remove plain members, never an admin", async () => {
    const { g, admin, mod, member } = await group();
    const adminRow = (await row(g, admin))!;
    expect(refusal(await api.as(mod)(UPDATE, { id: adminRow.id, patch: { status: "banned" } }))).toMatchObject({
      code: "NOT_FOUND",
    });
    expect(refusal(await api.as(mod)(DELETE, { id: adminRow.id }))).toMatchObject({ code: "NOT_FOUND" });
    expect(await row(g, admin)).toMatchObject({ role: "admin", status: "active" });

    const memberRow = (await row(g, member))!;
    expect(ok(await api.as(mod)(UPDATE, { id: memberRow.id, patch: { status: "banned" } }))).toEqual({
      updateGroupMember: { groupMember: { role: "member", status: "banned" } },
    });
  });

  it("lets a moderator act on neither another moderator nor a member's role", async () => {
    const { g, admin, mod, member } = await group();
    ok(await api.as(admin)(ROLE, { g, u: member.id, r: "moderator" }));
    const other = (await row(g, member))!;
    expect(refusal(await api.as(mod)(UPDATE, { id: other.id, patch: { status: "banned" } }))).toMatchObject({
      code: "NOT_FOUND",
    });
    expect(refusal(await api.as(mod)(DELETE, { id: other.id }))).toMatchObject({ code: "NOT_FOUND" });
  });

  it("keeps the last admin: no leaving, stepping down or removal while others remain, by any path", async () => {
    const { g, admin, mod } = await group();
    const adminRow = (await row(g, admin))!;
    expect(refusal(await api.as(admin)(DELETE, { id: adminRow.id }))).toMatchObject({ code: "CONFLICT" });
    await expect(
      api.sql(`update app_public.group_members set role = 'member' where id = $1`, [adminRow.id]),
    ).rejects.toMatchObject({ code: "CNFLT" });
    await expect(
      api.sql(`update app_public.group_members set status = 'banned' where id = $1`, [adminRow.id]),
    ).rejects.toMatchObject({ code: "CNFLT" });

    // with a second admin, the first may go; then the second is the last
    ok(await api.as(admin)(ROLE, { g, u: mod.id, r: "admin" }));
    expect(ok(await api.as(mod)(UPDATE, { id: adminRow.id, patch: { status: "banned" } }))).toEqual({
      updateGroupMember: { groupMember: { role: "admin", status: "banned" } },
    });
    const modRow = (await row(g, mod))!;
    expect(refusal(await api.as(mod)(DELETE, { id: modRow.id }))).toMatchObject({ code: "CONFLICT" });
  });

  it("still deletes a group, and the account of its last admin, with their memberships", async () => {
    const first = await group();
    ok(await api.as(first.admin)(`mutation ($id: UUID!) { deleteGroup(input: { id: $id }) { group { id } } }`, { id: first.g }));
    expect(await api.sql(`select 1 from app_public.group_members where group_id = $1`, [first.g])).toEqual([]);

    // the creator hands over and leaves; the new admin, the last one, deletes their account
    const second = await group();
    ok(await api.as(second.admin)(ROLE, { g: second.g, u: second.mod.id, r: "admin" }));
    ok(await api.as(second.admin)(DELETE, { id: (await row(second.g, second.admin))!.id }));
    // (accounts are deleted by the erasure job, as the owner: app_private.erase_account)
    await api.sql(`delete from app_public.users where id = $1`, [second.mod.id]);
    expect(await row(second.g, second.mod)).toBeUndefined();
    expect(await row(second.g, second.member)).toMatchObject({ role: "member", status: "active" });
  });
});

describe("messages through the generated createMessage and updateMessage", () => {
  const START = `mutation ($id: UUID!) { startDirectConversation(input: { userId: $id }) { conversation { id } } }`;
  const SEND = `mutation ($c: UUID!, $t: String) { sendMessage(input: { conversationId: $c, content: $t }) { message { id } } }`;
  const DELETE = `mutation ($id: UUID!) { deleteMessage(input: { messageId: $id }) { message { isDeleted content } } }`;
  const UPDATE = `mutation ($id: UUID!, $patch: MessagePatch!) { updateMessage(input: { id: $id, patch: $patch }) { message { isDeleted content deletedAt } } }`;
  const CREATE = `mutation ($c: UUID!, $s: UUID!, $t: String, $m: String) {
    createMessage(input: { message: { conversationId: $c, senderId: $s, content: $t, mediaUrl: $m } }) { message { id } }
  }`;

  async function conversation(): Promise<{ c: string; ana: TestAccount }> {
    const [ana, ben] = await pair();
    const c = ok<{ startDirectConversation: { conversation: { id: string } } }>(
      await api.as(ana)(START, { id: ben.id }),
    ).startDirectConversation.conversation.id;
    return { c, ana };
  }

  it("never un-deletes a deleted message, nor gives it content again", async () => {
    const { c, ana } = await conversation();
    const id = ok<{ sendMessage: { message: { id: string } } }>(await api.as(ana)(SEND, { c, t: "oops" })).sendMessage
      .message.id;
    ok(await api.as(ana)(DELETE, { id }));
    expect(refusal(await api.as(ana)(UPDATE, { id, patch: { isDeleted: false, content: "back" } }))).toMatchObject({
      code: "CONFLICT",
    });
    expect(refusal(await api.as(ana)(UPDATE, { id, patch: { content: "sneaky" } }))).toMatchObject({ code: "CONFLICT" });
    expect(await api.sql(`select is_deleted, content from app_public.messages where id = $1`, [id])).toEqual([
      { is_deleted: true, content: null },
    ]);
  });

  it("clears the content of a message deleted through updateMessage, as deleteMessage does", async () => {
    const { c, ana } = await conversation();
    const id = ok<{ sendMessage: { message: { id: string } } }>(await api.as(ana)(SEND, { c, t: "secret" }))
      .sendMessage.message.id;
    const out = ok<{ updateMessage: { message: { isDeleted: boolean; content: string | null; deletedAt: string } } }>(
      await api.as(ana)(UPDATE, { id, patch: { isDeleted: true } }),
    );
    expect(out.updateMessage.message).toEqual({ isDeleted: true, content: null, deletedAt: expect.any(String) });
  });

  it("needs some text or a file", async () => {
    const { c, ana } = await conversation();
    expect(refusal(await api.as(ana)(CREATE, { c, s: ana.id, t: "   " }))).toEqual({
      code: "INVALID_INPUT",
      field: "content",
    });
    expect(refusal(await api.as(ana)(CREATE, { c, s: ana.id }))).toEqual({ code: "INVALID_INPUT", field: "content" });
    ok(await api.as(ana)(CREATE, { c, s: ana.id, m: "https://cdn.test/cat.jpg" }));
    ok(await api.as(ana)(CREATE, { c, s: ana.id, t: "hi" }));
  });
});

describe("posts, media and comments through the generated mutations", () => {
  const CREATE_POST = `mutation ($a: UUID!, $t: String!) { createPost(input: { post: { authorId: $a, content: $t } }) { post { id } } }`;
  const ADD_MEDIA = `mutation ($p: UUID!, $i: Int) {
    createPostMedia(input: { postMedia: { postId: $p, mediaType: "image", mediaUrl: "https://cdn.test/a.jpg", orderIndex: $i } }) { postMedia { id } }
  }`;
  const DELETE_MEDIA = `mutation ($id: UUID!) { deletePostMedia(input: { id: $id }) { postMedia { id } } }`;
  const PUBLISH = `mutation ($input: PublishPostInput!) { publishPost(input: $input) { post { id } } }`;
  const COMMENT = `mutation ($p: UUID!, $a: UUID!, $parent: UUID, $t: String!) {
    createComment(input: { comment: { postId: $p, authorId: $a, parentCommentId: $parent, content: $t } }) { comment { id parentCommentId } }
  }`;

  it("refuses an eleventh media file", async () => {
    const ana = await api.register();
    const p = ok<{ createPost: { post: { id: string } } }>(await api.as(ana)(CREATE_POST, { a: ana.id, t: "album" }))
      .createPost.post.id;
    for (let i = 0; i < 10; i++) ok(await api.as(ana)(ADD_MEDIA, { p, i }));
    expect(refusal(await api.as(ana)(ADD_MEDIA, { p, i: 10 }))).toEqual({ code: "INVALID_INPUT", field: "media" });
    expect(await api.sql(`select count(*)::int as n from app_public.post_media where post_id = $1`, [p])).toEqual([
      { n: 10 },
    ]);
  });

  it("refuses a post with neither text nor media, and the removal of an empty post's last media", async () => {
    const ana = await api.register();
    expect(refusal(await api.as(ana)(CREATE_POST, { a: ana.id, t: " " }))).toEqual({
      code: "INVALID_INPUT",
      field: "content",
    });
    expect(await api.sql(`select 1 from app_public.posts where author_id = $1`, [ana.id])).toEqual([]);

    // publishPost writes the post first and its media after: checked at commit, so it works
    const p = ok<{ publishPost: { post: { id: string } } }>(
      await api.as(ana)(PUBLISH, {
        input: { content: "", media: [{ mediaType: "image", mediaUrl: "https://cdn.test/only.jpg" }] },
      }),
    ).publishPost.post.id;
    const [media] = await api.sql<{ id: string }>(`select id from app_public.post_media where post_id = $1`, [p]);
    expect(refusal(await api.as(ana)(DELETE_MEDIA, { id: media!.id }))).toEqual({ code: "INVALID_INPUT", field: "content" });
    expect(await api.sql(`select 1 from app_public.post_media where id = $1`, [media!.id])).toHaveLength(1);
  });

  it("attaches a reply to a reply to the top comment, as addComment does", async () => {
    const ana = await api.register();
    const p = ok<{ createPost: { post: { id: string } } }>(await api.as(ana)(CREATE_POST, { a: ana.id, t: "thread" }))
      .createPost.post.id;
    type Out = { createComment: { comment: { id: string; parentCommentId: string | null } } };
    const top = ok<Out>(await api.as(ana)(COMMENT, { p, a: ana.id, t: "top" })).createComment.comment;
    const reply = ok<Out>(await api.as(ana)(COMMENT, { p, a: ana.id, parent: top.id, t: "reply" })).createComment
      .comment;
    const nested = ok<Out>(await api.as(ana)(COMMENT, { p, a: ana.id, parent: reply.id, t: "reply to reply" }))
      .createComment.comment;
    expect(reply.parentCommentId).toBe(top.id);
    expect(nested.parentCommentId).toBe(top.id);
  });
});

describe("group conversations across a block", () => {
  const CREATE = `mutation ($ids: [UUID]!) { createGroupConversation(input: { title: "Trip", participantIds: $ids }) { conversation { id } } }`;
  const ADD = `mutation ($c: UUID!, $ids: [UUID]!) { addConversationParticipants(input: { conversationId: $c, userIds: $ids }) { conversation { id } } }`;
  const BLOCK = `mutation ($id: UUID!) { blockUser(input: { userId: $id }) { success } }`;

  it("refuses the same way in createGroupConversation and addConversationParticipants", async () => {
    const [ana, ben] = await pair();
    const [cid, dan] = await pair();
    ok(await api.as(ana)(BLOCK, { id: ben.id })); // ana blocked ben
    ok(await api.as(cid)(BLOCK, { id: ana.id })); // cid blocked ana

    expect(refusal(await api.as(ana)(CREATE, { ids: [dan.id, ben.id] }))).toEqual({
      code: "FORBIDDEN",
      field: "participant_ids",
    });
    expect(refusal(await api.as(ana)(CREATE, { ids: [dan.id, cid.id] }))).toEqual({
      code: "NOT_FOUND",
      field: "participant_ids",
    });

    const c = ok<{ createGroupConversation: { conversation: { id: string } } }>(
      await api.as(ana)(CREATE, { ids: [dan.id] }),
    ).createGroupConversation.conversation.id;
    expect(refusal(await api.as(ana)(ADD, { c, ids: [ben.id] }))).toEqual({ code: "FORBIDDEN", field: "user_ids" });
    expect(refusal(await api.as(ana)(ADD, { c, ids: [cid.id] }))).toEqual({ code: "NOT_FOUND", field: "user_ids" });
    expect(
      (await api.sql<{ user_id: string }>(`select user_id from app_public.conversation_participants where conversation_id = $1`, [c]))
        .map((r) => r.user_id)
        .sort(),
    ).toEqual([ana.id, dan.id].sort());
  });
});

describe("account deletion", () => {
  it("is audited with the client address and user agent of the request", async () => {
    const ana = await api.register();
    const { body } = await api.server.graphql(
      `mutation ($p: String!) { requestAccountDeletion(input: { password: $p }) { success } }`,
      { p: ana.password },
      { token: ana.accessToken, headers: { "user-agent": "crud-rules-test/1.0" } },
    );
    expect(body.errors).toBeUndefined();
    expect(
      await api.sql(
        `select host(ip) is not null as has_ip, user_agent, details->>'stage' as stage
           from app_private.audit_log where user_id = $1 and action = 'account_deletion'`,
        [ana.id],
      ),
    ).toEqual([{ has_ip: true, user_agent: "crud-rules-test/1.0", stage: "requested" }]);
  });
});
