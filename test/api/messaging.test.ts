/**
 * Messaging through GraphQL: startDirectConversation, createGroupConversation, sendMessage,
 * editMessage, deleteMessage, markConversationRead, muteConversation, leaveConversation,
 * addConversationParticipants, removeConversationParticipant, Query.myConversations,
 * Conversation.unreadCount / lastMessage / messages.
 */
import type { TestAccount } from "../helpers/accounts.ts";
import { ok, refusal, startApi, type Api } from "../helpers/api.ts";

let api: Api;
beforeAll(async () => {
  api = await startApi();
});
afterAll(() => api.close());

const START = `mutation ($id: UUID!) { startDirectConversation(input: { userId: $id }) { conversation { id conversationType } } }`;
const SEND = `mutation ($c: UUID!, $t: String, $r: UUID) { sendMessage(input: { conversationId: $c, content: $t, replyToMessageId: $r }) { message { id content sender { id } } } }`;
const GROUP = `mutation ($t: String!, $ids: [UUID]!) { createGroupConversation(input: { title: $t, participantIds: $ids }) { conversation { id } } }`;

async function direct(a: TestAccount, b: TestAccount): Promise<string> {
  return ok<{ startDirectConversation: { conversation: { id: string } } }>(
    await api.as(a)(START, { id: b.id }),
  ).startDirectConversation.conversation.id;
}
async function send(who: TestAccount, conversation: string, text: string): Promise<string> {
  return ok<{ sendMessage: { message: { id: string } } }>(
    await api.as(who)(SEND, { c: conversation, t: text }),
  ).sendMessage.message.id;
}

describe("startDirectConversation", () => {
  it("returns the one conversation per pair, whoever starts it", async () => {
    const [ana, ben] = [await api.register(), await api.register()];
    const first = await direct(ana, ben);
    expect(await direct(ana, ben)).toBe(first);
    expect(await direct(ben, ana)).toBe(first);
  });

  it("makes exactly one conversation when both start it at the same moment", async () => {
    const [ana, ben] = [await api.register(), await api.register()];
    const ids = await Promise.all([
      direct(ana, ben),
      direct(ben, ana),
      direct(ana, ben),
      direct(ben, ana),
    ]);
    expect(new Set(ids).size).toBe(1);
    const rows = await api.sql<{ n: number }>(
      `select count(*)::int as n from app_public.conversation_participants p
        join app_public.conversations c on c.id = p.conversation_id and c.conversation_type = 'direct'
       where p.user_id = $1`,
      [ana.id],
    );
    expect(rows).toEqual([{ n: 1 }]);
  });

  it("refuses yourself and across a block", async () => {
    const [ana, ben] = [await api.register(), await api.register()];
    expect(refusal(await api.as(ana)(START, { id: ana.id }))).toEqual({
      code: "INVALID_INPUT",
      field: "user_id",
    });
    ok(
      await api.as(ben)(`mutation ($id: UUID!) { blockUser(input: { userId: $id }) { success } }`, {
        id: ana.id,
      }),
    );
    expect(refusal(await api.as(ana)(START, { id: ben.id }))).toEqual({
      code: "NOT_FOUND",
      field: "user_id",
    });
  });
});

describe("sending and reading", () => {
  it("orders my conversations by latest message, with unread counts and the last message", async () => {
    const [ana, ben, cat] = [await api.register(), await api.register(), await api.register()];
    const withBen = await direct(ana, ben);
    const withCat = await direct(ana, cat);
    await send(ben, withBen, "hi ana");
    await send(cat, withCat, "hey");
    await send(cat, withCat, "you there?");

    const MINE = `{ myConversations { nodes { id unreadCount lastMessage { content } } } }`;
    const mine = ok<{
      myConversations: {
        nodes: { id: string; unreadCount: number; lastMessage: { content: string } }[];
      };
    }>(await api.as(ana)(MINE));
    expect(mine.myConversations.nodes).toEqual([
      { id: withCat, unreadCount: 2, lastMessage: { content: "you there?" } },
      { id: withBen, unreadCount: 1, lastMessage: { content: "hi ana" } },
    ]);
    const read = ok<{ markConversationRead: { conversationParticipant: { lastReadAt: string } } }>(
      await api.as(ana)(
        `mutation ($c: UUID!) { markConversationRead(input: { conversationId: $c }) { conversationParticipant { lastReadAt } } }`,
        {
          c: withCat,
        },
      ),
    );
    expect(read.markConversationRead.conversationParticipant.lastReadAt).toEqual(
      expect.any(String),
    );
    const after = ok<{ myConversations: { nodes: { id: string; unreadCount: number }[] } }>(
      await api.as(ana)(MINE),
    );
    expect(after.myConversations.nodes.map((n) => n.unreadCount)).toEqual([0, 1]);
    // sending moved the conversation's last_message_at
    expect(
      await api.sql(
        `select last_message_at is not null as moved from app_public.conversations where id = $1`,
        [withBen],
      ),
    ).toEqual([{ moved: true }]);
  });

  it("pages messages newest first by cursor, each exactly once", async () => {
    const [ana, ben] = [await api.register(), await api.register()];
    const c = await direct(ana, ben);
    for (let i = 1; i <= 5; i++) await send(i % 2 ? ana : ben, c, `m${i}`);
    const PAGE = `query ($c: UUID!, $after: Cursor) { conversation(id: $c) { messages(first: 2, after: $after) { nodes { content } pageInfo { hasNextPage endCursor } } } }`;
    const seen: string[] = [];
    let after: string | null = null;
    type Messages = {
      nodes: { content: string }[];
      pageInfo: { hasNextPage: boolean; endCursor: string };
    };
    for (;;) {
      const page: Messages = ok<{ conversation: { messages: Messages } }>(
        await api.as(ben)(PAGE, { c, after }),
      ).conversation.messages;
      seen.push(...page.nodes.map((n) => n.content));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(seen).toEqual(["m5", "m4", "m3", "m2", "m1"]);
  });

  it("refuses empty messages, replies to another conversation's message, and strangers", async () => {
    const [ana, ben, cat] = [await api.register(), await api.register(), await api.register()];
    const c = await direct(ana, ben);
    const other = await direct(ana, cat);
    const elsewhere = await send(cat, other, "elsewhere");
    expect(refusal(await api.as(ana)(SEND, { c, t: " " }))).toEqual({
      code: "INVALID_INPUT",
      field: "content",
    });
    expect(refusal(await api.as(ana)(SEND, { c, t: "re", r: elsewhere }))).toEqual({
      code: "INVALID_INPUT",
      field: "reply_to_message_id",
    });
    expect(refusal(await api.as(cat)(SEND, { c, t: "let me in" }))).toEqual({
      code: "NOT_FOUND",
      field: "conversation_id",
    });
    const strangerView = ok<{ conversation: unknown }>(
      await api.as(cat)(`query ($c: UUID!) { conversation(id: $c) { id } }`, { c }),
    );
    expect(strangerView.conversation).toBeNull();
  });

  it("refuses sending into a direct conversation across a block", async () => {
    const [ana, ben] = [await api.register(), await api.register()];
    const c = await direct(ana, ben);
    ok(
      await api.as(ben)(`mutation ($id: UUID!) { blockUser(input: { userId: $id }) { success } }`, {
        id: ana.id,
      }),
    );
    expect(refusal(await api.as(ana)(SEND, { c, t: "hello?" }))).toEqual({ code: "FORBIDDEN" });
  });
});

describe("editing and deleting messages", () => {
  it("lets the sender edit and soft-delete (content cleared for everyone); nobody else", async () => {
    const [ana, ben] = [await api.register(), await api.register()];
    const c = await direct(ana, ben);
    const m = await send(ana, c, "tpyo");
    const EDIT = `mutation ($m: UUID!) { editMessage(input: { messageId: $m, content: "typo" }) { message { content isEdited } } }`;
    const DELETE = `mutation ($m: UUID!) { deleteMessage(input: { messageId: $m }) { message { content isDeleted deletedAt } } }`;
    expect(refusal(await api.as(ben)(EDIT, { m }))).toEqual({ code: "FORBIDDEN" });
    expect(ok(await api.as(ana)(EDIT, { m }))).toEqual({
      editMessage: { message: { content: "typo", isEdited: true } },
    });
    expect(refusal(await api.as(ben)(DELETE, { m }))).toEqual({ code: "FORBIDDEN" });
    const deleted = ok<{ deleteMessage: { message: Record<string, unknown> } }>(
      await api.as(ana)(DELETE, { m }),
    );
    expect(deleted.deleteMessage.message).toEqual({
      content: null,
      isDeleted: true,
      deletedAt: expect.any(String),
    });
    const seenByBen = ok<{ message: { content: string | null; isDeleted: boolean } }>(
      await api.as(ben)(`query ($m: UUID!) { message(id: $m) { content isDeleted } }`, { m }),
    );
    expect(seenByBen.message).toEqual({ content: null, isDeleted: true });
    expect(refusal(await api.as(ana)(EDIT, { m }))).toEqual({ code: "CONFLICT" });
  });
});

describe("group conversations", () => {
  it("are managed by their admins: add, remove (keeping history), mute, leave", async () => {
    const [ana, ben, cat, dan] = [
      await api.register(),
      await api.register(),
      await api.register(),
      await api.register(),
    ];
    const c = ok<{ createGroupConversation: { conversation: { id: string } } }>(
      await api.as(ana)(GROUP, { t: "Trip", ids: [ben.id, cat.id] }),
    ).createGroupConversation.conversation.id;
    await send(ben, c, "before");

    const ADD = `mutation ($c: UUID!, $ids: [UUID]!) { addConversationParticipants(input: { conversationId: $c, userIds: $ids }) { conversation { id } } }`;
    const REMOVE = `mutation ($c: UUID!, $u: UUID!) { removeConversationParticipant(input: { conversationId: $c, userId: $u }) { success } }`;
    expect(refusal(await api.as(ben)(ADD, { c, ids: [dan.id] }))).toEqual({ code: "FORBIDDEN" });
    ok(await api.as(ana)(ADD, { c, ids: [dan.id] }));
    await send(dan, c, "dan here");

    expect(refusal(await api.as(ben)(REMOVE, { c, u: cat.id }))).toEqual({ code: "FORBIDDEN" });
    ok(await api.as(ana)(REMOVE, { c, u: cat.id }));
    await send(ben, c, "after cat left");
    // cat keeps the history up to her removal, and cannot send any more
    const history = ok<{ conversation: { messages: { nodes: { content: string }[] } } }>(
      await api.as(cat)(
        `query ($c: UUID!) { conversation(id: $c) { messages { nodes { content } } } }`,
        { c },
      ),
    );
    expect(history.conversation.messages.nodes.map((n) => n.content)).toEqual([
      "dan here",
      "before",
    ]);
    expect(refusal(await api.as(cat)(SEND, { c, t: "still here?" }))).toEqual({
      code: "FORBIDDEN",
    });

    const MUTE = `mutation ($c: UUID!) { muteConversation(input: { conversationId: $c }) { conversationParticipant { isMuted } } }`;
    expect(ok(await api.as(ben)(MUTE, { c }))).toEqual({
      muteConversation: { conversationParticipant: { isMuted: true } },
    });

    // the last admin leaving hands the role to the longest-standing participant
    expect(
      ok(
        await api.as(ana)(
          `mutation ($c: UUID!) { leaveConversation(input: { conversationId: $c }) { success } }`,
          { c },
        ),
      ),
    ).toEqual({
      leaveConversation: { success: true },
    });
    expect(
      await api.sql(
        `select role from app_public.conversation_participants where conversation_id = $1 and user_id = $2`,
        [c, ben.id],
      ),
    ).toEqual([{ role: "admin" }]);
    const mine = ok<{ myConversations: { nodes: { id: string }[] } }>(
      await api.as(ana)(`{ myConversations { nodes { id } } }`),
    );
    expect(mine.myConversations.nodes.map((n) => n.id)).not.toContain(c);
  });

  it("needs a title", async () => {
    const [ana, ben] = [await api.register(), await api.register()];
    expect(refusal(await api.as(ana)(GROUP, { t: " ", ids: [ben.id] }))).toEqual({
      code: "INVALID_INPUT",
      field: "title",
    });
  });
});
