/**
 * A light realtime load client, run as a child process of `npm run bench:realtime`
 * (bench/realtimeScale.ts): many websockets from one process, with the graphql-transport-ws
 * protocol spoken by hand over `ws` (no client library per socket). Told over IPC which
 * subscribers to open, it answers with what they received:
 *
 * - `open`: a socket per subscriber (`connection_init` with its token, then one `subscribe` to
 *   `messageAdded` of its conversation), a few hundred handshakes at a time; answers `opened`.
 * - `status`: how many subscribers have seen a warm-up message, and how many failed.
 * - `measure`: forget what came before; from now on time every `m…` message.
 * - `collect`: the latencies (ms, from the send time written into the message) and counts.
 * - `close`: closes every socket and exits.
 *
 * Latency is the receipt time less the send time the sender wrote into the content
 * (`performance.timeOrigin + performance.now()`, comparable across processes on one machine).
 */
import { performance } from "node:perf_hooks";

import WebSocket from "ws";

export interface Subscriber {
  /** The API instance's ws URL. */
  url: string;
  token: string;
  conversationId: string;
}

export type ParentMessage =
  | { type: "open"; subscribers: Subscriber[]; handshakesAtOnce: number }
  | { type: "status" }
  | { type: "measure" }
  | { type: "collect" }
  | { type: "close" };

export type ChildMessage =
  | { type: "opened"; failed: number; seconds: number }
  | { type: "status"; warm: number; received: number; failed: number; errors: string[] }
  | { type: "measure" }
  | {
      type: "collect";
      latencies: number[];
      received: number;
      failed: number;
      errors: string[];
    };

const SUBSCRIPTION = `subscription ($c: UUID!) { messageAdded(conversationId: $c) { id content sender { username } } }`;

export const now = (): number => performance.timeOrigin + performance.now();

interface Live {
  socket: WebSocket;
  warm: boolean;
}

const sockets: Live[] = [];
let failed = 0;
const errors: string[] = [];
let measuring = false;
let latencies: number[] = [];
let received = 0;

const send = (message: ChildMessage): void => void process.send?.(message);

function note(error: string): void {
  failed += 1;
  if (errors.length < 5) errors.push(error);
}

function open(s: Subscriber): Promise<void> {
  return new Promise((resolve) => {
    const socket = new WebSocket(s.url, "graphql-transport-ws", { perMessageDeflate: false });
    const live: Live = { socket, warm: false };
    let settled = false;
    const settle = (): void => {
      if (!settled) {
        settled = true;
        resolve();
      }
    };
    socket.on("open", () => {
      socket.send(
        JSON.stringify({
          type: "connection_init",
          payload: { authorization: `Bearer ${s.token}` },
        }),
      );
    });
    socket.on("message", (data) => {
      const message = JSON.parse(String(data)) as {
        type: string;
        payload?: { data?: { messageAdded?: { content?: string } | null }; message?: string };
      };
      if (message.type === "connection_ack") {
        socket.send(
          JSON.stringify({
            id: "1",
            type: "subscribe",
            payload: { query: SUBSCRIPTION, variables: { c: s.conversationId } },
          }),
        );
        sockets.push(live);
        settle();
      } else if (message.type === "next") {
        if (message.payload && "errors" in message.payload) {
          note(`subscription error: ${JSON.stringify(message.payload)}`);
          return;
        }
        const content = message.payload?.data?.messageAdded?.content ?? "";
        if (content.startsWith("warm-up")) {
          live.warm = true;
        } else if (measuring && content.startsWith("m")) {
          const sentAt = Number(content.split(" ")[1]);
          latencies.push(now() - sentAt);
          received += 1;
        }
      } else if (message.type === "error") {
        note(`subscription error: ${JSON.stringify(message.payload)}`);
      } else if (message.type === "complete") {
        note("subscription completed by the server");
      } else if (message.type === "ping") {
        socket.send(JSON.stringify({ type: "pong" }));
      }
    });
    socket.on("close", (code, reason) => {
      if (code !== 1000 && code !== 1001) note(`closed ${code} ${String(reason)}`);
      settle();
    });
    socket.on("error", (error) => {
      note(`socket error: ${error.message}`);
      settle();
    });
  });
}

async function openAll(subscribers: Subscriber[], atOnce: number): Promise<void> {
  const started = now();
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(atOnce, subscribers.length) }, async () => {
      while (next < subscribers.length) await open(subscribers[next++]!);
    }),
  );
  send({ type: "opened", failed, seconds: (now() - started) / 1000 });
}

process.on("message", (message: ParentMessage) => {
  switch (message.type) {
    case "open":
      void openAll(message.subscribers, message.handshakesAtOnce);
      break;
    case "status":
      send({
        type: "status",
        warm: sockets.filter((s) => s.warm).length,
        received,
        failed,
        errors,
      });
      break;
    case "measure":
      latencies = [];
      received = 0;
      measuring = true;
      send({ type: "measure" });
      break;
    case "collect":
      send({ type: "collect", latencies, received, failed, errors });
      break;
    case "close":
      for (const s of sockets) s.socket.close(1000);
      setTimeout(() => process.exit(0), 500).unref();
      process.disconnect?.();
      break;
  }
});
