/**
 * A minimal SMTP server on loopback for tests of the SMTP transport: it speaks enough of the
 * protocol for nodemailer (EHLO, MAIL, RCPT, DATA, RSET, QUIT), keeps every accepted message,
 * and answers RCPT with a chosen reply (e.g. 550 to refuse a mailbox for good).
 */
import { once } from "node:events";
import { createServer, type Server, type Socket } from "node:net";
import type { AddressInfo } from "node:net";

export interface FakeSmtp {
  readonly url: string;
  /** Raw DATA of every accepted message, in order. */
  readonly messages: string[];
  /** The reply to RCPT TO (default "250 OK"). */
  rcptReply: string;
  /** Resolves with the `index`-th accepted message, waiting for it if needed. */
  message(index: number): Promise<string>;
  close(): Promise<void>;
}

export async function startFakeSmtp(): Promise<FakeSmtp> {
  const messages: string[] = [];
  const waiting = new Map<number, (m: string) => void>();
  const sockets = new Set<Socket>();
  const state = { rcptReply: "250 OK" };

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    let buffer = "";
    let inData = false;
    let data = "";
    const reply = (line: string): void => {
      socket.write(line + "\r\n");
    };
    reply("220 fake-smtp ESMTP");
    socket.on("data", (chunk: Buffer) => {
      buffer += chunk.toString("utf8");
      let end: number;
      while ((end = buffer.indexOf("\r\n")) >= 0) {
        const line = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (inData) {
          if (line === ".") {
            inData = false;
            messages.push(data);
            const index = messages.length - 1;
            waiting.get(index)?.(data);
            waiting.delete(index);
            data = "";
            reply(`250 OK queued as ${index}`);
          } else {
            data += (line.startsWith("..") ? line.slice(1) : line) + "\r\n";
          }
          continue;
        }
        const verb = line.split(" ")[0]!.toUpperCase();
        if (verb === "EHLO") reply("250-fake-smtp\r\n250 8BITMIME");
        else if (verb === "HELO" || verb === "MAIL" || verb === "RSET" || verb === "NOOP")
          reply("250 OK");
        else if (verb === "RCPT") reply(state.rcptReply);
        else if (verb === "DATA") {
          inData = true;
          reply("354 End data with <CR><LF>.<CR><LF>");
        } else if (verb === "QUIT") {
          reply("221 Bye");
          socket.end();
        } else reply("502 Command not implemented");
      }
    });
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  const { port } = server.address() as AddressInfo;
  return {
    url: `smtp://127.0.0.1:${port}`,
    messages,
    get rcptReply() {
      return state.rcptReply;
    },
    set rcptReply(value: string) {
      state.rcptReply = value;
    },
    message(index) {
      const existing = messages[index];
      if (existing !== undefined) return Promise.resolve(existing);
      return new Promise((resolve) => waiting.set(index, resolve));
    },
    async close() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
