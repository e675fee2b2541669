/**
 * The benchmark's load runs (bench/harness/load.ts) against a real HTTP server on loopback: a run
 * in which no request completed (the machine paused for longer than the run) is run again, once,
 * longer; a server that answers nothing is still reported as failing.
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";

import { runLoad } from "../../bench/harness/load.ts";

const servers: Server[] = [];
afterAll(async () => {
  for (const s of servers) s.closeAllConnections();
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
});

/**
 * A server that never answers the requests of its first `heldConnections` connections (a run's
 * clients: the next run connects anew) and answers every other at once.
 */
async function serve(heldConnections: number): Promise<string> {
  const held = new WeakSet<object>();
  let seen = 0;
  const server = createServer((req, res) => {
    req.resume();
    if (held.has(req.socket)) return;
    res.writeHead(200, { "content-type": "application/json" });
    res.end(`{"data":{"ok":true}}`);
  });
  server.on("connection", (socket) => {
    if (seen++ < heldConnections) held.add(socket);
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const request = () => ({ path: "/graphql", headers: {}, body: "{}" });

test("a short run that saw no response is run again, longer, and measures", async () => {
  // the first run's two clients are never answered: it sees nothing complete
  const url = await serve(2);
  const result = await runLoad({ url, connections: 2, seconds: 0.3, next: request });
  expect(result.seconds).toBe(1.2);
  expect(result.requests).toBeGreaterThan(0);
  expect(result.errors).toBe(0);
});

test("a server that answers nothing is reported, after the one longer run", async () => {
  const url = await serve(Infinity);
  const result = await runLoad({ url, connections: 2, seconds: 0.3, next: request });
  expect(result.requests).toBe(0);
  expect(result.errors).toBeGreaterThanOrEqual(2);
  expect(result.firstError).toBe("no request completed within 1.2 s");
});
