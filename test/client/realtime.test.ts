/**
 * Subscriptions through the typed client outlive the access token: the server closes the socket
 * with 4401 when the token it was opened with expires; the client reconnects with a fresh token
 * and subscribes again, and messages sent after that arrive. Tokens here expire seconds from now
 * (tokenExpiringIn), on a 60 s lifetime.
 */
import {
  MessageAddedDocument,
  SendMessageDocument,
  StartDirectConversationDocument,
  type ConnectionEvent,
  type MessageAddedSubscription,
  type MkingClient,
} from "../../clients/typescript/src/index.ts";
import type { TestAccount } from "../helpers/accounts.ts";
import { startApi, type Api } from "../helpers/api.ts";
import { clientFor, closeClients, tokenExpiringIn } from "./clients.ts";

let api: Api;

beforeAll(async () => {
  api = await startApi({ ACCESS_TOKEN_TTL_SECONDS: "60" });
});
afterEach(closeClients);
afterAll(() => api.close());

type Message = NonNullable<MessageAddedSubscription["messageAdded"]>;

/** A live messageAdded subscription: its events, each awaited by index. */
function listen(client: MkingClient, conversationId: string) {
  const events: Message[] = [];
  const waiting = new Map<number, (m: Message) => void>();
  let resubscribed = 0;
  let failed: unknown = null;
  let onFailure!: (error: unknown) => void;
  const failure = new Promise<unknown>((resolve) => (onFailure = resolve));
  const live = api.server.log.next(/realtime: subscription live/);
  client.subscribe(
    MessageAddedDocument,
    { conversationId },
    {
      next: ({ messageAdded }) => {
        if (!messageAdded) return;
        events.push(messageAdded);
        waiting.get(events.length - 1)?.(messageAdded);
      },
      error: (error) => {
        failed = error;
        onFailure(error);
      },
      resubscribed: () => {
        resubscribed += 1;
      },
    },
  );
  return {
    live,
    failure,
    event: (i: number) =>
      events[i] ? Promise.resolve(events[i]) : new Promise<Message>((r) => waiting.set(i, r)),
    get resubscribed() {
      return resubscribed;
    },
    get failed() {
      return failed;
    },
  };
}

function closes(client: MkingClient): ConnectionEvent[] {
  const events: ConnectionEvent[] = [];
  client.onConnection((event) => events.push(event));
  return events;
}

async function conversation(a: MkingClient, b: TestAccount): Promise<string> {
  const { startDirectConversation } = await a.request(StartDirectConversationDocument, {
    userId: b.id,
  });
  return startDirectConversation!.conversation!.id;
}

async function say(client: MkingClient, conversationId: string, content: string) {
  const { sendMessage } = await client.request(SendMessageDocument, { conversationId, content });
  return sendMessage!.message!.id;
}

it.each([
  { refresh: "ahead of expiry (timer)", autoRefresh: true },
  { refresh: "when the socket is closed (4401)", autoRefresh: false },
])("a subscription survives the token's expiry, refreshed $refresh", async ({ autoRefresh }) => {
  const [anaAccount, benAccount] = [await api.register(), await api.register()];
  const ben = clientFor(api, benAccount);
  const chat = await conversation(ben, anaAccount);
  // ana's token is minted last, with 10 s left; with a margin of 0.04 (2.4 s) the timer
  // refreshes at ~7.6 s. The socket opened with it is closed at its expiry either way.
  const ana = clientFor(api, anaAccount, {
    accessToken: tokenExpiringIn(api, anaAccount, 10),
    refreshMargin: 0.04,
    autoRefresh,
  });
  let refreshed = 0;
  ana.onSessionChange((change) => {
    if (change === "refreshed") refreshed += 1;
  });
  const connection = closes(ana);

  const sub = listen(ana, chat);
  await sub.live;
  // watched from here on, so a slow machine cannot let the resubscription pass unseen
  const relive = api.server.log.next(/realtime: subscription live/);
  const before = await say(ben, chat, "before the expiry");
  expect(await sub.event(0)).toMatchObject({ id: before, content: "before the expiry" });

  // at expiry the server closes the socket; the client reconnects and subscribes again
  await relive;
  expect(connection).toContainEqual({
    type: "closed",
    code: 4401,
    reason: "Access token expired",
  });
  expect(sub.resubscribed).toBe(1);
  expect(refreshed).toBe(1); // one refresh either way, never one per subscription or socket

  const after = await say(ben, chat, "after the refresh");
  expect(await sub.event(1)).toMatchObject({
    id: after,
    content: "after the refresh",
    sender: { id: benAccount.id },
  });
  expect(sub.failed).toBeNull();
});

it("ends the subscription with UNAUTHENTICATED when the session is over", async () => {
  const [anaAccount, benAccount] = [await api.register(), await api.register()];
  const ana = clientFor(api, anaAccount);
  const ben = clientFor(api, benAccount);
  const chat = await conversation(ben, anaAccount);
  const sub = listen(ana, chat);
  await sub.live;
  const signedOut = new Promise<void>((resolve) =>
    ana.onSessionChange((change) => change === "signed-out" && resolve()),
  );
  // the session ends elsewhere (another device signs out with the same refresh token)
  await clientFor(api, anaAccount).signOut();
  expect(await sub.failure).toMatchObject({ code: "UNAUTHENTICATED" });
  await signedOut;
  expect(ana.session).toBeNull();
});
