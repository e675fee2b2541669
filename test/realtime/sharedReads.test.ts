/**
 * One event, however many subscribers: the instance decides who may see a new message in one
 * statement and reads the payload for all of them in one more (src/realtime/sharedReads.ts),
 * while every subscriber still gets the payload as their own row-level security makes it
 * (viewer-dependent fields included).
 */
import { randomUUID } from "node:crypto";

import type pg from "pg";

import type { TestAccount } from "../helpers/accounts.ts";
import { ok, startApi, type Api } from "../helpers/api.ts";
import { connect, type LiveSocket, type LiveSubscription } from "../helpers/realtime.ts";
import { startTestServer } from "../helpers/server.ts";

let api: Api;
const sockets: LiveSocket[] = [];

beforeAll(async () => {
  api = await startApi();
});
afterAll(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.dispose()));
  await api.close();
});

/** One messageAdded event as the subscriber sees it. */
interface Added {
  id: string;
  content: string;
  sender: { username: string; viewerIsFollowing: boolean | null };
  conversation: { viewerParticipant: { userId: string } | null };
}
const MESSAGE_ADDED = `subscription ($c: UUID!) { messageAdded(conversationId: $c) {
  id content sender { username viewerIsFollowing } conversation { viewerParticipant { userId } } } }`;

/** What the API instance's pool does: checkouts (one per transaction) and statements sent. */
function countPool(pool: pg.Pool) {
  const counted = new WeakSet<pg.PoolClient>();
  const seen = { checkouts: 0, statements: [] as string[], on: false };
  pool.on("acquire", (client) => {
    if (seen.on) seen.checkouts += 1;
    if (counted.has(client)) return;
    counted.add(client);
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as unknown as { query: (...args: unknown[]) => unknown }).query = (...args) => {
      const first = args[0] as string | { text: string };
      if (seen.on) seen.statements.push(typeof first === "string" ? first : first.text);
      return query(...args);
    };
  });
  return seen;
}

const CONTROL = /^\s*(begin|commit|rollback|select set_config\(el->>0)/i;

describe("a message to a conversation with several subscribers on one instance", () => {
  it("costs two statements, and each subscriber gets their own view of it", async () => {
    const [ana, ben, cat, dan, eve] = (await Promise.all(
      Array.from({ length: 5 }, () => api.register()),
    )) as [TestAccount, TestAccount, TestAccount, TestAccount, TestAccount];
    ok(
      await api.as(ben)(
        `mutation ($u: UUID!) { followUser(input: { userId: $u }) { clientMutationId } }`,
        {
          u: ana.id,
        },
      ),
    );
    const chat = ok<{ createGroupConversation: { conversation: { id: string } } }>(
      await api.as(ana)(
        `mutation ($t: String!, $p: [UUID]!) { createGroupConversation(input: { title: $t, participantIds: $p }) { conversation { id } } }`,
        { t: `shared ${randomUUID().slice(0, 6)}`, p: [ben.id, cat.id, dan.id, eve.id] },
      ),
    ).createGroupConversation.conversation.id;

    const subscribers = [ana, ben, cat, dan, eve];
    const subscriptions: LiveSubscription<Added>[] = [];
    for (const account of subscribers) {
      const socket = connect(api.server, { authorization: `Bearer ${account.accessToken}` });
      sockets.push(socket);
      const listening = api.server.log.next(/realtime: subscription live/);
      subscriptions.push(socket.subscribe<Added>(MESSAGE_ADDED, { c: chat }));
      await listening;
    }
    const insert = (content: string) =>
      api.sql(
        `insert into app_public.messages (conversation_id, sender_id, content) values ($1, $2, $3)`,
        [chat, ana.id, content],
      );
    // the first event also describes the statement once (its column types)
    await insert("warm-up");
    await Promise.all(subscriptions.map((s) => s.event(0)));

    const pool = api.server.pgl.getResolvedPreset().pgServices![0]!.adaptorSettings!
      .pool as pg.Pool;
    const seen = countPool(pool);
    seen.on = true;
    await insert("hello, five");
    const received = await Promise.all(subscriptions.map((s) => s.event(1)));
    seen.on = false;

    // row-level security judged each subscriber's payload on its own
    received.forEach((r, i) => {
      expect(r.content).toBe("hello, five");
      expect(r.sender.username).toBe(ana.username);
      expect(r.conversation.viewerParticipant?.userId).toBe(subscribers[i]!.id);
    });
    expect(received.map((r) => r.sender.viewerIsFollowing)).toEqual([
      false,
      true,
      false,
      false,
      false,
    ]);

    // one transaction for the audience, one for every subscriber's read
    const queries = seen.statements.filter((s) => !CONTROL.test(s));
    expect(queries).toHaveLength(2);
    expect(queries[0]).toMatch(/message_audience/);
    expect(queries[1]).toMatch(/read_as_each/);
    expect(seen.checkouts).toBe(2);
  });
});

describe("a group conversation whose subscribers are split over two instances", () => {
  it("costs each instance two statements per message, sent every 100 ms", async () => {
    const second = await startTestServer(api.db);
    try {
      const members = await Promise.all(Array.from({ length: 20 }, () => api.register()));
      const [owner, ...others] = members as [TestAccount, ...TestAccount[]];
      const chat = ok<{ createGroupConversation: { conversation: { id: string } } }>(
        await api.as(owner)(
          `mutation ($t: String!, $p: [UUID]!) { createGroupConversation(input: { title: $t, participantIds: $p }) { conversation { id } } }`,
          { t: `split ${randomUUID().slice(0, 6)}`, p: others.map((o) => o.id) },
        ),
      ).createGroupConversation.conversation.id;
      const servers = [api.server, second];
      const subscriptions: LiveSubscription<Added>[] = [];
      for (const [i, account] of members.entries()) {
        const server = servers[i % 2]!;
        const socket = connect(server, { authorization: `Bearer ${account.accessToken}` });
        sockets.push(socket);
        const listening = server.log.next(/realtime: subscription live/);
        subscriptions.push(socket.subscribe<Added>(MESSAGE_ADDED, { c: chat }));
        await listening;
      }
      const send = async (n: number, content: string) =>
        ok(
          await (
            await servers[n % 2]!.graphql(
              `mutation ($c: UUID!, $t: String!) { sendMessage(input: { conversationId: $c, content: $t }) { message { id } } }`,
              { c: chat, t: content },
              { token: members[n]!.accessToken },
            )
          ).body,
        );
      await send(0, "warm-up");
      await Promise.all(subscriptions.map((s) => s.event(0)));

      const seen = servers.map((s) =>
        countPool(s.pgl.getResolvedPreset().pgServices![0]!.adaptorSettings!.pool as pg.Pool),
      );
      for (const s of seen) s.on = true;
      const messages = ["one", "two", "three", "four", "five", "six"];
      for (const [m, message] of messages.entries()) {
        await send(m + 1, message);
        await new Promise((r) => setTimeout(r, 100));
      }
      await Promise.all(subscriptions.map((s) => s.event(messages.length)));
      for (const s of seen) s.on = false;
      // per message and instance: one audience statement and one shared read, nothing alone
      for (const s of seen) {
        const reads = s.statements.filter(
          (q) => !CONTROL.test(q) && !/send_message|^\s*set /.test(q),
        );
        expect(reads.filter((q) => /message_audience/.test(q))).toHaveLength(messages.length);
        expect(reads.filter((q) => /read_as_each/.test(q))).toHaveLength(messages.length);
        expect(reads).toHaveLength(2 * messages.length);
      }
    } finally {
      await second.close();
    }
  });
});
