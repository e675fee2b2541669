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

describe("refusals of the participant operations", () => {
  const READ = `mutation ($c: UUID!) { markConversationRead(input: { conversationId: $c }) { conversationParticipant { lastReadAt } } }`;
  const MUTE = `mutation ($c: UUID!, $m: Boolean) { muteConversation(input: { conversationId: $c, muted: $m }) { conversationParticipant { isMuted } } }`;
  const LEAVE = `mutation ($c: UUID!) { leaveConversation(input: { conversationId: $c }) { success } }`;
  const NOT_IN = { code: "NOT_FOUND", field: "conversation_id" };

  it("markConversationRead, muteConversation and leaveConversation refuse someone not in the conversation", async () => {
    const [ana, ben, cat] = [await api.register(), await api.register(), await api.register()];
    const c = await direct(ana, ben);
    await send(ben, c, "for ana only");
    expect(refusal(await api.as(cat)(READ, { c }))).toEqual(NOT_IN);
    expect(refusal(await api.as(cat)(MUTE, { c }))).toEqual(NOT_IN);
    expect(refusal(await api.as(cat)(LEAVE, { c }))).toEqual(NOT_IN);
    // and nothing changed for the participants
    expect(
      await api.sql(
        `select count(*)::int as n from app_public.conversation_participants
          where conversation_id = $1 and (last_read_at is not null or is_muted or left_at is not null)`,
        [c],
      ),
    ).toEqual([{ n: 0 }]);
    const unknown = "00000000-0000-4000-8000-000000000000";
    expect(refusal(await api.as(ana)(READ, { c: unknown }))).toEqual(NOT_IN);
    expect(refusal(await api.as(ana)(LEAVE, { c: unknown }))).toEqual(NOT_IN);
  });

  it("mutes and unmutes (muted: false), each idempotent", async () => {
    const [ana, ben] = [await api.register(), await api.register()];
    const c = await direct(ana, ben);
    const muted = (m: boolean | null) =>
      api
        .as(ana)(MUTE, { c, m })
        .then(
          (body) =>
            ok<{ muteConversation: { conversationParticipant: { isMuted: boolean } } }>(body)
              .muteConversation.conversationParticipant.isMuted,
        );
    expect(await muted(null)).toBe(true);
    expect(await muted(true)).toBe(true);
    expect(await muted(false)).toBe(false);
    expect(await muted(false)).toBe(false);
    const view = ok<{ conversation: { viewerParticipant: { isMuted: boolean } } }>(
      await api.as(ana)(
        `query ($c: UUID!) { conversation(id: $c) { viewerParticipant { isMuted } } }`,
        { c },
      ),
    );
    expect(view.conversation.viewerParticipant.isMuted).toBe(false);
    // ben's own setting is his
    expect(
      await api.sql(
        `select is_muted from app_public.conversation_participants where conversation_id = $1 and user_id = $2`,
        [c, ben.id],
      ),
    ).toEqual([{ is_muted: false }]);
  });

  it("after leaving, marking read and leaving again are refused; a direct conversation is re-joined by starting it", async () => {
    const [ana, ben] = [await api.register(), await api.register()];
    const c = await direct(ana, ben);
    expect(ok(await api.as(ana)(LEAVE, { c }))).toEqual({ leaveConversation: { success: true } });
    expect(refusal(await api.as(ana)(LEAVE, { c }))).toEqual(NOT_IN);
    expect(refusal(await api.as(ana)(READ, { c }))).toEqual(NOT_IN);
    expect(refusal(await api.as(ana)(SEND, { c, t: "back?" }))).toEqual({ code: "FORBIDDEN" });
    expect(await direct(ana, ben)).toBe(c);
    ok(await api.as(ana)(READ, { c }));
    await send(ana, c, "back");
  });
});

describe("removeConversationParticipant refusals", () => {
  const REMOVE = `mutation ($c: UUID!, $u: UUID!) { removeConversationParticipant(input: { conversationId: $c, userId: $u }) { success } }`;

  it("refuses removing yourself, someone not in it, and callers who are not its admin", async () => {
    const [ana, ben, cat, dan] = [
      await api.register(),
      await api.register(),
      await api.register(),
      await api.register(),
    ];
    const c = ok<{ createGroupConversation: { conversation: { id: string } } }>(
      await api.as(ana)(GROUP, { t: "Book club", ids: [ben.id, cat.id] }),
    ).createGroupConversation.conversation.id;
    expect(refusal(await api.as(ana)(REMOVE, { c, u: ana.id }))).toEqual({
      code: "INVALID_INPUT",
      field: "user_id",
    });
    expect(
      refusal(await api.as(ana)(REMOVE, { c, u: "00000000-0000-4000-8000-000000000000" })),
    ).toEqual({ code: "NOT_FOUND", field: "user_id" });
    expect(refusal(await api.as(ana)(REMOVE, { c, u: dan.id }))).toEqual({
      code: "NOT_FOUND",
      field: "user_id",
    });
    // a plain participant, and a stranger, may not remove anyone
    expect(refusal(await api.as(ben)(REMOVE, { c, u: cat.id }))).toEqual({ code: "FORBIDDEN" });
    expect(refusal(await api.as(dan)(REMOVE, { c, u: cat.id }))).toEqual({ code: "FORBIDDEN" });
    // removing twice: the second time they are no longer in it
    expect(ok(await api.as(ana)(REMOVE, { c, u: cat.id }))).toEqual({
      removeConversationParticipant: { success: true },
    });
    expect(refusal(await api.as(ana)(REMOVE, { c, u: cat.id }))).toEqual({
      code: "NOT_FOUND",
      field: "user_id",
    });
    expect(
      await api.sql(
        `select user_id, left_at is null as active from app_public.conversation_participants
          where conversation_id = $1 order by user_id = $2 desc, user_id = $3 desc`,
        [c, ana.id, ben.id],
      ),
    ).toEqual([
      { user_id: ana.id, active: true },
      { user_id: ben.id, active: true },
      { user_id: cat.id, active: false },
    ]);
  });

  it("has no admins in a direct conversation: nobody removes anyone there", async () => {
    const [ana, ben] = [await api.register(), await api.register()];
    const c = await direct(ana, ben);
    expect(refusal(await api.as(ana)(REMOVE, { c, u: ben.id }))).toEqual({ code: "FORBIDDEN" });
  });
});

describe("createGroupConversation refusals", () => {
  const conversationsOf = async (who: TestAccount) =>
    (
      await api.sql<{ n: number }>(
        `select count(*)::int as n from app_public.conversations where created_by = $1`,
        [who.id],
      )
    )[0]!.n;

  it("refuses an unknown participant, and keeps nothing", async () => {
    const [ana, ben] = [await api.register(), await api.register()];
    expect(
      refusal(
        await api.as(ana)(GROUP, {
          t: "Ghosts",
          ids: [ben.id, "00000000-0000-4000-8000-000000000000"],
        }),
      ),
    ).toEqual({ code: "NOT_FOUND", field: "participant_ids" });
    expect(await conversationsOf(ana)).toBe(0);
  });

  it("refuses someone who blocked you (as if they did not exist), and keeps nothing", async () => {
    const [ana, ben, cat] = [await api.register(), await api.register(), await api.register()];
    ok(
      await api.as(ben)(`mutation ($id: UUID!) { blockUser(input: { userId: $id }) { success } }`, {
        id: ana.id,
      }),
    );
    expect(refusal(await api.as(ana)(GROUP, { t: "Trip", ids: [cat.id, ben.id] }))).toEqual({
      code: "NOT_FOUND",
      field: "participant_ids",
    });
    expect(await conversationsOf(ana)).toBe(0);
  });

  it("refuses someone you blocked, and keeps nothing", async () => {
    const [ana, ben, cat] = [await api.register(), await api.register(), await api.register()];
    ok(
      await api.as(ana)(`mutation ($id: UUID!) { blockUser(input: { userId: $id }) { success } }`, {
        id: ben.id,
      }),
    );
    expect(refusal(await api.as(ana)(GROUP, { t: "Trip", ids: [cat.id, ben.id] }))?.code).toBe(
      "FORBIDDEN",
    );
    expect(await conversationsOf(ana)).toBe(0);
  });
});

describe("Conversation.messages paging", () => {
  it("breaks ties in created_at by id: page size 1 returns every message once, in (created_at, id) order", async () => {
    const [ana, ben] = [await api.register(), await api.register()];
    const c = await direct(ana, ben);
    await send(ana, c, "first");
    // three messages in one statement share created_at exactly
    await api.sql(
      `insert into app_public.messages (conversation_id, sender_id, content, created_at)
       select $1, $2, 'tie ' || i, now() + interval '1 minute' from generate_series(1, 3) i`,
      [c, ben.id],
    );
    await api.sql(
      `insert into app_public.messages (conversation_id, sender_id, content, created_at)
       values ($1, $2, 'last', now() + interval '2 minutes')`,
      [c, ana.id],
    );
    const expected = (
      await api.sql<{ id: string }>(
        `select id from app_public.messages where conversation_id = $1 order by created_at desc, id desc`,
        [c],
      )
    ).map((r) => r.id);
    expect(expected).toHaveLength(5);

    const PAGE = `query ($c: UUID!, $after: Cursor) { conversation(id: $c) { messages(first: 1, after: $after) { nodes { id } pageInfo { hasNextPage endCursor } } } }`;
    type Messages = {
      nodes: { id: string }[];
      pageInfo: { hasNextPage: boolean; endCursor: string };
    };
    const seen: string[] = [];
    let after: string | null = null;
    for (let i = 0; i < 10; i++) {
      const page: Messages = ok<{ conversation: { messages: Messages } }>(
        await api.as(ana)(PAGE, { c, after }),
      ).conversation.messages;
      seen.push(...page.nodes.map((n) => n.id));
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(seen).toEqual(expected);
  });
});
