/**
 * A minimal SMTP server on loopback for tests of the SMTP transport: it speaks enough of the
 * protocol for nodemailer (EHLO, AUTH PLAIN/LOGIN, MAIL, RCPT, DATA, RSET, QUIT), keeps every
 * accepted message, and answers AUTH, MAIL and RCPT with chosen replies (e.g. 535 for wrong
 * credentials, 530 for a server that wants a login, 550 to refuse a mailbox for good).
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
  /** The reply to MAIL FROM (default "250 OK"). */
  mailReply: string;
  /** The final reply to AUTH (default "235 2.7.0 Authentication successful"). */
  authReply: string;
  /** How many AUTH commands were received. */
  readonly authAttempts: number;
  /** Resolves with the `index`-th accepted message, waiting for it if needed. */
  message(index: number): Promise<string>;
  close(): Promise<void>;
}

export async function startFakeSmtp(): Promise<FakeSmtp> {
  const messages: string[] = [];
  const waiting = new Map<number, (m: string) => void>();
  const sockets = new Set<Socket>();
  const state = {
    rcptReply: "250 OK",
    mailReply: "250 OK",
    authReply: "235 2.7.0 Authentication successful",
    authAttempts: 0,
  };

  const server: Server = createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    socket.on("error", () => undefined);
    let buffer = "";
    /** Lines of credentials still to come after an AUTH command. */
    let authLinesLeft = 0;
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
        if (authLinesLeft > 0) {
          // the credentials of AUTH LOGIN (user name, password) or AUTH PLAIN without them
          authLinesLeft -= 1;
          reply(authLinesLeft > 0 ? "334 UGFzc3dvcmQ6" : state.authReply);
          continue;
        }
        const [verb = "", mechanism = "", initial] = line.split(" ");
        switch (verb.toUpperCase()) {
          case "EHLO":
            reply("250-fake-smtp\r\n250-AUTH PLAIN LOGIN\r\n250 8BITMIME");
            break;
          case "AUTH":
            state.authAttempts += 1;
            if (mechanism.toUpperCase() === "LOGIN") {
              authLinesLeft = initial ? 1 : 2;
              reply(initial ? "334 UGFzc3dvcmQ6" : "334 VXNlcm5hbWU6");
            } else if (initial) reply(state.authReply);
            else {
              authLinesLeft = 1;
              reply("334 ");
            }
            break;
          case "HELO":
          case "RSET":
          case "NOOP":
            reply("250 OK");
            break;
          case "MAIL":
            reply(state.mailReply);
            break;
          case "RCPT":
            reply(state.rcptReply);
            break;
          case "DATA":
            inData = true;
            reply("354 End data with <CR><LF>.<CR><LF>");
            break;
          case "QUIT":
            reply("221 Bye");
            socket.end();
            break;
          default:
            reply("502 Command not implemented");
        }
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
    get mailReply() {
      return state.mailReply;
    },
    set mailReply(value: string) {
      state.mailReply = value;
    },
    get authReply() {
      return state.authReply;
    },
    set authReply(value: string) {
      state.authReply = value;
    },
    get authAttempts() {
      return state.authAttempts;
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
