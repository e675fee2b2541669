/**
 * Realtime over real websockets (graphql-ws): messages, edits, typing, notifications and the
 * conversation list arrive live, under the subscriber's own row-level security; sockets are
 * authenticated with the same JWT and closed when it expires; limits and fan-out across two
 * API instances.
 */
import { randomUUID } from "node:crypto";

import { tokenServiceFor } from "../../src/server.ts";
import type { TestAccount } from "../helpers/accounts.ts";
import { ok, refusal, startApi, type Api } from "../helpers/api.ts";
import { connect, type LiveSocket } from "../helpers/realtime.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";
import { startTestWorker, type TestWorker } from "../helpers/worker.ts";

let api: Api;
let ana: TestAccount;
let ben: TestAccount;
let cat: TestAccount;
let dan: TestAccount;
const sockets: LiveSocket[] = [];

beforeAll(async () => {
  api = await startApi();
  [ana, ben, cat, dan] = [
    await api.register(),
    await api.register(),
    await api.register(),
    await api.register(),
  ];
});
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.dispose()));
});
afterAll(() => api.close());

function open(account: TestAccount | null, server: TestServer = api.server): LiveSocket {
  const socket = connect(server, account ? { authorization: `Bearer ${account.accessToken}` } : {});
  sockets.push(socket);
  return socket;
}

/** Subscribes and waits until the server is listening for it. */
async function live<T>(
  socket: LiveSocket,
  query: string,
  variables: Record<string, unknown> = {},
  server: TestServer = api.server,
) {
  const listening = server.log.next(/realtime: subscription live/);
  const subscription = socket.subscribe<T>(query, variables);
  await Promise.race([
    listening,
    subscription.failed.then((errors) => {
      throw new Error(`subscription failed: ${JSON.stringify(errors)}`);
    }),
  ]);
  return subscription;
}

async function groupChat(owner: TestAccount, others: TestAccount[]): Promise<string> {
  return ok<{ createGroupConversation: { conversation: { id: string } } }>(
    await api.as(owner)(
      `mutation ($t: String!, $p: [UUID]!) { createGroupConversation(input: { title: $t, participantIds: $p }) { conversation { id } } }`,
      { t: `chat ${randomUUID().slice(0, 6)}`, p: others.map((o) => o.id) },
    ),
  ).createGroupConversation.conversation.id;
}

async function send(from: TestAccount, conversationId: string, content: string): Promise<string> {
  return ok<{ sendMessage: { message: { id: string } } }>(
    await api.as(from)(
      `mutation ($c: UUID!, $t: String!) { sendMessage(input: { conversationId: $c, content: $t }) { message { id } } }`,
      { c: conversationId, t: content },
    ),
  ).sendMessage.message.id;
}

const MESSAGE_ADDED = `subscription ($c: UUID!) { messageAdded(conversationId: $c) { id content isDeleted sender { id username } conversation { id } } }`;
const MESSAGE_UPDATED = `subscription ($c: UUID!) { messageUpdated(conversationId: $c) { id content isEdited isDeleted } }`;
type Msg = {
  id: string;
  content: string | null;
  isDeleted?: boolean;
  isEdited?: boolean;
  sender?: { id: string };
};

/** Resolves when the server decides not to deliver an event of the conversation to someone. */
const withheld = (conversationId: string) =>
  api.server.log.next(
    new RegExp(`realtime: event withheld .*topic=conversation:${conversationId} `),
  );

describe("messageAdded and messageUpdated", () => {
  it("delivers a message sent by B to A's subscription, with its relations", async () => {
    const chat = await groupChat(ana, [ben]);
    const sub = await live<Msg>(open(ana), MESSAGE_ADDED, { c: chat });
    const id = await send(ben, chat, "hello ana");
    expect(await sub.event(0)).toEqual({
      id,
      content: "hello ana",
      isDeleted: false,
      sender: { id: ben.id, username: ben.username },
      conversation: { id: chat },
    });
  });

  it("delivers edits and deletions to messageUpdated, not to messageAdded", async () => {
    const chat = await groupChat(ana, [ben]);
    const socket = open(ana);
    const added = await live<Msg>(socket, MESSAGE_ADDED, { c: chat });
    const updated = await live<Msg>(socket, MESSAGE_UPDATED, { c: chat });
    const id = await send(ben, chat, "first draft");
    await added.event(0);
    ok(
      await api.as(ben)(
        `mutation ($m: UUID!) { editMessage(input: { messageId: $m, content: "final" }) { message { id } } }`,
        { m: id },
      ),
    );
    expect(await updated.event(0)).toEqual({
      id,
      content: "final",
      isEdited: true,
      isDeleted: false,
    });
    ok(
      await api.as(ben)(
        `mutation ($m: UUID!) { deleteMessage(input: { messageId: $m }) { message { id } } }`,
        {
          m: id,
        },
      ),
    );
    expect(await updated.event(1)).toMatchObject({ id, content: null, isDeleted: true });
    expect(added.events).toHaveLength(1);
  });

  it("refuses a non-participant (FORBIDDEN) and a socket without a token (UNAUTHENTICATED)", async () => {
    const chat = await groupChat(ana, [ben]);
    const stranger = open(cat).subscribe(MESSAGE_ADDED, { c: chat });
    expect((await stranger.failed)?.[0]?.extensions).toMatchObject({ code: "FORBIDDEN" });
    const anonymous = open(null).subscribe(MESSAGE_ADDED, { c: chat });
    expect((await anonymous.failed)?.[0]?.extensions).toMatchObject({ code: "UNAUTHENTICATED" });
    const notifications = open(null).subscribe(
      `subscription { notificationAdded { unreadCount } }`,
    );
    expect((await notifications.failed)?.[0]?.extensions).toMatchObject({
      code: "UNAUTHENTICATED",
    });
  });

  it("stops delivering to someone who left the conversation, at once", async () => {
    const chat = await groupChat(ana, [ben, cat]);
    const toCat = await live<Msg>(open(cat), MESSAGE_ADDED, { c: chat });
    const toBen = await live<Msg>(open(ben), MESSAGE_ADDED, { c: chat });
    await send(ana, chat, "before");
    await toCat.event(0);
    ok(
      await api.as(cat)(
        `mutation ($c: UUID!) { leaveConversation(input: { conversationId: $c }) { success } }`,
        { c: chat },
      ),
    );

    const skipped = withheld(chat);
    const id = await send(ana, chat, "after");
    expect((await toBen.event(1)).id).toBe(id);
    expect(await skipped).toContain(id);
    expect(toCat.events).toHaveLength(1);
  });

  it("stops delivering to someone an admin removed, and tells them on their conversation list", async () => {
    const chat = await groupChat(ana, [ben, cat]);
    const catSocket = open(cat);
    const toCat = await live<Msg>(catSocket, MESSAGE_ADDED, { c: chat });
    const catList = await live<{ reason: string; conversation: { id: string } | null }>(
      catSocket,
      `subscription { myConversationsUpdated { reason conversation { id } } }`,
    );
    const toBen = await live<Msg>(open(ben), MESSAGE_ADDED, { c: chat });
    ok(
      await api.as(ana)(
        `mutation ($c: UUID!, $u: UUID!) { removeConversationParticipant(input: { conversationId: $c, userId: $u }) { success } }`,
        { c: chat, u: cat.id },
      ),
    );
    // cat hears of the removal (they keep the history up to it, so the conversation still reads)
    expect(await catList.event(0)).toEqual({ reason: "participants", conversation: { id: chat } });

    const skipped = withheld(chat);
    const id = await send(ana, chat, "after the removal");
    expect((await toBen.event(0)).id).toBe(id);
    expect(await skipped).toContain(id);
    expect(toCat.events).toHaveLength(0);
  });

  it("stops delivering messages of someone you blocked (and they yours), at once", async () => {
    const [eve, fay] = [await api.register(), await api.register()];
    const chat = await groupChat(eve, [fay, cat]);
    const toEve = await live<Msg>(open(eve), MESSAGE_ADDED, { c: chat });
    const toCat = await live<Msg>(open(cat), MESSAGE_ADDED, { c: chat });
    ok(
      await api.as(eve)(
        `mutation ($u: UUID!) { blockUser(input: { userId: $u }) { clientMutationId } }`,
        { u: fay.id },
      ),
    );

    const hidden = withheld(chat);
    const id = await send(fay, chat, "can anyone hear me");
    expect((await toCat.event(0)).id).toBe(id);
    expect(await hidden).toContain(id);
    expect(toEve.events).toHaveLength(0);
  });
});

describe("typing", () => {
  /** Whatever typing could have left behind: messages in the chat, jobs, notifications to either. */
  const STORED = `select (select count(*) from app_public.messages where conversation_id = $1)
                       + (select count(*) from graphile_worker.jobs)
                       + (select count(*) from app_public.notifications where recipient_id in ($2, $3)) as n`;
  const TYPING = `subscription ($c: UUID!) { typing(conversationId: $c) { conversationId user { id username } } }`;

  it("delivers typing notices to the others, not back to the typist, and stores nothing", async () => {
    const chat = await groupChat(ana, [ben]);
    const toAna = await live<Record<string, unknown>>(open(ana), TYPING, { c: chat });
    const toBen = await live<Record<string, unknown>>(open(ben), TYPING, { c: chat });
    const [before] = await api.sql<{ n: number }>(STORED, [chat, ana.id, ben.id]);
    const benSkipsOwn = api.server.log.next(
      new RegExp(`realtime: event withheld .*topic=conversation:${chat}:typing`),
    );
    expect(
      ok(
        await api.as(ben)(
          `mutation ($c: UUID!) { sendTyping(input: { conversationId: $c }) { sent } }`,
          { c: chat },
        ),
      ),
    ).toEqual({ sendTyping: { sent: true } });
    expect(await toAna.event(0)).toEqual({
      conversationId: chat,
      user: { id: ben.id, username: ben.username },
    });
    await benSkipsOwn;
    expect(toBen.events).toHaveLength(0);
    const [after] = await api.sql<{ n: number }>(STORED, [chat, ana.id, ben.id]);
    expect(after).toEqual(before);
  });

  it("refuses typing into a conversation you are not in, and limits it per user", async () => {
    const chat = await groupChat(ana, [ben]);
    const SEND = `mutation ($c: UUID!) { sendTyping(input: { conversationId: $c }) { sent } }`;
    expect(refusal(await api.as(cat)(SEND, { c: chat }))).toMatchObject({ code: "FORBIDDEN" });
    expect(refusal(await api.as(null)(SEND, { c: chat }))).toMatchObject({
      code: "UNAUTHENTICATED",
    });

    const limited = await startTestServer(api.db, { TYPING_MAX_PER_MINUTE: "2" });
    try {
      const call = async () =>
        (await limited.graphql(SEND, { c: chat }, { token: ben.accessToken })).body;
      expect(ok(await call())).toEqual({ sendTyping: { sent: true } });
      expect(ok(await call())).toEqual({ sendTyping: { sent: true } });
      const third = refusal(await call());
      expect(third).toMatchObject({ code: "RATE_LIMITED" });
      expect(Number(third?.retryAfterSeconds)).toBeGreaterThan(0);
    } finally {
      await limited.close();
    }
  });
});

describe("notificationAdded", () => {
  let worker: TestWorker;
  beforeAll(async () => (worker = await startTestWorker(api.db)));
  afterAll(() => worker.close());

  it("delivers the notification the worker creates, with the new unread count", async () => {
    const sub = await live<{ notification: Record<string, unknown>; unreadCount: number }>(
      open(dan),
      `subscription { notificationAdded { unreadCount notification { notificationType message sender { id } } } }`,
    );
    ok(
      await api.as(cat)(
        `mutation ($u: UUID!) { followUser(input: { userId: $u }) { clientMutationId } }`,
        { u: dan.id },
      ),
    );
    expect(await sub.event(0)).toEqual({
      unreadCount: 1,
      notification: {
        notificationType: "new_follower",
        message: `${cat.username} started following you`,
        sender: { id: cat.id },
      },
    });
    // reading it is a change too: the count goes down on every device
    await api.sql(
      `update app_public.notifications set is_read = true, read_at = now() where recipient_id = $1`,
      [dan.id],
    );
    expect((await sub.event(1)).unreadCount).toBe(0);
  });
});

describe("myConversationsUpdated", () => {
  it("tells you that a conversation you belong to got a message or changed", async () => {
    const chat = await groupChat(ana, [ben]);
    const sub = await live<{ conversation: { id: string; title: string }; reason: string }>(
      open(ben),
      `subscription { myConversationsUpdated { reason conversation { id title } } }`,
    );
    await send(ana, chat, "ping");
    expect(await sub.event(0)).toMatchObject({ reason: "message", conversation: { id: chat } });
    ok(
      await api.as(ana)(
        `mutation ($c: UUID!) { updateConversation(input: { id: $c, patch: { title: "Renamed" } }) { conversation { id } } }`,
        { c: chat },
      ),
    );
    expect(await sub.event(1)).toEqual({
      reason: "conversation",
      conversation: { id: chat, title: "Renamed" },
    });
  });
});

describe("many API instances", () => {
  it("delivers a message sent through instance B to a subscriber on instance A", async () => {
    const second = await startTestServer(api.db);
    try {
      const chat = await groupChat(ana, [ben]);
      const sub = await live<Msg>(open(ana, second), MESSAGE_ADDED, { c: chat }, second);
      const id = await send(ben, chat, "across instances"); // through api.server
      expect(await sub.event(0)).toMatchObject({ id, content: "across instances" });
    } finally {
      await second.close();
    }
  });
});

describe("the socket", () => {
  it("closes with 4401 when the access token expires", async () => {
    const tokens = tokenServiceFor(api.server.config);
    const ttl = api.server.config.auth.accessTokenTtlSeconds;
    // a token of ana's session that is valid for about one more second
    const { token, expiresAt } = tokens.sign(
      ana.id,
      tokens.verify(ana.accessToken).sessionId,
      new Date(Date.now() - (ttl - 1) * 1000),
    );
    const socket = connect(api.server, { authorization: `Bearer ${token}` });
    sockets.push(socket);
    const chat = await groupChat(ana, [ben]);
    await live(socket, MESSAGE_ADDED, { c: chat });
    const closed = await socket.closed;
    expect(closed).toEqual({ code: 4401, reason: "Access token expired" });
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAt.getTime() - 5);
  });

  it("refuses an invalid or expired token at connection with 4401 and the reason", async () => {
    const bad = connect(api.server, { authorization: "Bearer not-a-token" });
    sockets.push(bad);
    expect(await bad.closed).toEqual({ code: 4401, reason: "The access token is not valid" });
    const tokens = tokenServiceFor(api.server.config);
    const { token } = tokens.sign(ana.id, randomUUID(), new Date(Date.now() - 3600_000));
    const expired = connect(api.server, { authorization: `Bearer ${token}` });
    sockets.push(expired);
    expect(await expired.closed).toEqual({
      code: 4401,
      reason: "The access token has expired; refresh it",
    });
  });

  it("limits open sockets and running subscriptions per user", async () => {
    const limited = await startTestServer(api.db, {
      REALTIME_MAX_CONNECTIONS_PER_USER: "2",
      REALTIME_MAX_SUBSCRIPTIONS_PER_USER: "2",
    });
    try {
      const chat = await groupChat(ana, [ben]);
      const first = open(ana, limited);
      const second = open(ana, limited);
      await live(first, MESSAGE_ADDED, { c: chat }, limited);
      const held = await live(second, MESSAGE_ADDED, { c: chat }, limited);
      const third = open(ana, limited);
      expect(await third.closed).toEqual({
        code: 4429,
        reason: "Too many open connections (at most 2)",
      });

      const refused = first.subscribe(MESSAGE_UPDATED, { c: chat });
      expect((await refused.failed)?.[0]?.extensions).toMatchObject({
        code: "TOO_MANY_SUBSCRIPTIONS",
      });
      // ending one frees its place
      held.stop();
      await live(first, MESSAGE_UPDATED, { c: chat }, limited);
      // other users have their own allowance
      await live(open(ben, limited), MESSAGE_ADDED, { c: chat }, limited);
    } finally {
      await limited.close();
    }
  });

  it("ends the subscription of a client that falls too far behind, without holding anyone else up", async () => {
    const limited = await startTestServer(api.db, { REALTIME_MAX_QUEUED_EVENTS: "3" });
    try {
      const chat = await groupChat(ana, [ben]);
      const quiet = await groupChat(cat, [dan]);
      const flooded = await live<Msg>(open(ana, limited), MESSAGE_ADDED, { c: chat }, limited);
      const other = await live<Msg>(open(dan, limited), MESSAGE_ADDED, { c: quiet }, limited);
      // 30 messages committed at once: more than 3 wait for the client at the same moment
      await api.sql(
        `insert into app_public.messages (conversation_id, sender_id, content)
         select $1, $2, 'burst ' || i from generate_series(1, 30) i`,
        [chat, ben.id],
      );
      expect((await flooded.failed)?.[0]?.extensions).toMatchObject({ code: "CLIENT_TOO_SLOW" });
      // dan's subscription on the same server is unaffected
      const id = await send(cat, quiet, "still here");
      expect(await other.event(0)).toMatchObject({ id, content: "still here" });
    } finally {
      await limited.close();
    }
  });
});
