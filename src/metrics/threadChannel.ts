/**
 * Requests and answers between the main thread and the metrics thread (src/metrics/thread.ts),
 * over a worker's message port: each side asks the other by `kind` and awaits the answer; events
 * (log lines, start-up) need none. What each side may ask, and what it gets back, is the protocol
 * below; a failed handler answers with its message, and the asker's promise rejects with it.
 */
import type { LogLevel } from "../config.ts";
import type { LogFields } from "../log.ts";
import type { PoolCounts } from "./registry.ts";
import type { Announcement } from "./shared.ts";

/** What the metrics thread asks of the main thread, by kind, and the answer's type. */
export type MainProtocol = {
  /**
   * A scrape: set the values only the main thread can read (the shared families' `collect`);
   * `pools`: the thread's pools, to report. The values themselves are in shared memory.
   */
  refresh: { request: { pools: Record<string, PoolCounts> }; answer: null };
  /** The worker's last heartbeat (ms since the epoch; null: none yet, or no worker here). */
  heartbeat: { request: Record<string, never>; answer: number | null };
  /** The newest base backup's finish time (ms since the epoch), if known. */
  lastBackupAt: { request: Record<string, never>; answer: number | null };
};

/** What the main thread asks of the metrics thread. */
export type ThreadProtocol = {
  /** Collect the database metrics now (tests; resolves when done). */
  collect: { request: Record<string, never>; answer: null };
  /** Stop serving and close the thread's connections. */
  close: { request: Record<string, never>; answer: null };
};

/** What the main thread tells the metrics thread, unasked: its shared metrics' new families and series. */
export type MainEvent = { kind: "shared"; announcement: Announcement };

/** What the metrics thread tells the main thread, unasked. */
export type ThreadEvent =
  | { kind: "log"; level: LogLevel; message: string; fields: LogFields }
  | { kind: "listening"; port: number }
  | { kind: "failed"; message: string; code: string | null };

type Protocol = Record<string, { request: object; answer: unknown }>;

export type Handlers<P extends Protocol> = {
  [K in keyof P]: (request: P[K]["request"]) => Promise<P[K]["answer"]> | P[K]["answer"];
};

type Envelope =
  | { type: "request"; id: number; kind: string; body: object }
  | { type: "answer"; id: number; ok: true; value: unknown }
  | { type: "answer"; id: number; ok: false; message: string }
  | { type: "event"; event: unknown };

/** A worker (seen from the main thread) or the parent port (seen from the thread). */
export interface Port {
  postMessage(value: unknown): void;
  on(event: "message", listener: (value: unknown) => void): unknown;
  off(event: "message", listener: (value: unknown) => void): unknown;
}

export class RequestTimeoutError extends Error {
  constructor(kind: string, ms: number) {
    super(`no answer to "${kind}" in ${ms} ms`);
    this.name = "RequestTimeoutError";
  }
}

/**
 * One side's end: `Asks` is the protocol it asks by, `Answers` the one it answers; it hears
 * `InEvent`s and tells `OutEvent`s.
 */
export class Channel<
  Asks extends Protocol,
  Answers extends Protocol,
  InEvent = never,
  OutEvent = never,
> {
  readonly #port: Port;
  readonly #waiting = new Map<
    number,
    { resolve: (value: unknown) => void; reject: (error: Error) => void }
  >();
  readonly #listener: (value: unknown) => void;
  #next = 1;
  /** Why the channel closed (the other side is gone): later requests fail at once with it. */
  #closedWith: Error | null = null;

  constructor(
    port: Port,
    handlers: Handlers<Answers>,
    onEvent: (event: InEvent) => void = () => {},
  ) {
    this.#port = port;
    this.#listener = (value) => {
      const message = value as Envelope;
      if (message.type === "event") return onEvent(message.event as InEvent);
      if (message.type === "answer") {
        const waiter = this.#waiting.get(message.id);
        this.#waiting.delete(message.id);
        if (message.ok) waiter?.resolve(message.value);
        else waiter?.reject(new Error(message.message));
        return;
      }
      const { id, kind, body } = message;
      const handler = handlers[kind] as ((body: object) => unknown) | undefined;
      Promise.resolve()
        .then(() => {
          if (!handler) throw new Error(`unknown request "${kind}"`);
          return handler(body);
        })
        .then(
          (answer) => port.postMessage({ type: "answer", id, ok: true, value: answer }),
          (error: unknown) =>
            port.postMessage({
              type: "answer",
              id,
              ok: false,
              message: error instanceof Error ? error.message : String(error),
            }),
        );
    };
    port.on("message", this.#listener);
  }

  /** Asks the other side; rejects after `timeoutMs` without an answer. */
  request<K extends keyof Asks & string>(
    kind: K,
    body: Asks[K]["request"],
    timeoutMs: number,
  ): Promise<Asks[K]["answer"]> {
    if (this.#closedWith) return Promise.reject(this.#closedWith);
    const id = this.#next++;
    return new Promise<Asks[K]["answer"]>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting.delete(id);
        reject(new RequestTimeoutError(kind, timeoutMs));
      }, timeoutMs);
      this.#waiting.set(id, {
        resolve: (value) => {
          clearTimeout(timer);
          resolve(value as Asks[K]["answer"]);
        },
        reject: (error) => {
          clearTimeout(timer);
          reject(error);
        },
      });
      this.#port.postMessage({ type: "request", id, kind, body });
    });
  }

  /** Tells the other side something that needs no answer. */
  emit(event: OutEvent): void {
    this.#port.postMessage({ type: "event", event });
  }

  /** Whether the other side is gone. */
  get closed(): boolean {
    return this.#closedWith !== null;
  }

  /** Fails every request still waiting (the other side is gone) and stops listening. */
  close(reason: Error): void {
    this.#closedWith ??= reason;
    this.#port.off("message", this.#listener);
    for (const waiter of this.#waiting.values()) waiter.reject(reason);
    this.#waiting.clear();
  }
}
