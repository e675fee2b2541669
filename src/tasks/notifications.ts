/**
 * `notifications__create`: turns queued events (an array payload; one event per job, queued
 * without a job key so that no running job is ever given up) into notification rows with
 * app_private.notify — where the rules live: not to yourself, not across a block, muted
 * conversations skipped, each event once (dedupe_key; for likes and messages a record of each
 * handled event per recipient), likes and messages coalesced under an advisory lock. Each new
 * or changed notification is announced by pg_notify (trigger) for realtime delivery.
 */
import type { Task } from "graphile-worker";

function assertEvents(payload: unknown): asserts payload is { type: string }[] {
  if (
    !Array.isArray(payload) ||
    !payload.every((e) => e && typeof e === "object" && typeof e.type === "string")
  ) {
    throw new Error(`notifications__create: bad payload ${JSON.stringify(payload)}`);
  }
}

export function notificationsCreate(): Task {
  return async (payload, helpers) => {
    assertEvents(payload);
    const { rows } = await helpers.query<{ changed: number }>(
      `select coalesce(sum(app_private.notify(e)), 0)::int as changed from jsonb_array_elements($1::jsonb) e`,
      [JSON.stringify(payload)],
    );
    helpers.logger.debug("notifications__create done", {
      events: payload.length,
      changed: rows[0]?.changed ?? 0,
    });
  };
}
