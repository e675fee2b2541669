/**
 * Posts, comments and likes through GraphQL: publishPost, editPost, deletePost, sharePost,
 * addComment, editComment, deleteComment, likePost, unlikePost, likeComment, unlikeComment,
 * and Post.comments, Comment.replies, Post.viewerHasLiked, Comment.viewerHasLiked, Post.likers.
 */
import type { TestAccount } from "../helpers/accounts.ts";
import { ok, refusal, startApi, type Api } from "../helpers/api.ts";

let api: Api;
let ana: TestAccount;
let ben: TestAccount;
let cat: TestAccount;

beforeAll(async () => {
  api = await startApi();
  [ana, ben, cat] = [await api.register(), await api.register(), await api.register()];
  // ana and ben are friends; cat is a stranger
  await api.sql(
    `insert into app_public.friendships (requester_id, addressee_id, status) values ($1, $2, 'accepted')`,
    [ana.id, ben.id],
  );
});
afterAll(() => api.close());

const PUBLISH = `mutation ($input: PublishPostInput!) {
  publishPost(input: $input) { post { id content postType privacyLevel author { id } media { nodes { mediaUrl orderIndex altText } } } }
}`;

async function publish(who: TestAccount, input: Record<string, unknown>): Promise<string> {
  return ok<{ publishPost: { post: { id: string } } }>(await api.as(who)(PUBLISH, { input }))
    .publishPost.post.id;
}

describe("publishPost", () => {
  it("creates the post and its media atomically, in the given order", async () => {
    const data = ok<{ publishPost: { post: Record<string, unknown> } }>(
      await api.as(ana)(PUBLISH, {
        input: {
          content: "Sunset",
          privacyLevel: "friends",
          media: [
            { mediaType: "image", mediaUrl: "https://cdn.test/1.jpg", altText: "first" },
            { mediaType: "image", mediaUrl: "https://cdn.test/2.jpg", altText: "second" },
          ],
        },
      }),
    );
    expect(data.publishPost.post).toMatchObject({
      content: "Sunset",
      postType: "image",
      privacyLevel: "friends",
      author: { id: ana.id },
      media: {
        nodes: [
          { mediaUrl: "https://cdn.test/1.jpg", orderIndex: 0, altText: "first" },
          { mediaUrl: "https://cdn.test/2.jpg", orderIndex: 1, altText: "second" },
        ],
      },
    });
  });

  it("refuses an empty post, too many media, a non-http URL and a bad privacy level — and keeps nothing", async () => {
    const before = await api.sql<{ n: number }>(`select count(*)::int as n from app_public.posts`);
    expect(refusal(await api.as(ana)(PUBLISH, { input: { content: "   " } }))).toEqual({
      code: "INVALID_INPUT",
      field: "content",
    });
    const eleven = Array.from({ length: 11 }, (_, i) => ({
      mediaType: "image",
      mediaUrl: `https://cdn.test/${i}.jpg`,
    }));
    expect(refusal(await api.as(ana)(PUBLISH, { input: { content: "x", media: eleven } }))).toEqual(
      {
        code: "INVALID_INPUT",
        field: "media",
      },
    );
    expect(
      refusal(
        await api.as(ana)(PUBLISH, {
          input: { content: "x", media: [{ mediaType: "image", mediaUrl: "ftp://x/y" }] },
        }),
      ),
    ).toEqual({ code: "INVALID_INPUT", field: "media_url" });
    expect(
      refusal(await api.as(ana)(PUBLISH, { input: { content: "x", privacyLevel: "everyone" } })),
    ).toEqual({
      code: "INVALID_INPUT",
      field: "privacy_level",
    });
    expect(refusal(await api.as(ana)(PUBLISH, { input: { content: "x".repeat(10001) } }))).toEqual({
      code: "INVALID_INPUT",
      field: "content",
    });
    expect(await api.sql(`select count(*)::int as n from app_public.posts`)).toEqual(before);
  });

  it("posts into a group only as an active member, and needs a signed-in author", async () => {
    const group = ok<{ createGroup: { group: { id: string } } }>(
      await api.as(ben)(
        `mutation { createGroup(input: { name: "Bens", groupType: "private" }) { group { id } } }`,
      ),
    ).createGroup.group.id;
    expect(
      refusal(await api.as(ana)(PUBLISH, { input: { content: "hi", groupId: group } })),
    ).toEqual({
      code: "FORBIDDEN",
      field: "group_id",
    });
    expect(await publish(ben, { content: "hi group", groupId: group })).toEqual(expect.any(String));
    expect(refusal(await api.as(null)(PUBLISH, { input: { content: "anon" } }))?.code).toBe(
      "UNAUTHENTICATED",
    );
  });
});

describe("editPost and deletePost", () => {
  const EDIT = `mutation ($id: UUID!, $c: String) { editPost(input: { postId: $id, content: $c }) { post { content isEdited editedAt } } }`;
  const DELETE = `mutation ($id: UUID!) { deletePost(input: { postId: $id }) { success } }`;

  it("lets the author edit (marked edited) and nobody else", async () => {
    const id = await publish(ana, { content: "v1" });
    const edited = ok<{ editPost: { post: Record<string, unknown> } }>(
      await api.as(ana)(EDIT, { id, c: "v2" }),
    );
    expect(edited.editPost.post).toMatchObject({
      content: "v2",
      isEdited: true,
      editedAt: expect.any(String),
    });
    expect(refusal(await api.as(ben)(EDIT, { id, c: "hacked" }))).toEqual({ code: "FORBIDDEN" });
    const hidden = await publish(ana, { content: "private", privacyLevel: "private" });
    expect(refusal(await api.as(ben)(EDIT, { id: hidden, c: "x" }))).toEqual({
      code: "NOT_FOUND",
      field: "post_id",
    });
  });

  it("soft-deletes: the post disappears for everyone, the row stays with deleted_at", async () => {
    const id = await publish(ana, { content: "soon gone" });
    expect(refusal(await api.as(ben)(DELETE, { id }))).toEqual({ code: "FORBIDDEN" });
    expect(ok(await api.as(ana)(DELETE, { id }))).toEqual({ deletePost: { success: true } });
    for (const who of [ana, ben]) {
      expect(ok(await api.as(who)(`query ($id: UUID!) { post(id: $id) { id } }`, { id }))).toEqual({
        post: null,
      });
    }
    expect(
      await api.sql(
        `select deleted_at is not null as deleted from app_public.posts where id = $1`,
        [id],
      ),
    ).toEqual([{ deleted: true }]);
    expect(refusal(await api.as(ana)(DELETE, { id }))).toEqual({
      code: "NOT_FOUND",
      field: "post_id",
    });
  });

  it("lets group moderators delete posts in their group", async () => {
    const group = ok<{ createGroup: { group: { id: string } } }>(
      await api.as(cat)(`mutation { createGroup(input: { name: "Cats" }) { group { id } } }`),
    ).createGroup.group.id;
    ok(
      await api.as(ana)(
        `mutation ($g: UUID!) { joinGroup(input: { groupId: $g }) { groupMember { status } } }`,
        { g: group },
      ),
    );
    const id = await publish(ana, { content: "in cats", groupId: group });
    expect(ok(await api.as(cat)(DELETE, { id }))).toEqual({ deletePost: { success: true } });
  });
});

describe("sharePost", () => {
  const SHARE = `mutation ($id: UUID!, $p: String) { sharePost(input: { postId: $id, content: "look", privacyLevel: $p }) { post { sharedPost { id } privacyLevel } } }`;

  it("shares a visible post, never more publicly than the original", async () => {
    const friendsOnly = await publish(ana, { content: "for friends", privacyLevel: "friends" });
    const shared = ok<{ sharePost: { post: Record<string, unknown> } }>(
      await api.as(ben)(SHARE, { id: friendsOnly, p: "friends" }),
    );
    expect(shared.sharePost.post).toEqual({
      sharedPost: { id: friendsOnly },
      privacyLevel: "friends",
    });
    expect(refusal(await api.as(ben)(SHARE, { id: friendsOnly, p: "public" }))).toEqual({
      code: "INVALID_INPUT",
      field: "privacy_level",
    });
    expect(refusal(await api.as(cat)(SHARE, { id: friendsOnly, p: "friends" }))).toEqual({
      code: "NOT_FOUND",
      field: "shared_post_id",
    });
  });
});

describe("comments", () => {
  const ADD = `mutation ($p: UUID!, $c: String!, $parent: UUID) { addComment(input: { postId: $p, content: $c, parentCommentId: $parent }) { comment { id parentCommentId } } }`;
  const add = async (who: TestAccount, post: string, content: string, parent?: string) =>
    ok<{ addComment: { comment: { id: string; parentCommentId: string | null } } }>(
      await api.as(who)(ADD, { p: post, c: content, parent: parent ?? null }),
    ).addComment.comment;

  it("lists top-level comments oldest first with replies nested one level, paging forward by cursor", async () => {
    const post = await publish(ana, { content: "discuss" });
    const first = await add(ben, post, "first");
    const second = await add(ana, post, "second");
    const reply = await add(ana, post, "reply", first.id);
    const replyToReply = await add(ben, post, "reply to reply", reply.id);
    expect(reply.parentCommentId).toBe(first.id);
    expect(replyToReply.parentCommentId).toBe(first.id); // one level: attached to the top comment

    const THREAD = `query ($id: UUID!, $after: Cursor) { post(id: $id) { comments(first: 1, after: $after) {
      nodes { content replies { nodes { content } } } pageInfo { hasNextPage endCursor } } } }`;
    type Page = {
      post: {
        comments: {
          nodes: { content: string; replies: { nodes: { content: string }[] } }[];
          pageInfo: { hasNextPage: boolean; endCursor: string };
        };
      };
    };
    const page1 = ok<Page>(await api.as(cat)(THREAD, { id: post, after: null })).post.comments;
    expect(page1.nodes).toEqual([
      {
        content: "first",
        replies: { nodes: [{ content: "reply" }, { content: "reply to reply" }] },
      },
    ]);
    expect(page1.pageInfo.hasNextPage).toBe(true);
    const page2 = ok<Page>(await api.as(cat)(THREAD, { id: post, after: page1.pageInfo.endCursor }))
      .post.comments;
    expect(page2.nodes).toEqual([{ content: "second", replies: { nodes: [] } }]);
    expect(page2.pageInfo.hasNextPage).toBe(false);
    expect(second.parentCommentId).toBeNull();
  });

  it("refuses comments on posts you cannot see, empty ones, and a parent from another post", async () => {
    const hidden = await publish(ana, { content: "friends only", privacyLevel: "friends" });
    expect(refusal(await api.as(cat)(ADD, { p: hidden, c: "hi" }))).toEqual({
      code: "NOT_FOUND",
      field: "post_id",
    });
    const post = await publish(ana, { content: "open" });
    expect(refusal(await api.as(cat)(ADD, { p: post, c: "  " }))).toEqual({
      code: "INVALID_INPUT",
      field: "content",
    });
    const other = await publish(ana, { content: "other" });
    const elsewhere = await add(ben, other, "elsewhere");
    expect(refusal(await api.as(cat)(ADD, { p: post, c: "x", parent: elsewhere.id }))).toEqual({
      code: "INVALID_INPUT",
      field: "parent_comment_id",
    });
  });

  it("lets the author edit, and the author or the post's author delete", async () => {
    const post = await publish(ana, { content: "mine" });
    const comment = await add(ben, post, "hello");
    const EDIT = `mutation ($id: UUID!) { editComment(input: { commentId: $id, content: "edited" }) { comment { content isEdited } } }`;
    const DELETE = `mutation ($id: UUID!) { deleteComment(input: { commentId: $id }) { success } }`;
    expect(refusal(await api.as(ana)(EDIT, { id: comment.id }))).toEqual({ code: "FORBIDDEN" });
    expect(ok(await api.as(ben)(EDIT, { id: comment.id }))).toEqual({
      editComment: { comment: { content: "edited", isEdited: true } },
    });
    expect(refusal(await api.as(cat)(DELETE, { id: comment.id }))).toEqual({ code: "FORBIDDEN" });
    expect(ok(await api.as(ana)(DELETE, { id: comment.id }))).toEqual({
      deleteComment: { success: true },
    });
    expect(refusal(await api.as(ana)(DELETE, { id: comment.id }))).toEqual({
      code: "NOT_FOUND",
      field: "comment_id",
    });
  });
});

describe("likes", () => {
  const LIKE = `mutation ($id: UUID!) { likePost(input: { postId: $id }) { post { id viewerHasLiked } } }`;
  const UNLIKE = `mutation ($id: UUID!) { unlikePost(input: { postId: $id }) { post { viewerHasLiked } } }`;

  it("are idempotent both ways, and show in viewerHasLiked and likers", async () => {
    const post = await publish(ana, { content: "like me" });
    expect(ok(await api.as(ben)(LIKE, { id: post }))).toEqual({
      likePost: { post: { id: post, viewerHasLiked: true } },
    });
    ok(await api.as(ben)(LIKE, { id: post }));
    expect(
      await api.sql(`select count(*)::int as n from app_public.likes where target_id = $1`, [post]),
    ).toEqual([{ n: 1 }]);
    const likers = ok<{ post: { likers: { nodes: { id: string }[] }; viewerHasLiked: boolean } }>(
      await api.as(cat)(
        `query ($id: UUID!) { post(id: $id) { viewerHasLiked likers { nodes { id } } } }`,
        { id: post },
      ),
    );
    expect(likers.post).toEqual({ viewerHasLiked: false, likers: { nodes: [{ id: ben.id }] } });
    expect(ok(await api.as(ben)(UNLIKE, { id: post }))).toEqual({
      unlikePost: { post: { viewerHasLiked: false } },
    });
    ok(await api.as(ben)(UNLIKE, { id: post }));
    expect(
      await api.sql(`select count(*)::int as n from app_public.likes where target_id = $1`, [post]),
    ).toEqual([{ n: 0 }]);
  });

  it("refuse targets that do not exist or that you cannot see", async () => {
    const hidden = await publish(ana, { content: "friends", privacyLevel: "friends" });
    expect(refusal(await api.as(cat)(LIKE, { id: hidden }))).toEqual({
      code: "NOT_FOUND",
      field: "post_id",
    });
    expect(
      refusal(await api.as(cat)(LIKE, { id: "00000000-0000-4000-8000-000000000000" })),
    ).toEqual({
      code: "NOT_FOUND",
      field: "post_id",
    });
  });

  it("work on comments too", async () => {
    const post = await publish(ana, { content: "thread" });
    const comment = ok<{ addComment: { comment: { id: string } } }>(
      await api.as(ben)(
        `mutation ($p: UUID!) { addComment(input: { postId: $p, content: "c" }) { comment { id } } }`,
        { p: post },
      ),
    ).addComment.comment.id;
    const LIKE_C = `mutation ($id: UUID!) { likeComment(input: { commentId: $id }) { comment { viewerHasLiked } } }`;
    const UNLIKE_C = `mutation ($id: UUID!) { unlikeComment(input: { commentId: $id }) { comment { viewerHasLiked } } }`;
    expect(ok(await api.as(cat)(LIKE_C, { id: comment }))).toEqual({
      likeComment: { comment: { viewerHasLiked: true } },
    });
    expect(ok(await api.as(cat)(UNLIKE_C, { id: comment }))).toEqual({
      unlikeComment: { comment: { viewerHasLiked: false } },
    });
    expect(
      refusal(await api.as(cat)(LIKE_C, { id: "00000000-0000-4000-8000-000000000000" })),
    ).toEqual({
      code: "NOT_FOUND",
      field: "comment_id",
    });
  });
});

describe("unliking what you cannot see", () => {
  const UNLIKE = `mutation ($id: UUID!) { unlikePost(input: { postId: $id }) { post { id } } }`;
  const UNLIKE_C = `mutation ($id: UUID!) { unlikeComment(input: { commentId: $id }) { comment { id } } }`;

  it("is refused as if the post or comment did not exist", async () => {
    const hidden = await publish(ana, { content: "just friends", privacyLevel: "friends" });
    const comment = ok<{ addComment: { comment: { id: string } } }>(
      await api.as(ben)(
        `mutation ($p: UUID!) { addComment(input: { postId: $p, content: "hidden too" }) { comment { id } } }`,
        { p: hidden },
      ),
    ).addComment.comment.id;
    ok(
      await api.as(ben)(
        `mutation ($id: UUID!) { likePost(input: { postId: $id }) { post { id } } }`,
        { id: hidden },
      ),
    );
    expect(refusal(await api.as(cat)(UNLIKE, { id: hidden }))).toEqual({
      code: "NOT_FOUND",
      field: "post_id",
    });
    expect(refusal(await api.as(cat)(UNLIKE_C, { id: comment }))).toEqual({
      code: "NOT_FOUND",
      field: "comment_id",
    });
    expect(
      refusal(await api.as(cat)(UNLIKE_C, { id: "00000000-0000-4000-8000-000000000000" })),
    ).toEqual({ code: "NOT_FOUND", field: "comment_id" });
    // ben's like is untouched
    expect(
      await api.sql(`select user_id from app_public.likes where target_id = $1`, [hidden]),
    ).toEqual([{ user_id: ben.id }]);
  });
});

describe("blocks in threads", () => {
  const THREAD = `query ($id: UUID!) { post(id: $id) {
    comments { nodes { content replies { nodes { content } } } }
    likers { nodes { id } }
  } }`;
  type Thread = {
    post: {
      comments: { nodes: { content: string; replies: { nodes: { content: string }[] } }[] };
      likers: { nodes: { id: string }[] };
    };
  };
  const thread = async (who: TestAccount, id: string) => {
    const { post } = ok<Thread>(await api.as(who)(THREAD, { id }));
    return {
      comments: post.comments.nodes.map((c) => [c.content, c.replies.nodes.map((r) => r.content)]),
      likers: post.likers.nodes.map((l) => l.id).sort(),
    };
  };

  it("hide the comments, replies and likes of the blocked from the blocker, and the other way round", async () => {
    const [olive, bo, dee] = [await api.register(), await api.register(), await api.register()];
    const post = await publish(olive, { content: "open to all" });
    const ADD = `mutation ($p: UUID!, $c: String!, $parent: UUID) { addComment(input: { postId: $p, content: $c, parentCommentId: $parent }) { comment { id } } }`;
    const add = async (who: TestAccount, c: string, parent?: string) =>
      ok<{ addComment: { comment: { id: string } } }>(
        await api.as(who)(ADD, { p: post, c, parent: parent ?? null }),
      ).addComment.comment.id;
    const byOlive = await add(olive, "olive opens");
    await add(bo, "bo replies to olive", byOlive);
    await add(dee, "dee replies to olive", byOlive);
    await add(bo, "bo says");
    const byDee = await add(dee, "dee says");
    for (const who of [bo, dee]) {
      ok(
        await api.as(who)(
          `mutation ($id: UUID!) { likePost(input: { postId: $id }) { post { id } } }`,
          { id: post },
        ),
      );
    }
    ok(
      await api.as(dee)(`mutation ($id: UUID!) { blockUser(input: { userId: $id }) { success } }`, {
        id: bo.id,
      }),
    );

    expect(await thread(dee, post)).toEqual({
      comments: [
        ["olive opens", ["dee replies to olive"]],
        ["dee says", []],
      ],
      likers: [dee.id],
    });
    expect(await thread(bo, post)).toEqual({
      comments: [
        ["olive opens", ["bo replies to olive"]],
        ["bo says", []],
      ],
      likers: [bo.id],
    });
    expect(await thread(olive, post)).toEqual({
      comments: [
        ["olive opens", ["bo replies to olive", "dee replies to olive"]],
        ["bo says", []],
        ["dee says", []],
      ],
      likers: [bo.id, dee.id].sort(),
    });
    // and the blocked cannot reach the blocker's comment to like it or reply to it
    expect(
      refusal(
        await api.as(bo)(
          `mutation ($id: UUID!) { likeComment(input: { commentId: $id }) { comment { id } } }`,
          { id: byDee },
        ),
      ),
    ).toEqual({ code: "NOT_FOUND", field: "comment_id" });
    expect(refusal(await api.as(bo)(ADD, { p: post, c: "psst", parent: byDee }))).toEqual({
      code: "INVALID_INPUT",
      field: "parent_comment_id",
    });
  });
});

describe("editing a share", () => {
  const SHARE = `mutation ($id: UUID!, $p: String) { sharePost(input: { postId: $id, privacyLevel: $p }) { post { id } } }`;
  const EDIT = `mutation ($id: UUID!, $p: String) { editPost(input: { postId: $id, privacyLevel: $p }) { post { privacyLevel } } }`;

  it("cannot make it more public than the post it shares", async () => {
    const original = await publish(ana, { content: "friends see this", privacyLevel: "friends" });
    const share = ok<{ sharePost: { post: { id: string } } }>(
      await api.as(ben)(SHARE, { id: original, p: "friends" }),
    ).sharePost.post.id;
    expect(refusal(await api.as(ben)(EDIT, { id: share, p: "public" }))).toEqual({
      code: "INVALID_INPUT",
      field: "privacy_level",
    });
    expect(
      await api.sql(`select privacy_level, is_edited from app_public.posts where id = $1`, [share]),
    ).toEqual([{ privacy_level: "friends", is_edited: false }]);
    expect(ok(await api.as(ben)(EDIT, { id: share, p: "private" }))).toEqual({
      editPost: { post: { privacyLevel: "private" } },
    });
  });
});
