/**
 * `send_email`: a template per message, the development outbox or SMTP (nodemailer), retries
 * with backoff for passing failures, and a permanent failure recorded instead of retried.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import type { MailMessage } from "../../src/mail/templates.ts";
import { PermanentMailError, smtpTransport, type MailTransport } from "../../src/mail/transport.ts";
import { mailFor } from "../../src/worker.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { testLogger } from "../helpers/log.ts";
import { testConfig } from "../helpers/server.ts";
import { startFakeSmtp, type FakeSmtp } from "../helpers/smtp.ts";
import { startTestWorker, type TestWorker } from "../helpers/worker.ts";

let db: TestDatabase;
let smtp: FakeSmtp;

beforeAll(async () => {
  db = await createTestDatabase();
  smtp = await startFakeSmtp();
});
afterAll(async () => {
  await smtp.close();
  await db.drop();
});

const sql = <T = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> =>
  withClient(db.ownerUrl, async (c) => (await c.query(text, values)).rows as T[]);

let counter = 0;
async function newUser(): Promise<{ id: string; email: string }> {
  counter += 1;
  const email = `mail${counter}@example.com`;
  const [row] = await sql<{ id: string }>(
    `insert into app_public.users (email) values ($1) returning id`,
    [email],
  );
  await sql(
    `insert into app_public.user_profiles (user_id, username, display_name) values ($1, $2, $3)`,
    [row!.id, `mail_user_${counter}`, `Mail User ${counter}`],
  );
  return { id: row!.id, email };
}

async function queue(template: string, userId: string, maxAttempts = 10): Promise<string> {
  const [row] = await sql<{ id: string }>(
    `select id::text from graphile_worker.add_job('send_email', json_build_object('template', $1::text, 'user_id', $2::uuid), max_attempts := $3)`,
    [template, userId, maxAttempts],
  );
  return row!.id;
}

const deliveries = (userId: string) =>
  sql(
    `select template, recipient, status, attempts, detail from app_private.email_deliveries where user_id = $1 order by id`,
    [userId],
  );

describe("the development outbox", () => {
  let worker: TestWorker;
  beforeAll(async () => (worker = await startTestWorker(db)));
  afterAll(() => worker.close());

  it("writes a verification e-mail whose link carries a token that verifies the address", async () => {
    const user = await newUser();
    const completed = worker.listen();
    const jobId = await queue("verify_email", user.id);
    expect((await completed(jobId)).error).toBeUndefined();

    const [file] = (await deliveries(user.id)) as [{ detail: string }];
    expect(await deliveries(user.id)).toEqual([
      {
        template: "verify_email",
        recipient: user.email,
        status: "sent",
        attempts: 1,
        detail: file.detail,
      },
    ]);
    expect(file.detail.startsWith(worker.outboxDir)).toBe(true);
    const eml = await readFile(file.detail, "utf8");
    expect(eml).toContain(`To: ${user.email}`);
    expect(eml).toContain("Subject: Verify your e-mail address");
    expect(eml).toContain("Hi Mail User");
    const token = decodeURIComponent(
      /https:\/\/app\.test\/verify-email\?token=([A-Za-z0-9_%-]+)/.exec(eml)![1]!,
    );

    await sql(`select app_hidden.verify_email($1, null, null)`, [token]);
    expect(
      await sql(`select email_verified from app_public.users where id = $1`, [user.id]),
    ).toEqual([{ email_verified: true }]);
  });

  it("writes a password-reset e-mail with a link to the reset page", async () => {
    const user = await newUser();
    const completed = worker.listen();
    expect((await completed(await queue("password_reset", user.id))).error).toBeUndefined();
    const message = await worker.message(user.email, 0);
    expect(message.subject).toBe("Reset your password");
    expect(message.text).toMatch(/https:\/\/app\.test\/reset-password\?token=[A-Za-z0-9_%-]{20,}/);
    expect(message.html).toContain('href="https://app.test/reset-password?token=');
  });

  it("sends nothing to an account that is no longer active", async () => {
    const user = await newUser();
    await sql(`update app_public.users set status = 'suspended' where id = $1`, [user.id]);
    const completed = worker.listen();
    expect((await completed(await queue("verify_email", user.id))).error).toBeUndefined();
    expect(await deliveries(user.id)).toEqual([]);
  });

  it("refuses an unknown template (the job fails; nothing is sent)", async () => {
    const user = await newUser();
    const completed = worker.listen();
    const { error } = await completed(await queue("newsletter", user.id, 1));
    expect(String(error)).toMatch(/send_email: bad payload/);
    expect(await deliveries(user.id)).toEqual([]);
  });
});

describe("failures", () => {
  /** A transport that fails as told, then delivers. */
  function flakyTransport(failures: Error[]): MailTransport & { sent: MailMessage[] } {
    const sent: MailMessage[] = [];
    return {
      sent,
      async send(_from, message) {
        const failure = failures.shift();
        if (failure) throw failure;
        sent.push(message);
        return `delivered-${sent.length}`;
      },
    };
  }

  it("retries a passing failure with backoff, then records the delivery once", async () => {
    const transport = flakyTransport([new Error("connection reset")]);
    const worker = await startTestWorker(db, { transport });
    try {
      const user = await newUser();
      const completed = worker.listen();
      const jobId = await queue("verify_email", user.id);
      expect(String((await completed(jobId)).error)).toMatch(/connection reset/);
      const [job] = await sql<{ attempts: number; delay: number }>(
        `select attempts, extract(epoch from run_at - now())::float8 as delay from graphile_worker.jobs where id = $1`,
        [jobId],
      );
      expect(job!.attempts).toBe(1);
      expect(job!.delay).toBeGreaterThan(1); // backed off, not retried at once
      expect(await deliveries(user.id)).toEqual([]);

      // run the retry now rather than waiting for the backoff
      const retried = worker.listen();
      await sql(`select graphile_worker.reschedule_jobs(array[$1::bigint], run_at := now())`, [
        jobId,
      ]);
      expect((await retried(jobId)).error).toBeUndefined();
      expect(transport.sent).toHaveLength(1);
      expect(await deliveries(user.id)).toEqual([
        {
          template: "verify_email",
          recipient: user.email,
          status: "sent",
          attempts: 2,
          detail: "delivered-1",
        },
      ]);
      // only the token in the delivered e-mail is valid: the failed attempt's one was replaced
      expect(
        await sql(
          `select count(*)::int as n from app_private.user_tokens where user_id = $1 and used_at is null`,
          [user.id],
        ),
      ).toEqual([{ n: 1 }]);
    } finally {
      await worker.close();
    }
  });

  it("records a permanent failure and does not retry it", async () => {
    const transport = flakyTransport([new PermanentMailError("SMTP 550: mailbox unavailable")]);
    const worker = await startTestWorker(db, { transport });
    try {
      const user = await newUser();
      const completed = worker.listen();
      const jobId = await queue("verify_email", user.id);
      expect((await completed(jobId)).error).toBeUndefined(); // done: retrying would not help
      expect(await sql(`select 1 from graphile_worker.jobs where id = $1`, [jobId])).toEqual([]);
      expect(await deliveries(user.id)).toEqual([
        {
          template: "verify_email",
          recipient: user.email,
          status: "failed",
          attempts: 1,
          detail: "SMTP 550: mailbox unavailable",
        },
      ]);
      expect(
        worker.log.lines.some((l) =>
          /^error send_email: verify_email given up.*permanent=true/.test(l),
        ),
      ).toBe(true);
    } finally {
      await worker.close();
    }
  });

  it("records the last attempt's failure when the attempts run out", async () => {
    const transport = flakyTransport([new Error("timeout")]);
    const worker = await startTestWorker(db, { transport });
    try {
      const user = await newUser();
      const completed = worker.listen();
      const jobId = await queue("password_reset", user.id, 1);
      expect(String((await completed(jobId)).error)).toMatch(/timeout/);
      expect(await deliveries(user.id)).toEqual([
        {
          template: "password_reset",
          recipient: user.email,
          status: "failed",
          attempts: 1,
          detail: "timeout",
        },
      ]);
      expect(
        await sql(`select attempts, max_attempts from graphile_worker.jobs where id = $1`, [jobId]),
      ).toEqual([{ attempts: 1, max_attempts: 1 }]);
    } finally {
      await worker.close();
    }
  });
});

describe("SMTP (nodemailer)", () => {
  const message: MailMessage = {
    to: "someone@example.com",
    subject: "Hello there",
    text: "plain body https://app.test/x?token=abc",
    html: "<p>html body</p>",
  };

  it("delivers through the SMTP server in SMTP_URL", async () => {
    smtp.rcptReply = "250 OK";
    const before = smtp.messages.length;
    const id = await smtpTransport(smtp.url).send("MKing <no-reply@mking.test>", message);
    expect(id).toMatch(/@/);
    const raw = await smtp.message(before);
    expect(raw).toContain("Subject: Hello there");
    expect(raw).toContain("To: someone@example.com");
    expect(raw).toContain("plain body https://app.test/x?token=abc");
  });

  it("treats a 5xx refusal as permanent and a 4xx one as worth retrying", async () => {
    smtp.rcptReply = "550 5.1.1 No such user";
    const refused = await smtpTransport(smtp.url)
      .send("a@mking.test", message)
      .catch((e: unknown) => e);
    expect(refused).toBeInstanceOf(PermanentMailError);
    expect((refused as Error).message).toMatch(/^SMTP 550/);

    smtp.rcptReply = "451 4.3.0 Try again later";
    const deferred = await smtpTransport(smtp.url)
      .send("a@mking.test", message)
      .catch((e: unknown) => e);
    expect(deferred).toBeInstanceOf(Error);
    expect(deferred).not.toBeInstanceOf(PermanentMailError);
    smtp.rcptReply = "250 OK";
  });

  it("treats a refused login (530, 534, 535) as worth retrying, unlike the other 5xx replies", async () => {
    const withLogin = smtp.url.replace("smtp://", "smtp://mailer:wrong@");
    try {
      for (const refusal of [
        "535 5.7.8 Authentication credentials invalid",
        "534 5.7.9 Mechanism too weak",
      ]) {
        smtp.authReply = refusal;
        const before = smtp.authAttempts;
        const failed = await smtpTransport(withLogin)
          .send("a@mking.test", message)
          .catch((e: unknown) => e);
        expect(smtp.authAttempts).toBe(before + 1); // it did try to log in
        expect(failed).toBeInstanceOf(Error);
        expect(failed).not.toBeInstanceOf(PermanentMailError);
        expect((failed as Error).message).toMatch(/^SMTP 53\d: the server refused our login/);
      }
      smtp.authReply = "235 2.7.0 Authentication successful";

      // a server that wants a login we did not configure answers MAIL FROM with 530
      smtp.mailReply = "530 5.7.0 Authentication required";
      const unauthenticated = await smtpTransport(smtp.url)
        .send("a@mking.test", message)
        .catch((e: unknown) => e);
      expect(unauthenticated).not.toBeInstanceOf(PermanentMailError);
      expect((unauthenticated as Error).message).toMatch(/^SMTP 530/);

      // and a refusal of the sender itself stays permanent
      smtp.mailReply = "553 5.1.8 Sender address rejected";
      const rejected = await smtpTransport(smtp.url)
        .send("a@mking.test", message)
        .catch((e: unknown) => e);
      expect(rejected).toBeInstanceOf(PermanentMailError);
    } finally {
      smtp.authReply = "235 2.7.0 Authentication successful";
      smtp.mailReply = "250 OK";
    }
  });

  it("retries a send_email job whose SMTP login is refused, and delivers once the login works", async () => {
    const worker = await startTestWorker(db, {
      transport: smtpTransport(smtp.url.replace("smtp://", "smtp://mailer:secret@")),
    });
    try {
      smtp.authReply = "535 5.7.8 Authentication credentials invalid";
      const user = await newUser();
      const before = smtp.messages.length;
      const completed = worker.listen();
      const jobId = await queue("verify_email", user.id);
      expect(String((await completed(jobId)).error)).toMatch(/SMTP 535/);
      const [job] = await sql<{ attempts: number; delay: number }>(
        `select attempts, extract(epoch from run_at - now())::float8 as delay from graphile_worker.jobs where id = $1`,
        [jobId],
      );
      expect(job!.attempts).toBe(1);
      expect(job!.delay).toBeGreaterThan(1); // backed off
      expect(await deliveries(user.id)).toEqual([]); // not given up

      // the credentials are fixed; the retry (run now rather than after its backoff) gets through
      smtp.authReply = "235 2.7.0 Authentication successful";
      const retried = worker.listen();
      await sql(`select graphile_worker.reschedule_jobs(array[$1::bigint], run_at := now())`, [
        jobId,
      ]);
      expect((await retried(jobId)).error).toBeUndefined();
      expect(await smtp.message(before)).toContain(`To: ${user.email}`);
      expect(await deliveries(user.id)).toEqual([
        expect.objectContaining({ status: "sent", attempts: 2, recipient: user.email }),
      ]);
    } finally {
      smtp.authReply = "235 2.7.0 Authentication successful";
      await worker.close();
    }
  });

  it("is what the worker uses when SMTP_URL is set; the outbox otherwise", async () => {
    const before = smtp.messages.length;
    const viaSmtp = mailFor(testConfig({ SMTP_URL: smtp.url }), testLogger());
    await viaSmtp.transport.send(viaSmtp.from, message);
    expect(smtp.messages).toHaveLength(before + 1);

    const dataDir = await mkdtemp(path.join(tmpdir(), "mking-mailfor-"));
    try {
      const log = testLogger();
      const viaOutbox = mailFor(testConfig({ DATA_DIR: dataDir }), log);
      expect(log.lines.some((l) => l.includes(`outbox=${dataDir}/outbox`))).toBe(true);
      const where = await viaOutbox.transport.send(viaOutbox.from, message);
      expect(where.startsWith(`${dataDir}/outbox/`)).toBe(true);
      expect(await readFile(where, "utf8")).toContain("Subject: Hello there");
      expect(smtp.messages).toHaveLength(before + 1);
    } finally {
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
