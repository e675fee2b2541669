/**
 * Immediate sign-out over websockets: when a session ends, its open sockets close with 4401 on
 * every API instance within a second, and a token of an ended or unknown session is refused at
 * connection.
 */
import { randomUUID } from "node:crypto";

import { SESSION_ENDED_MESSAGE } from "../../src/auth/tokens.ts";
import { tokenServiceFor } from "../../src/server.ts";
import type { TestAccount } from "../helpers/accounts.ts";
import { ok, startApi, type Api } from "../helpers/api.ts";
import { connect, type LiveSocket } from "../helpers/realtime.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let api: Api;
let second: TestServer;
const sockets: LiveSocket[] = [];

beforeAll(async () => {
  api = await startApi();
  second = await startTestServer(api.db);
});
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.dispose()));
});
afterAll(async () => {
  await second.close();
  await api.close();
});

const NOTIFICATIONS = `subscription { notificationAdded { id } }`;

function open(token: string, server: TestServer): LiveSocket {
  const socket = connect(server, { authorization: `Bearer ${token}` });
  sockets.push(socket);
  return socket;
}

/** Opens a socket and waits until the server has accepted it (a subscription is running). */
async function openAccepted(account: TestAccount, server: TestServer): Promise<LiveSocket> {
  const socket = open(account.accessToken, server);
  await new Promise<void>((resolve, reject) => {
    socket.client.on("connected", () => resolve());
    void socket.closed.then((c) => reject(new Error(`closed: ${c.code} ${c.reason}`)));
  });
  return socket;
}

describe("sockets of a session that ends", () => {
  it("close with 4401 on every instance within a second", async () => {
    const ana = await api.register();
    const onFirst = await openAccepted(ana, api.server);
    const onSecond = await openAccepted(ana, second);
    onFirst.subscribe(NOTIFICATIONS);
    onSecond.subscribe(NOTIFICATIONS);
    const started = Date.now();
    ok(await api.as(ana)(`mutation { logoutEverywhere { success } }`));
    const closed = await Promise.all([onFirst.closed, onSecond.closed]);
    expect(Date.now() - started).toBeLessThanOrEqual(1000);
    expect(closed).toEqual([
      { code: 4401, reason: SESSION_ENDED_MESSAGE },
      { code: 4401, reason: SESSION_ENDED_MESSAGE },
    ]);
  });

  it("leave the sockets of other people open", async () => {
    const [ana, ben, cat] = [await api.register(), await api.register(), await api.register()];
    const chat = ok<{ createGroupConversation: { conversation: { id: string } } }>(
      await api.as(cat)(
        `mutation ($p: [UUID]!) { createGroupConversation(input: { title: "still here", participantIds: $p }) { conversation { id } } }`,
        { p: [ben.id] },
      ),
    ).createGroupConversation.conversation.id;
    const anas = await openAccepted(ana, second);
    const bens = await openAccepted(ben, second);
    const listening = second.log.next(/realtime: subscription live/);
    const sub = bens.subscribe<{ content: string }>(
      `subscription ($c: UUID!) { messageAdded(conversationId: $c) { content } }`,
      { c: chat },
    );
    await listening;
    ok(await api.as(ana)(`mutation { logoutEverywhere { success } }`));
    expect(await anas.closed).toEqual({ code: 4401, reason: SESSION_ENDED_MESSAGE });
    // ben's socket still delivers
    ok(
      await api.as(cat)(
        `mutation ($c: UUID!) { sendMessage(input: { conversationId: $c, content: "after" }) { message { id } } }`,
        { c: chat },
      ),
    );
    expect(await sub.event(0)).toEqual({ content: "after" });
  });
});

describe("connecting", () => {
  it("refuses a token whose session has ended, or never existed, with 4401", async () => {
    const ana = await api.register();
    ok(await api.as(ana)(`mutation { logoutEverywhere { success } }`));
    // the first instance may not have heard yet: it asks the database
    expect(await open(ana.accessToken, second).closed).toEqual({
      code: 4401,
      reason: SESSION_ENDED_MESSAGE,
    });
    const tokens = tokenServiceFor(second.config);
    const forged = tokens.sign(randomUUID(), randomUUID()).token;
    expect(await open(forged, api.server).closed).toEqual({
      code: 4401,
      reason: SESSION_ENDED_MESSAGE,
    });
  });
});
