/**
 * How e-mails leave the service: SMTP (nodemailer) when SMTP_URL is set; otherwise the
 * development outbox, which writes each message as an .eml file into a git-ignored folder.
 */
import { randomUUID } from "node:crypto";
import { mkdir, writeFile } from "node:fs/promises";
import path from "node:path";

import nodemailer from "nodemailer";

import type { MailMessage } from "./templates.ts";

export interface MailTransport {
  /** Sends the message; resolves with where it went (a message id or a file path). */
  send(from: string, message: MailMessage): Promise<string>;
}

/** A failure that retrying will not fix (the server refused the message for good). */
export class PermanentMailError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = "PermanentMailError";
  }
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

/**
 * SMTP replies that refuse the login rather than the message (530 authentication required,
 * 534 mechanism too weak, 535 credentials invalid, 538 encryption required): a configuration
 * error that will be fixed, so worth retrying, unlike the other 5xx replies.
 */
const AUTH_FAILURE_CODES: ReadonlySet<number> = new Set([530, 534, 535, 538]);

export function smtpTransport(url: string): MailTransport {
  const transporter = nodemailer.createTransport(url);
  return {
    async send(from, message) {
      try {
        const info = await transporter.sendMail({ from, ...message });
        return String(info.messageId);
      } catch (error) {
        const { responseCode: code, code: kind } = error as {
          responseCode?: number;
          code?: string;
        };
        if (kind === "EAUTH" || (typeof code === "number" && AUTH_FAILURE_CODES.has(code))) {
          // retried with backoff: the message is fine, our login is not (check SMTP_URL)
          throw new Error(
            `SMTP ${code ?? kind}: the server refused our login; check SMTP_URL's credentials (${(error as Error).message})`,
            { cause: error },
          );
        }
        // other 5xx replies are permanent (unknown mailbox, rejected content); the rest may pass later
        if (typeof code === "number" && code >= 500) {
          throw new PermanentMailError(`SMTP ${code}: ${(error as Error).message}`, {
            cause: error,
          });
        }
        throw error;
      }
    },
  };
}
