/**
 * Faults, one at a time, at random intervals drawn from the soak's seed:
 *
 * - `api-kill` / `worker-kill`: SIGKILL of one instance, started again at once (same port);
 * - `postgres-restart`: immediate shutdown (SIGQUIT to the postmaster) or SIGKILL of the
 *   postmaster, then a start on the same data folder (crash recovery);
 * - `slow-websocket`: a client that subscribes to a busy conversation and stops reading while a
 *   flood of messages is sent there;
 * - `bad-requests`: a burst of malformed, oversized and abusive requests, each of which must get
 *   a JSON refusal with a code (a 5xx or a missing code is counted as BAD_REQUEST_ANSWER);
 * - `slow-client`: a connection that sends its request a byte at a time.
 */
import { connect } from "node:net";

import WebSocket from "ws";

import { sendMessage, type LoadContext } from "./load.ts";
import type { Database, Instance } from "./processes.ts";
import type { Prober, Window } from "./probe.ts";
import { seededRandom, type Random } from "./random.ts";

export const FAULT_KINDS = [
  "api-kill",
  "worker-kill",
  "postgres-restart",
  "slow-websocket",
  "bad-requests",
  "slow-client",
] as const;
export type FaultKind = (typeof FAULT_KINDS)[number];

export interface FaultRecord {
  kind: FaultKind;
  target: string;
  /** Seconds since the start of the load. */
  at: number;
  durationMs: number;
  outcome: string;
}

export interface FaultContext {
  random: Random;
  apis: Instance[];
  workers: Instance[];
  database: Database;
  prober: Prober;
  load: LoadContext;
  /** PostgreSQL restarts (crash → accepting connections again), for the availability report. */
  databaseDowntime: Window[];
  startedAt: number;
  /** Time between faults (ms). */
  gap: { min: number; max: number };
  /** Inject these kinds in this order (then again), instead of drawing them (the short test). */
  plan?: readonly FaultKind[];
  stopped: () => boolean;
  onFault: (record: FaultRecord) => void;
}

const WEIGHTS: Record<FaultKind, number> = {
  "api-kill": 3,
  "worker-kill": 3,
  "postgres-restart": 2,
  "slow-websocket": 1,
  "bad-requests": 2,
  "slow-client": 1,
};

/** Starts `start` again until it works (the database may be down at that moment). */
async function startWithRetries(start: () => Promise<void>, attempts = 5): Promise<void> {
  for (let i = 1; ; i += 1) {
    try {
      await start();
      return;
    } catch (error) {
      if (i >= attempts) throw error;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  }
}

async function restartInstance(ctx: FaultContext, instance: Instance): Promise<string> {
  const start = Date.now();
  await instance.kill();
  await startWithRetries(() => instance.start());
  const window = { start, end: Date.now() };
  if (instance.kind === "api") ctx.prober.restart(instance.name, window);
  return `down ${window.end - window.start} ms`;
}

async function restartPostgres(ctx: FaultContext): Promise<string> {
  const mode = ctx.random.next() < 0.5 ? "immediate" : "kill";
  const start = Date.now();
  await ctx.database.crash(mode);
  await startWithRetries(() => ctx.database.start());
  const end = Date.now();
  ctx.databaseDowntime.push({ start, end });
  return `${mode === "immediate" ? "SIGQUIT (immediate shutdown)" : "SIGKILL"}, down ${end - start} ms`;
}

const SLOW_SUBSCRIPTION = `subscription ($c: UUID!) { messageAdded(conversationId: $c) { id content sender { username } } }`;

async function slowWebsocket(ctx: FaultContext): Promise<string> {
  const { world } = ctx.load;
  const conversation = ctx.random.pick(world.conversations);
  const members = world.users.filter((u) => world.conversationsOf.get(u)?.includes(conversation));
  const [reader, writer] = [members[0]!, members[members.length - 1]!];
  const api = ctx.random.pick(ctx.apis);
  const ws = new WebSocket(`${api.url!.replace(/^http/, "ws")}/graphql`, "graphql-transport-ws");
  let closed = "";
  let tooSlow = false;
  ws.on("close", (code) => (closed = `closed ${code}`));
  ws.on("error", () => undefined);
  ws.on("message", (data: Buffer) => {
    if (data.toString().includes("CLIENT_TOO_SLOW")) tooSlow = true;
  });
  await new Promise<void>((resolve) => {
    const timer = setTimeout(resolve, 5_000);
    ws.on("open", () => {
      ws.send(
        JSON.stringify({
          type: "connection_init",
          payload: { authorization: `Bearer ${ctx.load.token(reader)}` },
        }),
      );
    });
    ws.on("message", (data: Buffer) => {
      if (!data.toString().includes("connection_ack")) return;
      ws.send(
        JSON.stringify({
          id: "1",
          type: "subscribe",
          payload: { query: SLOW_SUBSCRIPTION, variables: { c: conversation } },
        }),
      );
      clearTimeout(timer);
      // give the subscription a moment to start listening, then stop reading
      setTimeout(resolve, 500);
    });
  });
  ws.pause();
  // a flood of messages into that conversation (acknowledged ones go into the ledger); its own
  // generator, so the fault schedule drawn from ctx.random does not depend on the flood's timing
  const floodRandom = seededRandom(ctx.random.int(1, 2 ** 31));
  let sent = 0;
  const until = Date.now() + 10_000;
  while (Date.now() < until && !ctx.stopped()) {
    await Promise.all(
      Array.from({ length: 10 }, () => sendMessage(ctx.load, floodRandom, writer, conversation)),
    );
    sent += 10;
  }
  ws.resume();
  await new Promise((r) => setTimeout(r, 500));
  ws.terminate();
  return `${sent} messages while not reading; ${tooSlow ? "told CLIENT_TOO_SLOW" : "not told"}${closed ? `, ${closed}` : ""}`;
}

interface BadRequest {
  name: string;
  init: RequestInit;
  path?: string;
}

function badRequests(token: string): BadRequest[] {
  const json = { "content-type": "application/json" };
  const auth = { ...json, authorization: `Bearer ${token}` };
  const deep = `{ homeFeed { edges { node { ${"author { posts { edges { node { ".repeat(5)}id${" } } } }".repeat(5)} } } } }`;
  const aliases = `{ ${Array.from({ length: 500 }, (_, i) => `a${i}: __typename`).join(" ")} }`;
  return [
    { name: "malformed JSON", init: { method: "POST", headers: json, body: "{not json" } },
    {
      name: "oversized body",
      init: {
        method: "POST",
        headers: json,
        body: JSON.stringify({ query: `{ __typename }`, variables: { x: "x".repeat(3_000_000) } }),
      },
    },
    {
      name: "not a document",
      init: { method: "POST", headers: json, body: JSON.stringify({ query: "}}}{{{" }) },
    },
    {
      name: "unknown field",
      init: { method: "POST", headers: auth, body: JSON.stringify({ query: "{ nope }" }) },
    },
    {
      name: "too deep",
      init: { method: "POST", headers: auth, body: JSON.stringify({ query: deep }) },
    },
    {
      name: "too many aliases",
      init: { method: "POST", headers: auth, body: JSON.stringify({ query: aliases }) },
    },
    {
      name: "batch",
      init: { method: "POST", headers: json, body: JSON.stringify([{ query: "{ __typename }" }]) },
    },
    {
      name: "text/plain",
      init: { method: "POST", headers: { "content-type": "text/plain" }, body: "{ __typename }" },
    },
    {
      name: "subscription over POST",
      init: {
        method: "POST",
        headers: auth,
        body: JSON.stringify({ query: "subscription { notificationAdded { unreadCount } }" }),
      },
    },
    {
      name: "forged token",
      init: {
        method: "POST",
        headers: { ...json, authorization: "Bearer abc.def.ghi" },
        body: JSON.stringify({ query: "{ __typename }" }),
      },
    },
    {
      name: "NUL in input",
      init: {
        method: "POST",
        headers: auth,
        body: JSON.stringify({
          query: `mutation { createPost(input: { post: { authorId: "00000000-0000-0000-0000-000000000000", content: "a\\u0000b" } }) { post { id } } }`,
        }),
      },
    },
    { name: "unknown path", path: "/nope", init: { method: "GET" } },
    { name: "DELETE", init: { method: "DELETE" } },
  ];
}

async function badBurst(ctx: FaultContext): Promise<string> {
  const api = ctx.random.pick(ctx.apis);
  const token = ctx.load.token(ctx.random.pick(ctx.load.world.users));
  const requests = badRequests(token);
  const codes = new Map<string, number>();
  let bad = 0;
  const rounds = 4;
  await Promise.all(
    Array.from({ length: rounds }, async () => {
      for (const r of requests) {
        let code: string;
        try {
          const res = await fetch(`${api.url}${r.path ?? "/graphql"}`, {
            ...r.init,
            signal: AbortSignal.timeout(10_000),
          });
          const body = (await res.json().catch(() => null)) as {
            errors?: { extensions?: { code?: string } }[];
            data?: unknown;
          } | null;
          code =
            body?.errors?.[0]?.extensions?.code ??
            (body?.data !== undefined && res.status < 400 ? "OK" : "BAD_REQUEST_ANSWER");
          if (res.status >= 500 && code !== "PAYLOAD_TOO_LARGE") code = "BAD_REQUEST_ANSWER";
        } catch (error) {
          const cause = (error as { cause?: { code?: string } }).cause?.code;
          // the instance may be down at that moment (another fault): not the request's fault
          code = cause === "ECONNREFUSED" ? "ECONNREFUSED" : "BAD_REQUEST_ANSWER";
        }
        if (code === "BAD_REQUEST_ANSWER") {
          bad += 1;
          ctx.load.stats.countError(`${code} (${r.name})`);
        }
        codes.set(code, (codes.get(code) ?? 0) + 1);
      }
    }),
  );
  const list = [...codes.entries()].map(([c, n]) => `${c}×${n}`).join(", ");
  return `${requests.length * rounds} requests: ${list}${bad ? ` — ${bad} without a proper refusal` : ""}`;
}

async function slowClient(ctx: FaultContext): Promise<string> {
  const api = ctx.random.pick(ctx.apis);
  const { port } = new URL(api.url!);
  const body = JSON.stringify({ query: "{ __typename }" });
  const socket = connect(Number(port), "127.0.0.1");
  let answer = "";
  let closedBy = "still open";
  socket.on("data", (d: Buffer) => (answer += d.toString()));
  socket.on("error", () => undefined);
  socket.on("close", () => (closedBy = "closed by the server"));
  await new Promise<void>((resolve) =>
    socket.once("connect", () => resolve()).once("error", () => resolve()),
  );
  const request =
    `POST /graphql HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\ncontent-type: application/json\r\n` +
    `content-length: ${body.length}\r\n\r\n${body}`;
  const until = Date.now() + 15_000;
  let sent = 0;
  while (sent < request.length && Date.now() < until && !socket.destroyed && !ctx.stopped()) {
    socket.write(request[sent]!);
    sent += 1;
    await new Promise((r) => setTimeout(r, 150));
  }
  await new Promise((r) => setTimeout(r, 500));
  socket.destroy();
  const status = /^HTTP\/1\.1 (\d+)/.exec(answer)?.[1];
  return `${sent}/${request.length} bytes in ${Math.round((Date.now() - until + 15_000) / 1000)} s; ${status ? `answered ${status}` : closedBy}`;
}

async function inject(
  ctx: FaultContext,
  kind: FaultKind,
): Promise<{ target: string; outcome: string }> {
  switch (kind) {
    case "api-kill": {
      const api = ctx.random.pick(ctx.apis);
      return { target: api.name, outcome: await restartInstance(ctx, api) };
    }
    case "worker-kill": {
      const worker = ctx.random.pick(ctx.workers);
      return { target: worker.name, outcome: await restartInstance(ctx, worker) };
    }
    case "postgres-restart":
      return { target: "postgres", outcome: await restartPostgres(ctx) };
    case "slow-websocket":
      return { target: "websocket", outcome: await slowWebsocket(ctx) };
    case "bad-requests":
      return { target: "api", outcome: await badBurst(ctx) };
    case "slow-client":
      return { target: "api", outcome: await slowClient(ctx) };
  }
}

/** Injects faults until `stopped()`; each fault finishes (instances are up again) before the next. */
export async function runFaults(ctx: FaultContext): Promise<void> {
  const weights = { ...WEIGHTS };
  if (!ctx.database.restartable) weights["postgres-restart"] = 0;
  let planned = 0;
  while (!ctx.stopped()) {
    const wait = ctx.random.int(ctx.gap.min, ctx.gap.max);
    const until = Date.now() + wait;
    while (Date.now() < until && !ctx.stopped()) {
      await new Promise((r) => setTimeout(r, Math.min(250, until - Date.now())));
    }
    if (ctx.stopped()) return;
    const kind = ctx.plan?.length
      ? ctx.plan[planned++ % ctx.plan.length]!
      : ctx.random.weighted(weights);
    const at = (Date.now() - ctx.startedAt) / 1000;
    const started = Date.now();
    let result: { target: string; outcome: string };
    try {
      result = await inject(ctx, kind);
    } catch (error) {
      result = { target: "?", outcome: `fault failed: ${(error as Error).message.split("\n")[0]}` };
      ctx.load.stats.countError(`FAULT_FAILED (${kind})`);
    }
    ctx.onFault({ kind, at: Math.round(at), durationMs: Date.now() - started, ...result });
  }
}
