/**
 * `account__erase` {user_id}: erases an account whose deletion grace period has ended. Queued by
 * requestAccountDeletion (app_hidden.request_account_deletion) to run at the end of the period,
 * under the job key `account__erase:<user id>` (signing in or cancelAccountDeletion removes it).
 * The work is one SQL function, one transaction (app_private.erase_account): idempotent, and it
 * does nothing for an account that was restored, is already gone, or is not due yet.
 */
import type { Task } from "graphile-worker";

import type { TaskDependencies } from "./index.ts";

function assertErasePayload(payload: unknown): asserts payload is { user_id: string } {
  const p = payload as { user_id?: unknown } | null;
  if (!p || typeof p.user_id !== "string") {
    throw new Error(`account__erase: bad payload ${JSON.stringify(payload)}`);
  }
}

export function accountErase({ log }: Pick<TaskDependencies, "log">): Task {
  return async (payload, helpers) => {
    assertErasePayload(payload);
    const { rows } = await helpers.query<{ result: Record<string, unknown> }>(
      `select app_private.erase_account($1::uuid) as result`,
      [payload.user_id],
    );
    log.info("account__erase", { userId: payload.user_id, ...rows[0]?.result });
  };
}
