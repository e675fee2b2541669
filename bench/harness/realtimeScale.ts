/**
 * Realtime at scale (issue #15): `subscribers` websockets (one user each, light clients in two
 * child processes: bench/harness/realtimeClients.ts) subscribed to `messageAdded` of group
 * conversations made for the scenario, spread over one or two API instances; messages are sent
 * through `sendMessage` (a few in flight at once, or one every `intervalMs`) and each receipt is
 * timed from the send time written into the message.
 *
 * Besides latency and what was missed, it reports the database's side per message sent, from
 * pg_stat_statements (top-level statements only: what the API sends) and pg_stat_database:
 * audience statements, shared payload reads (app_hidden.read_as_each), other statements
 * (payload reads run alone, probes), transactions, and every statement by kind (presence writes
 * apart, so what spills over from a scenario's sockets shows); and the API pool's waiting
 * clients, sampled from each instance's /metrics every 100 ms.
 *
 * Between scenarios, presence settles: after a scenario's sockets close, the next one waits until
 * every one of its users has a last-seen time from after the close (app_hidden.record_last_seen,
 * one write per user, queued on each instance's presence connection), so those writes are done
 * before the next measurement starts.
 */
import { fork, type ChildProcess } from "node:child_process";
import path from "node:path";

import pg from "pg";

import type { ChildMessage, ParentMessage, Subscriber } from "./realtimeClients.ts";
import { now } from "./realtimeClients.ts";
import { monotonicMicros } from "./cpuProfile.ts";
import { LatencyHistogram, type Percentiles } from "./stats.ts";

export interface ScaleScenario {
  id: string;
  label: string;
  conversations: number;
  membersPerChat: number;
  messages: number;
  /** Sends in flight at once (ignored with intervalMs). */
  concurrency: number;
  /** One message every this many ms. */
  intervalMs?: number;
  /** API instances the subscribers are spread over (round robin). */
  instances: 1 | 2;
}

export interface ApiInstance {
  url: string;
  metricsUrl: string;
  /** Its process id (its CPU profile is named by it: bench/realtime.ts --profile). */
  pid?: number;
}

export interface ScaleContext {
  ownerUrl: string;
  /** Superuser URL of the benchmark database (pg_stat_statements), null: not measured. */
  rootUrl: string | null;
  apis: ApiInstance[];
  /** Active users to draw subscribers from. */
  userIds: string[];
  sign: (userId: string) => string;
  say: (line: string) => void;
}

export interface DatabaseCost {
  /** Per message sent, over all instances. */
  audience: number;
  sharedReads: number;
  /**
   * Statements other than transaction control and setup, the send, the audience, shared reads,
   * presence and the benchmark's own metrics scrapes: payload reads run alone, describes, ….
   */
  other: number;
  /** Presence notices, heartbeats and last-seen writes (not the event's cost; a spill-over shows). */
  presence: number;
  /** The send mutation's own statements (its SQL; control statements excluded). */
  send: number;
  /** Audience + shared reads + other, per message and instance: the realtime cost of an event. */
  perEventPerInstance: number;
  transactions: number;
  /** Statements per message by kind (all instances, control statements excluded), most first. */
  byKind: Record<string, number>;
}

export interface PoolWait {
  /** Most clients waiting for a pool connection in one sample, over the instances. */
  maxWaiting: number;
  meanWaiting: number;
  /** Share of samples (0..1) with anyone waiting. */
  samplesWaiting: number;
  samples: number;
}

export interface ScaleResult {
  id: string;
  label: string;
  instances: number;
  subscribers: number;
  conversations: number;
  messages: number;
  expected: number;
  received: number;
  missed: number;
  failed: number;
  errors: string[];
  latencyMs: Percentiles;
  /**
   * The sender's side of the same messages: send → the mutation's answer (the message stored,
   * its event published). What send → receive adds to it is the realtime path: LISTEN, the
   * audience, the shared read, the socket.
   */
  ackMs: Percentiles;
  setupSeconds: number;
  sendSeconds: number;
  database: DatabaseCost | null;
  pool: PoolWait;
  /** The measured phase (first send → last receipt) on the CPU profiles' clock (µs, monotonic). */
  windowMicros: [number, number];
  /** Where the instances' CPU went in that phase (bench/realtime.ts --profile), else absent. */
  apiCpu?: ApiCpu;
}

/** The API instances' CPU in a scenario's measured phase, from their CPU profiles. */
export interface ApiCpu {
  /** Busy milliseconds of the instances' main threads (one sample per millisecond). */
  busyMs: number;
  /** busyMs per event delivered to a subscriber, in microseconds. */
  perDeliveryMicros: number;
  /** Share of busyMs (%) by where the samples ran (bench/harness/cpuProfile.ts). */
  shares: Record<string, number>;
}

const SEND = `mutation ($c: UUID!, $t: String!) { sendMessage(input: { conversationId: $c, content: $t }) { message { id } } }`;

async function withClient<T>(url: string, f: (c: pg.Client) => Promise<T>): Promise<T> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    return await f(client);
  } finally {
    await client.end();
  }
}

async function makeChats(ownerUrl: string, groups: string[][]): Promise<string[]> {
  return withClient(ownerUrl, async (client) => {
    const ids: string[] = [];
    for (const group of groups) {
      // two statements: a trigger may already add the creator when the conversation is made
      const { rows } = await client.query<{ id: string }>(
        `insert into app_public.conversations (conversation_type, title, created_by)
         values ('group', 'realtime scale benchmark', $1) returning id`,
        [group[0]],
      );
      await client.query(
        `insert into app_public.conversation_participants (conversation_id, user_id)
         select $1, unnest($2::uuid[]) on conflict do nothing`,
        [rows[0]!.id, group],
      );
      ids.push(rows[0]!.id);
    }
    return ids;
  });
}

/** Sends one message; resolves with how long the mutation took (send → acknowledged), ms. */
async function send(apiUrl: string, token: string, c: string, text: string): Promise<number> {
  const started = now();
  const res = await fetch(`${apiUrl}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
    body: JSON.stringify({ query: SEND, variables: { c, t: text } }),
  });
  const body = (await res.json()) as { errors?: unknown[] };
  if (body.errors) throw new Error(`sendMessage failed: ${JSON.stringify(body.errors)}`);
  return now() - started;
}

async function pooled(tasks: (() => Promise<unknown>)[], limit: number): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(limit, tasks.length) }, async () => {
      while (next < tasks.length) await tasks[next++]!();
    }),
  );
}

/** A load client process and a way to ask it something and await its answer. */
class Clients {
  readonly #child: ChildProcess;
  readonly #waiting = new Map<string, (m: ChildMessage) => void>();

  constructor() {
    this.#child = fork(path.join(import.meta.dirname, "realtimeClients.ts"), [], {
      execArgv: process.execArgv,
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    });
    this.#child.on("message", (m: ChildMessage) => {
      const resolve = this.#waiting.get(m.type);
      this.#waiting.delete(m.type);
      resolve?.(m);
    });
  }

  ask<T extends ChildMessage["type"]>(
    message: ParentMessage,
    answer: T,
  ): Promise<Extract<ChildMessage, { type: T }>> {
    return new Promise((resolve) => {
      this.#waiting.set(answer, resolve as (m: ChildMessage) => void);
      this.#child.send(message);
    });
  }

  async close(): Promise<void> {
    if (this.#child.exitCode !== null) return;
    const exited = new Promise<void>((resolve) => this.#child.once("exit", () => resolve()));
    this.#child.send({ type: "close" } satisfies ParentMessage);
    const timer = setTimeout(() => this.#child.kill("SIGKILL"), 5000);
    await exited;
    clearTimeout(timer);
  }
}

/** Samples the API pools' waiting clients every 100 ms until stopped. */
function samplePools(apis: ApiInstance[]): () => Promise<PoolWait> {
  const samples: number[] = [];
  let stopped = false;
  const loop = (async () => {
    while (!stopped) {
      const waiting = await Promise.all(
        apis.map(async (a) => {
          try {
            const text = await (await fetch(a.metricsUrl)).text();
            const m = /mking_pg_pool_connections\{pool="api",state="waiting"\} (\d+)/.exec(text);
            return m ? Number(m[1]) : 0;
          } catch {
            return 0;
          }
        }),
      );
      samples.push(waiting.reduce((s, w) => s + w, 0));
      await new Promise((r) => setTimeout(r, 100));
    }
  })();
  return async () => {
    stopped = true;
    await loop;
    const n = Math.max(samples.length, 1);
    return {
      maxWaiting: Math.max(0, ...samples),
      meanWaiting: Math.round((samples.reduce((s, w) => s + w, 0) / n) * 100) / 100,
      samplesWaiting: Math.round((samples.filter((w) => w > 0).length / n) * 100) / 100,
      samples: samples.length,
    };
  };
}

interface StatementRow {
  query: string;
  calls: string;
}

const CONTROL = /^\s*(begin|commit|rollback|select set_config\(el->>\$1, el->>\$2, \$3\))/i;

async function statementsSince(rootUrl: string): Promise<StatementRow[]> {
  return withClient(rootUrl, async (c) => {
    const { rows } = await c.query<StatementRow>(
      `select query, calls::text from pg_stat_statements
        where dbid = (select oid from pg_database where datname = current_database())
          and query not ilike '%pg_stat_%'`,
    );
    return rows;
  });
}

async function transactions(ownerUrl: string): Promise<number> {
  return withClient(ownerUrl, async (c) => {
    // statistics reach pg_stat_database within a second of each backend's transactions
    await new Promise((r) => setTimeout(r, 1500));
    const { rows } = await c.query<{ n: string }>(
      `select (xact_commit + xact_rollback)::text as n from pg_stat_database where datname = current_database()`,
    );
    return Number(rows[0]!.n);
  });
}

/** Statement kinds, the first that matches names a statement (pg_stat_statements' text). */
const KINDS: [string, RegExp][] = [
  ["audience", /_audience\(/],
  ["shared read", /read_as_each/],
  ["send", /send_message/i],
  ["presence", /record_last_seen|pg_notify/],
  ["describe (column types)", /as shared_read limit 0/],
  ["payload read alone", /^\s*select\b[\s\S]*\bfrom "app_public"\./],
  // a transaction's role and claims (pg_stat_statements numbers the constants: not CONTROL)
  ["settings (transaction setup)", /^\s*(select set_config|set )/i],
  // the bench's own /metrics sampling (samplePools), not the API's work for the messages
  ["metrics scrape", /task_identifier|pg_is_in_recovery|pg_total_relation_size/],
];

/** A statement's kind: a known one, else its first words. */
function kindOf(query: string): string {
  for (const [kind, pattern] of KINDS) if (pattern.test(query)) return kind;
  return `other: ${query.replace(/\s+/g, " ").trim().slice(0, 60)}`;
}

function costOf(
  rows: StatementRow[],
  messages: number,
  instances: number,
  spent: number,
): DatabaseCost {
  const calls = new Map<string, number>();
  for (const r of rows) {
    if (CONTROL.test(r.query)) continue;
    const kind = kindOf(r.query);
    calls.set(kind, (calls.get(kind) ?? 0) + Number(r.calls));
  }
  const per = (n: number): number => Math.round((n / messages) * 100) / 100;
  const of = (kind: string): number => calls.get(kind) ?? 0;
  const known = new Set([
    "audience",
    "shared read",
    "send",
    "presence",
    "settings (transaction setup)",
    "metrics scrape",
  ]);
  const other = [...calls].reduce((n, [k, c]) => (known.has(k) ? n : n + c), 0);
  const byKind = Object.fromEntries(
    [...calls].sort((a, b) => b[1] - a[1]).map(([k, c]) => [k, per(c)] as const),
  );
  return {
    audience: per(of("audience")),
    sharedReads: per(of("shared read")),
    other: per(other),
    presence: per(of("presence")),
    send: per(of("send")),
    perEventPerInstance: per((of("audience") + of("shared read") + other) / instances),
    transactions: per(spent),
    byKind,
  };
}

/** The database's clock (last-seen times are written with it). */
async function databaseNow(ownerUrl: string): Promise<string> {
  return withClient(ownerUrl, async (c) => {
    const { rows } = await c.query<{ at: string }>(`select clock_timestamp()::text as at`);
    return rows[0]!.at;
  });
}

/**
 * Waits until every user in `userIds` has a last-seen time from `since` on: their sockets closed
 * and each instance has stored them offline (its presence writes for them are done). Gives up,
 * saying so, after `timeoutMs`.
 */
async function presenceSettled(
  ctx: ScaleContext,
  id: string,
  userIds: string[],
  since: string,
  timeoutMs = 120_000,
): Promise<void> {
  const started = now();
  await withClient(ctx.ownerUrl, async (c) => {
    for (;;) {
      const { rows } = await c.query<{ n: string }>(
        `select count(*)::text as n from app_private.last_seen
          where user_id = any($1::uuid[]) and seen_at >= $2::timestamptz`,
        [userIds, since],
      );
      const stored = Number(rows[0]!.n);
      if (stored >= userIds.length) break;
      if (now() - started > timeoutMs) {
        ctx.say(`${id}: presence did not settle (${stored} of ${userIds.length} offline)`);
        return;
      }
      await new Promise((r) => setTimeout(r, 200));
    }
    ctx.say(`${id}: presence settled in ${((now() - started) / 1000).toFixed(1)} s`);
  });
}

export async function measureScale(ctx: ScaleContext, s: ScaleScenario): Promise<ScaleResult> {
  const setupStarted = now();
  const subscribers = s.conversations * s.membersPerChat;
  if (ctx.userIds.length < subscribers) {
    throw new Error(`${s.id}: needs ${subscribers} users, the data set has ${ctx.userIds.length}`);
  }
  const apis = ctx.apis.slice(0, s.instances);
  const users = [...ctx.userIds].sort(() => Math.random() - 0.5).slice(0, subscribers);
  const groups: string[][] = [];
  for (let i = 0; i < s.conversations; i++) {
    groups.push(users.slice(i * s.membersPerChat, (i + 1) * s.membersPerChat));
  }
  ctx.say(`${s.id}: ${s.conversations} conversations × ${s.membersPerChat}`);
  const chats = await makeChats(ctx.ownerUrl, groups);

  // two load processes, each with half of the subscribers; subscribers alternate instances
  const all: Subscriber[] = groups.flatMap((group, g) =>
    group.map((userId, k) => ({
      url: `${apis[(g * s.membersPerChat + k) % apis.length]!.url.replace(/^http/, "ws")}/graphql`,
      token: ctx.sign(userId),
      conversationId: chats[g]!,
    })),
  );
  const clients = [new Clients(), new Clients()];
  let closing: string | null = null;
  try {
    const halves = [all.filter((_, i) => i % 2 === 0), all.filter((_, i) => i % 2 === 1)];
    const opened = await Promise.all(
      clients.map((c, i) =>
        c.ask({ type: "open", subscribers: halves[i]!, handshakesAtOnce: 100 }, "opened"),
      ),
    );
    ctx.say(
      `${s.id}: ${subscribers} sockets open in ${Math.max(...opened.map((o) => o.seconds)).toFixed(1)} s`,
    );
    const status = () => Promise.all(clients.map((c) => c.ask({ type: "status" }, "status")));

    // warm-up: resend until every subscriber has seen one (a subscription may still be starting)
    for (let attempt = 0; ; attempt++) {
      const st = await status();
      const failedNow = st.reduce((n, x) => n + x.failed, 0);
      if (failedNow > 0) {
        throw new Error(`${s.id}: ${failedNow} subscribers failed: ${st[0]!.errors.join("; ")}`);
      }
      if (st.reduce((n, x) => n + x.warm, 0) === subscribers) break;
      if (attempt === 60) throw new Error(`${s.id}: subscribers did not all go live`);
      await pooled(
        groups.map(
          (group, g) => () =>
            send(apis[g % apis.length]!.url, ctx.sign(group[0]!), chats[g]!, `warm-up ${attempt}`),
        ),
        4,
      );
      await new Promise((r) => setTimeout(r, 500));
    }
    const setupSeconds = (now() - setupStarted) / 1000;
    ctx.say(`${s.id}: everyone live after ${setupSeconds.toFixed(1)} s; sending ${s.messages}`);

    // measured phase
    if (ctx.rootUrl) {
      await withClient(ctx.rootUrl, (c) => c.query(`select pg_stat_statements_reset()`));
    }
    const transactionsBefore = await transactions(ctx.ownerUrl);
    await Promise.all(clients.map((c) => c.ask({ type: "measure" }, "measure")));
    const stopSampling = samplePools(apis);
    const windowFrom = monotonicMicros();
    const sendStarted = now();
    const acks = new LatencyHistogram();
    await pooled(
      Array.from({ length: s.messages }, (_, i) => async () => {
        const g = i % groups.length;
        const sender = groups[g]![i % s.membersPerChat]!;
        if (s.intervalMs) {
          const due = sendStarted + i * s.intervalMs;
          if (due > now()) await new Promise((r) => setTimeout(r, due - now()));
        }
        acks.record(
          await send(apis[i % apis.length]!.url, ctx.sign(sender), chats[g]!, `m${i} ${now()}`),
        );
      }),
      s.intervalMs ? 4 : s.concurrency,
    );
    const sendSeconds = (now() - sendStarted) / 1000;
    const expected = s.messages * s.membersPerChat;
    const deadline = now() + 30_000;
    for (;;) {
      const st = await status();
      if (st.reduce((n, x) => n + x.received, 0) >= expected || now() > deadline) break;
      await new Promise((r) => setTimeout(r, 200));
    }
    const windowTo = monotonicMicros();
    const pool = await stopSampling();
    const collected = await Promise.all(clients.map((c) => c.ask({ type: "collect" }, "collect")));
    const spent = (await transactions(ctx.ownerUrl)) - transactionsBefore - 1;
    const database = ctx.rootUrl
      ? costOf(await statementsSince(ctx.rootUrl), s.messages, apis.length, spent)
      : null;
    const histogram = new LatencyHistogram();
    for (const c of collected) for (const l of c.latencies) histogram.record(l);
    const received = collected.reduce((n, c) => n + c.received, 0);
    return {
      id: s.id,
      label: s.label,
      instances: apis.length,
      subscribers,
      conversations: s.conversations,
      messages: s.messages,
      expected,
      received,
      missed: expected - received,
      failed: collected.reduce((n, c) => n + c.failed, 0),
      errors: collected.flatMap((c) => c.errors).slice(0, 5),
      latencyMs: histogram.percentiles(),
      ackMs: acks.percentiles(),
      setupSeconds: Math.round(setupSeconds * 10) / 10,
      sendSeconds: Math.round(sendSeconds * 10) / 10,
      database,
      pool,
      windowMicros: [windowFrom, windowTo],
    };
  } finally {
    closing = await databaseNow(ctx.ownerUrl).catch(() => null);
    await Promise.all(clients.map((c) => c.close()));
    // the next scenario starts once this one's users are stored offline
    if (closing) await presenceSettled(ctx, s.id, users, closing);
  }
}
