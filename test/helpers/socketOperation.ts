/**
 * One GraphQL operation over a raw graphql-transport-ws socket, for tests that need what the
 * graphql-ws client does not let them set (the upgrade request's headers): resolves with the
 * operation's result (its `next` message) or its errors (an `error` message).
 */
import WebSocket from "ws";

import type { GraphQLBody } from "./server.ts";

export function operationOverSocket(
  serverUrl: string,
  options: { token?: string; headers?: Record<string, string> },
  query: string,
  variables: Record<string, unknown> = {},
): Promise<GraphQLBody> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(
      `${serverUrl.replace(/^http/, "ws")}/graphql`,
      "graphql-transport-ws",
      { headers: options.headers ?? {} },
    );
    socket.once("error", reject);
    socket.on("open", () =>
      socket.send(
        JSON.stringify({
          type: "connection_init",
          payload: options.token ? { authorization: `Bearer ${options.token}` } : {},
        }),
      ),
    );
    socket.on("message", (data) => {
      const message = JSON.parse(String(data)) as { type: string; payload?: unknown };
      if (message.type === "connection_ack") {
        socket.send(JSON.stringify({ id: "1", type: "subscribe", payload: { query, variables } }));
      } else if (message.type === "next") {
        socket.close();
        resolve(message.payload as GraphQLBody);
      } else if (message.type === "error") {
        socket.close();
        resolve({ errors: message.payload as GraphQLBody["errors"] });
      }
    });
  });
}
