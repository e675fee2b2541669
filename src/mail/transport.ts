/**
 * How e-mails leave the service. In development (no SMTP_URL) the outbox transport writes each
 * message as an .eml file into a git-ignored folder and logs its path, so nothing is sent.
 */
import { randomUUID } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";

import type { MailMessage } from "./templates.ts";

export interface MailTransport {
  /** Sends the message; resolves with where it went (a message id or a file path). */
  send(from: string, message: MailMessage): Promise<string>;
}

export function outboxTransport(dir: string): MailTransport {
  return {
    async send(from, message) {
      await mkdir(dir, { recursive: true });
      const stamp = new Date().toISOString().replace(/[:.]/g, "-");
      const file = path.join(dir, `${stamp}-${randomUUID().slice(0, 8)}.eml`);
      const boundary = `mking-${randomUUID()}`;
      const eml = [
        `From: ${from}`,
        `To: ${message.to}`,
        `Subject: ${message.subject}`,
        `Date: ${new Date().toUTCString()}`,
        "MIME-Version: 1.0",
        `Content-Type: multipart/alternative; boundary="${boundary}"`,
        "",
        `--${boundary}`,
        "Content-Type: text/plain; charset=utf-8",
        "",
        message.text,
        `--${boundary}`,
        "Content-Type: text/html; charset=utf-8",
        "",
        message.html,
        `--${boundary}--`,
        "",
      ].join("\r\n");
      await writeFile(file, eml);
      return file;
    },
  };
}
