/**
 * Realtime latency: `subscribers` websockets (graphql-ws, one user each) subscribed to
 * `messageAdded` of group conversations made for the run (`membersPerChat` people each); then
 * `messages` are sent through the API's `sendMessage`, a few at a time, and every subscriber's
 * receipt is timed from just before the mutation was sent. Everyone must be live first: a
 * warm-up message per conversation has to reach every member before the clock starts.
 */
import { performance } from "node:perf_hooks";

import { createClient, type Client } from "graphql-ws";
import pg from "pg";
import WebSocket from "ws";

import { LatencyHistogram, type Percentiles } from "./stats.ts";

/** How long the warm-up waits for every subscriber to receive a first message. */
const WARM_UP_LIMIT_MS = 60_000;

export interface RealtimeOptions {
  ownerUrl: string;
  apiUrl: string;
  userIds: string[];
  sign: (userId: string) => string;
  subscribers: number;
  membersPerChat: number;
  messages: number;
  /** Mutations in flight at once. */
  concurrency: number;
  /** Waits this long between sends (a paced stream, e.g. 100 ms); 0: as fast as `concurrency` allows. */
  intervalMs?: number;
}

export interface RealtimeResult {
  subscribers: number;
  conversations: number;
  messages: number;
  deliveries: number;
  missed: number;
  latencyMs: Percentiles;
  setupSeconds: number;
  /**
   * Database transactions committed during the measured phase, per message sent (the send's own
   * included; the API runs every statement in a transaction): the realtime cost per event.
   */
  transactionsPerMessage: number;
}

/** Transactions committed and rolled back in the database so far (pg_stat_database). */
async function transactions(ownerUrl: string): Promise<number> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    // statistics reach pg_stat_database within a second of each backend's transactions
    await new Promise((r) => setTimeout(r, 1500));
    await client.query(`select pg_stat_clear_snapshot()`);
    const { rows } = await client.query<{ n: string }>(
      `select (xact_commit + xact_rollback)::text as n from pg_stat_database where datname = current_database()`,
    );
    return Number(rows[0]!.n);
  } finally {
    await client.end();
  }
}

const SUBSCRIPTION = `subscription ($c: UUID!) { messageAdded(conversationId: $c) { id content sender { username } } }`;
const SEND = `mutation ($c: UUID!, $t: String!) { sendMessage(input: { conversationId: $c, content: $t }) { message { id } } }`;

async function makeChats(ownerUrl: string, members: string[][]): Promise<string[]> {
  const client = new pg.Client({ connectionString: ownerUrl });
  await client.connect();
  try {
    const ids: string[] = [];
    for (const group of members) {
      const { rows } = await client.query<{ id: string }>(
        `insert into app_public.conversations (conversation_type, title, created_by)
         values ('group', 'realtime benchmark', $1) returning id`,
        [group[0]],
      );
      const id = rows[0]!.id;
      await client.query(
        `insert into app_public.conversation_participants (conversation_id, user_id)
         select $1, unnest($2::uuid[]) on conflict do nothing`,
        [id, group],
      );
      ids.push(id);
    }
    return ids;
  } finally {
    await client.end();
  }
}

async function send(apiUrl: string, token: string, c: string, text: string): Promise<void> {
  const res = await fetch(`${apiUrl}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: SEND, variables: { c, t: text } }),
  });
  const body = (await res.json()) as { errors?: unknown[] };
  if (body.errors) throw new Error(`sendMessage failed: ${JSON.stringify(body.errors)}`);
}

/** Runs `tasks` with at most `limit` at a time. */
async function pooled(tasks: (() => Promise<void>)[], limit: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, tasks.length) }, async () => {
      while (next < tasks.length) await tasks[next++]!();
    }),
  );
}

export async function measureRealtime(o: RealtimeOptions): Promise<RealtimeResult> {
  const setupStarted = performance.now();
  const users = o.userIds.slice(0, o.subscribers);
  if (users.length < o.membersPerChat) throw new Error("not enough users for one conversation");
  const groups: string[][] = [];
  for (let i = 0; i + o.membersPerChat <= users.length; i += o.membersPerChat) {
    groups.push(users.slice(i, i + o.membersPerChat));
  }
  const chats = await makeChats(o.ownerUrl, groups);

  // one socket and one subscription per member; `arrived` resolves on the first warm-up event
  const sentAt = new Map<string, number>();
  const histogram = new LatencyHistogram();
  let deliveries = 0;
  let allDelivered: () => void = () => undefined;
  let expected = Number.POSITIVE_INFINITY;
  const clients: Client[] = [];
  const warm: Promise<void>[] = [];
  let failure: unknown = null;
  groups.forEach((group, g) => {
    for (const userId of group) {
      let firstEvent!: () => void;
      warm.push(new Promise<void>((resolve) => (firstEvent = resolve)));
      const client = createClient({
        url: `${o.apiUrl.replace(/^http/, "ws")}/graphql`,
        webSocketImpl: WebSocket,
        connectionParams: { authorization: `Bearer ${o.sign(userId)}` },
        lazy: false,
        retryAttempts: 0,
        onNonLazyError: () => undefined,
      });
      clients.push(client);
      client.subscribe<{ messageAdded: { content: string } | null }>(
        { query: SUBSCRIPTION, variables: { c: chats[g] } },
        {
          next: ({ data }) => {
            const content = data?.messageAdded?.content ?? "";
            if (content.startsWith("warm-up")) return firstEvent();
            const t0 = sentAt.get(content);
            if (t0 === undefined) return;
            histogram.record(performance.now() - t0);
            deliveries += 1;
            if (deliveries >= expected) allDelivered();
          },
          error: (error) => {
            failure ??= error;
          },
          complete: () => undefined,
        },
      );
    }
  });
  try {
    // warm-up: resend until every member has seen one (a subscription may still be starting)
    const everyoneLive = Promise.all(warm);
    let live = false;
    void everyoneLive.then(() => (live = true));
    // bounded by time, not attempts: on a loaded machine (the test suite's parallel files) a
    // subscription can take seconds to start listening (src/realtime/hub.ts allows 10 s)
    const warmUpStarted = performance.now();
    for (let attempt = 0; !live; attempt++) {
      if (failure !== null) throw new Error(`a subscription failed: ${JSON.stringify(failure)}`);
      if (performance.now() - warmUpStarted > WARM_UP_LIMIT_MS) {
        throw new Error(`subscribers did not all go live within ${WARM_UP_LIMIT_MS / 1000} s`);
      }
      await pooled(
        groups.map(
          (group, g) => () => send(o.apiUrl, o.sign(group[0]!), chats[g]!, `warm-up ${attempt}`),
        ),
        o.concurrency,
      );
      await Promise.race([everyoneLive, new Promise((r) => setTimeout(r, 200).unref())]);
    }
    const setupSeconds = (performance.now() - setupStarted) / 1000;

    expected = o.messages * o.membersPerChat;
    const transactionsBefore = await transactions(o.ownerUrl);
    const done = new Promise<void>((resolve) => (allDelivered = resolve));
    await pooled(
      Array.from({ length: o.messages }, (_, i) => async () => {
        const g = i % groups.length;
        const content = `m${i}`;
        const sender = groups[g]![i % o.membersPerChat]!;
        if (o.intervalMs) await new Promise((r) => setTimeout(r, o.intervalMs));
        sentAt.set(content, performance.now());
        await send(o.apiUrl, o.sign(sender), chats[g]!, content);
      }),
      o.intervalMs ? 1 : o.concurrency,
    );
    // at most 30 s more (the timer must not keep the process alive once all arrived)
    await Promise.race([done, new Promise((r) => setTimeout(r, 30_000).unref())]);
    if (failure !== null) throw new Error(`a subscription failed: ${JSON.stringify(failure)}`);
    // the measuring connection's own transactions (2) are left out
    const spent = (await transactions(o.ownerUrl)) - transactionsBefore - 2;
    return {
      subscribers: groups.length * o.membersPerChat,
      conversations: groups.length,
      messages: o.messages,
      deliveries,
      missed: expected - deliveries,
      latencyMs: histogram.percentiles(),
      setupSeconds: Math.round(setupSeconds * 10) / 10,
      transactionsPerMessage: Math.round((spent / o.messages) * 10) / 10,
    };
  } finally {
    await Promise.all(clients.map((c) => c.dispose()));
  }
}
