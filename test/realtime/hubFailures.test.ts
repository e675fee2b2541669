/**
 * Found by the chaos soak (soak/, issue #20): what a subscriber is told when the database fails
 * under it.
 *
 * - An event whose audience statement fails (the database restarting, a pool error) was dropped
 *   for every subscriber of the topic without a word: the subscription stayed open and the
 *   client held it for live though it had missed a message. It now ends with
 *   SUBSCRIPTION_INTERRUPTED (subscribe again and catch up by query).
 * - A websocket opened while the database is unreachable (its token's session cannot be checked)
 *   was closed with 4500 "Internal error" — which graphql-ws clients take as final, and an
 *   unhandled rejection in the soak's clients. It now closes with the standard 1013 "Try Again
 *   Later", which clients retry.
 */
import { randomUUID } from "node:crypto";

import pg from "pg";

import type { TestAccount } from "../helpers/accounts.ts";
import { ok, startApi, type Api } from "../helpers/api.ts";
import { withClient } from "../helpers/database.ts";
import { testCluster } from "../helpers/env.ts";
import { connect, type LiveSocket, type LiveSubscription } from "../helpers/realtime.ts";

let api: Api;
let ana: TestAccount;
let ben: TestAccount;
const sockets: LiveSocket[] = [];

beforeAll(async () => {
  api = await startApi();
  [ana, ben] = [await api.register(), await api.register()];
});
afterEach(async () => {
  await Promise.all(sockets.splice(0).map((s) => s.dispose().catch(() => undefined)));
});
afterAll(() => api.close());

const MESSAGE_ADDED = `subscription ($c: UUID!) { messageAdded(conversationId: $c) { id } }`;

function open(account: TestAccount): LiveSocket {
  const socket = connect(api.server, { authorization: `Bearer ${account.accessToken}` });
  sockets.push(socket);
  return socket;
}

async function chat(): Promise<string> {
  return ok<{ createGroupConversation: { conversation: { id: string } } }>(
    await api.as(ana)(
      `mutation ($t: String!, $p: [UUID]!) { createGroupConversation(input: { title: $t, participantIds: $p }) { conversation { id } } }`,
      { t: `chat ${randomUUID().slice(0, 6)}`, p: [ben.id] },
    ),
  ).createGroupConversation.conversation.id;
}

async function send(conversationId: string, content: string): Promise<string> {
  return ok<{ sendMessage: { message: { id: string } } }>(
    await api.as(ben)(
      `mutation ($c: UUID!, $t: String!) { sendMessage(input: { conversationId: $c, content: $t }) { message { id } } }`,
      { c: conversationId, t: content },
    ),
  ).sendMessage.message.id;
}

/** Subscribes and waits until the server is listening for it. */
async function live(
  socket: LiveSocket,
  conversationId: string,
): Promise<LiveSubscription<{ id: string }>> {
  const listening = api.server.log.next(/realtime: subscription live/);
  const subscription = socket.subscribe<{ id: string }>(MESSAGE_ADDED, { c: conversationId });
  await Promise.race([
    listening,
    subscription.failed.then((errors) => {
      throw new Error(`subscription failed: ${JSON.stringify(errors)}`);
    }),
  ]);
  return subscription;
}

const asOwner = <T>(fn: (c: pg.Client) => Promise<T>): Promise<T> =>
  withClient(api.db.superuserUrl, fn);

test("an event whose audience cannot be decided ends the subscription with SUBSCRIPTION_INTERRUPTED", async () => {
  const conversationId = await chat();
  const subscription = await live(open(ana), conversationId);
  const first = await send(conversationId, "heard");
  expect(await subscription.event(0)).toEqual({ id: first });

  // the audience statement fails for the next event (as it does while the database restarts)
  const audience = `function app_hidden.message_audience(uuid, uuid, uuid[])`;
  const decisionFailed = api.server.log.next(/could not decide an event's audience/);
  await asOwner((c) => c.query(`revoke execute on ${audience} from authenticated`));
  try {
    await send(conversationId, "missed");
    await decisionFailed;
  } finally {
    await asOwner((c) => c.query(`grant execute on ${audience} to authenticated`));
  }

  const ending = await Promise.race([
    subscription.failed.then((errors) => (errors ?? []).map((e) => e.extensions?.code)),
    subscription.completed.then(() => "complete"),
  ]);
  expect(ending).toEqual(["SUBSCRIPTION_INTERRUPTED"]);
  expect(subscription.events).toEqual([{ id: first }]);

  // subscribing again hears new messages
  const again = await live(open(ana), conversationId);
  const next = await send(conversationId, "after");
  expect(await again.event(0)).toEqual({ id: next });
});

test("a websocket opened while the database is unreachable is closed with 1013 (try again later)", async () => {
  // a session this instance has never seen: opening a socket with it asks the database
  const cleo = await api.register();
  const name = pg.escapeIdentifier(api.db.name);
  const closed = await withClient(testCluster().superuserUrl, async (c) => {
    await c.query(`alter database ${name} allow_connections false`);
    try {
      await c.query(
        `select pg_terminate_backend(pid) from pg_stat_activity
          where datname = $1 and pid <> pg_backend_pid()`,
        [api.db.name],
      );
      return await open(cleo).closed;
    } finally {
      await c.query(`alter database ${name} allow_connections true`);
    }
  });
  expect(closed).toEqual({ code: 1013, reason: "Sessions cannot be checked right now; try again" });

  // once the database answers, the same token connects and subscribes
  const conversationId = await chat();
  await live(open(ana), conversationId);
  const socket = open(cleo);
  const refused = socket.subscribe(MESSAGE_ADDED, { c: conversationId });
  // cleo is not in the chat: a normal refusal proves the socket was accepted this time
  expect((await refused.failed)?.map((e) => e.extensions?.code)).toEqual(["FORBIDDEN"]);
});
