/**
 * A client that trickles its request holds a socket and memory on the server: it is cut off
 * with 408 once HTTP_HEADERS_TIMEOUT_MS (headers) or HTTP_REQUEST_TIMEOUT_MS (the whole
 * request) has passed, while a normal client on another connection is served meanwhile.
 */
import { connect, type Socket } from "node:net";

import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { startTestServer, type TestServer } from "../helpers/server.ts";

let db: TestDatabase;
let server: TestServer;

beforeAll(async () => {
  db = await createTestDatabase();
  server = await startTestServer(db, {
    HTTP_HEADERS_TIMEOUT_MS: "1000",
    HTTP_REQUEST_TIMEOUT_MS: "2000",
  });
});
afterAll(async () => {
  await server.close();
  await db.drop();
});

/** Opens a raw connection, writes `chunks` one by one `everyMs` apart, resolves with what came back when the server closes it. */
function trickle(
  chunks: readonly string[],
  everyMs: number,
): Promise<{ answer: string; ms: number }> {
  const { hostname, port } = new URL(server.url);
  const started = Date.now();
  return new Promise((resolve, reject) => {
    const socket: Socket = connect(Number(port), hostname);
    let answer = "";
    let next = 0;
    const timer = setInterval(() => {
      if (next < chunks.length && !socket.destroyed) socket.write(chunks[next++]!);
    }, everyMs);
    socket.setEncoding("utf8");
    socket.on("data", (data: string) => {
      answer += data;
      clearInterval(timer); // answered: nothing more to send
    });
    // The server closes the connection right after its 408 with our last characters unread, so
    // its kernel may reset the connection (RST) instead of closing it: what was answered before
    // the reset is still the answer (a reset before any answer leaves it empty, and fails).
    socket.on("error", (error: NodeJS.ErrnoException) => {
      if (error.code !== "ECONNRESET") reject(error);
    });
    socket.on("close", () => {
      clearInterval(timer);
      resolve({ answer, ms: Date.now() - started });
    });
  });
}

describe("slow clients", () => {
  it("cuts off a client whose headers trickle in, with 408, and serves others meanwhile", async () => {
    const headers =
      "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n";
    // one character every 100 ms: the headers would take ~8 s
    const slow = trickle([...headers], 100);
    const fast = await fetch(`${server.url}/healthz`);
    expect(fast.status).toBe(200);
    const { answer, ms } = await slow;
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    // the limit is 1 s, checked every second
    expect(ms).toBeLessThan(4000);
  });

  it("cuts off a client whose body trickles in after complete headers", async () => {
    const body = JSON.stringify({ query: "{ __typename }" });
    const head =
      "POST /graphql HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" +
      `Content-Length: ${body.length}\r\n\r\n`;
    // headers at once, then one body character every 200 ms: ~4 s for the body
    const { answer, ms } = await trickle([head, ...body], 200);
    expect(answer).toMatch(/^HTTP\/1\.1 408/);
    expect(ms).toBeLessThan(5000);
  });
});
