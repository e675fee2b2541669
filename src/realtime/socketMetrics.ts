/**
 * What the websocket server (src/realtime/sockets.ts) reports to the API's metrics: sockets
 * open, subscriptions running, events delivered per subscription field, and each operation's
 * duration and response code, like HTTP requests (src/http/requestObserver.ts). A subscription's
 * duration is the time until it is live.
 */
import type { ExecutionArgs, GraphQLFormattedError } from "graphql";
import { getOperationAST } from "graphql";

import type { ErrorLike } from "../errors.ts";
import type { ApiMetrics, OperationType } from "../metrics/api.ts";

interface Operation {
  startedAt: number;
  name: string | null;
  type: OperationType | null;
  /** The subscription field, while the subscription runs. */
  subscription: string | null;
}

export class SocketMetrics {
  readonly #metrics: ApiMetrics;
  readonly #operations = new WeakMap<object, Map<string, Operation>>();

  constructor(metrics: ApiMetrics) {
    this.#metrics = metrics;
  }

  #of(socket: object): Map<string, Operation> {
    let operations = this.#operations.get(socket);
    if (!operations) {
      operations = new Map();
      this.#operations.set(socket, operations);
    }
    return operations;
  }

  opened(): void {
    this.#metrics.websockets.inc();
  }

  /** The socket closed: its subscriptions end with it. */
  closed(socket: object): void {
    this.#metrics.websockets.dec();
    for (const id of [...(this.#operations.get(socket)?.keys() ?? [])]) this.completed(socket, id);
    this.#operations.delete(socket);
  }

  /** A subscribe message arrived. */
  started(socket: object, id: string, operationName: string | null | undefined): void {
    this.#of(socket).set(id, {
      startedAt: performance.now(),
      name: operationName ?? null,
      type: null,
      subscription: null,
    });
  }

  /** It was refused before it ran (validation, guards): `errors` as the client gets them. */
  refused(socket: object, id: string, errors: readonly ErrorLike[]): void {
    const operation = this.#of(socket).get(id);
    if (!operation) return;
    this.#of(socket).delete(id);
    this.#metrics.operation(operation.name, null, this.#seconds(operation), errors);
  }

  /** It ran: a subscription is live now (an iterator), other operations have their result. */
  executed(socket: object, id: string, args: ExecutionArgs, isStream: boolean): void {
    const operation = this.#of(socket).get(id);
    if (!operation) return;
    const ast = getOperationAST(args.document, args.operationName);
    operation.type = ast?.operation ?? null;
    operation.name = ast?.name?.value ?? operation.name;
    if (isStream && ast) {
      const field = ast.selectionSet.selections.find((s) => s.kind === "Field");
      operation.subscription = field?.kind === "Field" ? field.name.value : "unknown";
      this.#metrics.subscriptions.inc();
      this.#metrics.operation(operation.name, operation.type, this.#seconds(operation), []);
    }
  }

  /** A result was sent: an event of a subscription, or the answer to another operation. */
  sent(
    socket: object,
    id: string,
    errors: readonly (ErrorLike | GraphQLFormattedError)[] | undefined,
  ): void {
    const operation = this.#of(socket).get(id);
    if (!operation) return;
    if (operation.subscription !== null) {
      if (!errors?.length) this.#metrics.delivered(operation.subscription);
      return;
    }
    this.#of(socket).delete(id);
    this.#metrics.operation(operation.name, operation.type, this.#seconds(operation), errors ?? []);
  }

  /** The operation ended (completed by either side). */
  completed(socket: object, id: string): void {
    const operation = this.#of(socket).get(id);
    if (!operation) return;
    this.#of(socket).delete(id);
    if (operation.subscription !== null) this.#metrics.subscriptions.dec();
  }

  #seconds(operation: Operation): number {
    return (performance.now() - operation.startedAt) / 1000;
  }
}
