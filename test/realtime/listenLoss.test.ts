/**
 * Losing the LISTEN connection (it was terminated, or PostgreSQL restarted): every live
 * subscription ends with SUBSCRIPTION_INTERRUPTED, never a plain completion (the client would
 * not know it missed messages), and subscribing again listens again and delivers new messages.
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
  await Promise.all(sockets.splice(0).map((s) => s.dispose()));
});
afterAll(() => api.close());

const MESSAGE_ADDED = `subscription ($c: UUID!) { messageAdded(conversationId: $c) { id content } }`;
interface Added {
  id: string;
  content: string;
}

function open(account: TestAccount): LiveSocket {
  const socket = connect(api.server, { authorization: `Bearer ${account.accessToken}` });
  sockets.push(socket);
  return socket;
}

/** Subscribes and waits until the server is listening for it. */
async function live(socket: LiveSocket, conversationId: string): Promise<LiveSubscription<Added>> {
  const listening = api.server.log.next(/realtime: subscription live/);
  const subscription = socket.subscribe<Added>(MESSAGE_ADDED, { c: conversationId });
  await Promise.race([
    listening,
    subscription.failed.then((errors) => {
      throw new Error(`subscription failed: ${JSON.stringify(errors)}`);
    }),
  ]);
  return subscription;
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

/** How the subscription ended: its errors' codes, or "complete" for a plain completion. */
async function ending(subscription: LiveSubscription<Added>): Promise<unknown[] | "complete"> {
  return Promise.race([
    subscription.failed.then((errors) => (errors ?? []).map((e) => e.extensions?.code)),
    subscription.completed.then(() => "complete" as const),
  ]);
}

/** Terminates the server's LISTEN connection (its last statement was the LISTEN of `topic`). */
async function terminateListener(topic: string): Promise<number> {
  return withClient(api.db.superuserUrl, async (c) => {
    const { rows } = await c.query<{ pid: number }>(
      `select pid from pg_stat_activity
        where datname = current_database() and backend_type = 'client backend'
          and query = $1`,
      [`LISTEN ${pg.escapeIdentifier(topic)}`],
    );
    for (const { pid } of rows) await c.query(`select pg_terminate_backend($1)`, [pid]);
    return rows.length;
  });
}

/**
 * What the API sees of a database restart: every connection to the database is cut, and new
 * ones are refused for a while.
 */
async function restartDatabase(): Promise<void> {
  const name = pg.escapeIdentifier(api.db.name);
  await withClient(testCluster().superuserUrl, async (c) => {
    await c.query(`alter database ${name} allow_connections false`);
    try {
      await c.query(
        `select pg_terminate_backend(pid) from pg_stat_activity
          where datname = $1 and pid <> pg_backend_pid()`,
        [api.db.name],
      );
      // down for a moment: the API's reconnection attempts in this window fail
      await c.query(`select pg_sleep(0.5)`);
    } finally {
      await c.query(`alter database ${name} allow_connections true`);
    }
  });
}

/** After the loss: a new subscription on the same socket hears new messages again. */
async function resubscribeAndHear(socket: LiveSocket, conversationId: string): Promise<void> {
  const again = await live(socket, conversationId);
  const id = await send(conversationId, "after the loss");
  expect(await again.event(0)).toMatchObject({ id, content: "after the loss" });
}

test("a terminated LISTEN connection ends subscriptions with SUBSCRIPTION_INTERRUPTED", async () => {
  const conversationId = await chat();
  const socket = open(ana);
  const subscription = await live(socket, conversationId);
  const before = await send(conversationId, "before");
  expect(await subscription.event(0)).toMatchObject({ id: before });

  expect(await terminateListener(`conversation:${conversationId}`)).toBe(1);
  expect(await ending(subscription)).toEqual(["SUBSCRIPTION_INTERRUPTED"]);

  await resubscribeAndHear(socket, conversationId);
});

test("a database restart ends subscriptions with SUBSCRIPTION_INTERRUPTED", async () => {
  const conversationId = await chat();
  const socket = open(ana);
  const subscription = await live(socket, conversationId);

  await restartDatabase();
  expect(await ending(subscription)).toEqual(["SUBSCRIPTION_INTERRUPTED"]);

  // the websocket itself survived the restart; the same socket subscribes again
  await resubscribeAndHear(socket, conversationId);
});
