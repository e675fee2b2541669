/**
 * `send_email`: renders one templated e-mail and hands it to the transport. For the account
 * templates it first mints the one-time token (stored hashed): the plaintext exists only in
 * the message, never in the job queue. A retry mints a fresh token (older unused ones stop
 * working), so at-least-once delivery never leaves two valid links.
 *
 * Failures are retried with graphile-worker's exponential backoff (max_attempts 10). A
 * permanent one (the SMTP server refused for good) or the last attempt is recorded in
 * app_private.email_deliveries, like every e-mail sent.
 */
import type { JobHelpers, Task } from "graphile-worker";

import * as templates from "../mail/templates.ts";
import { PermanentMailError } from "../mail/transport.ts";
import type { TaskDependencies } from "./index.ts";

const TEMPLATES = {
  verify_email: {
    kind: "email_verification",
    ttl: "48 hours",
    path: "/verify-email",
    render: templates.verifyEmail,
  },
  password_reset: {
    kind: "password_reset",
    ttl: "1 hour",
    path: "/reset-password",
    render: templates.passwordReset,
  },
} as const;

type Template = keyof typeof TEMPLATES;
interface Payload {
  template: Template;
  user_id: string;
}

function assertPayload(payload: unknown): asserts payload is Payload {
  const p = payload as Partial<Payload> | null;
  if (
    !p ||
    typeof p.user_id !== "string" ||
    typeof p.template !== "string" ||
    !Object.hasOwn(TEMPLATES, p.template)
  ) {
    throw new Error(`send_email: bad payload ${JSON.stringify(payload)}`);
  }
}

async function record(
  helpers: JobHelpers,
  payload: Payload,
  recipient: string,
  status: "sent" | "failed",
  detail: string,
): Promise<void> {
  await helpers.query(
    `insert into app_private.email_deliveries (template, user_id, recipient, status, attempts, detail)
     values ($1, $2, $3, $4, $5, $6)`,
    [payload.template, payload.user_id, recipient, status, helpers.job.attempts, detail],
  );
}

export function sendEmail({ mail }: TaskDependencies): Task {
  return async (payload, helpers) => {
    assertPayload(payload);
    const spec = TEMPLATES[payload.template];
    const { rows } = await helpers.query<{ email: string; name: string; token: string | null }>(
      `select u.email, coalesce(p.display_name, p.username, u.email) as name,
              app_private.mint_user_token(u.id, $2, $3::interval) as token
         from app_public.users u
         left join app_public.user_profiles p on p.user_id = u.id
        where u.id = $1 and u.status = 'active'`,
      [payload.user_id, spec.kind, spec.ttl],
    );
    const user = rows[0];
    if (!user?.token) {
      helpers.logger.info("send_email: no active account any more; nothing to send", {
        template: payload.template,
      });
      return;
    }
    const link = `${mail.appUrl}${spec.path}?token=${encodeURIComponent(user.token)}`;
    let where: string;
    try {
      where = await mail.transport.send(
        mail.from,
        spec.render({ to: user.email, name: user.name, link }),
      );
    } catch (error) {
      const permanent = error instanceof PermanentMailError;
      if (permanent || helpers.job.attempts >= helpers.job.max_attempts) {
        await record(helpers, payload, user.email, "failed", (error as Error).message);
        helpers.logger.error(`send_email: ${payload.template} given up`, {
          template: payload.template,
          permanent,
        });
        if (permanent) return; // recorded; retrying would not help
      }
      throw error;
    }
    await record(helpers, payload, user.email, "sent", where);
    helpers.logger.info(`send_email: ${payload.template} sent`, {
      template: payload.template,
      to: where,
    });
  };
}
