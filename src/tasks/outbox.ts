/**
 * `maintenance__prune_outbox`: deletes the development outbox's messages (DATA_DIR/outbox/*.eml,
 * src/mail/transport.ts) last written more than OUTBOX_RETENTION_DAYS ago. Does nothing where
 * e-mail goes by SMTP (no outbox). Daily (src/crontab).
 */
import { readdir, stat, unlink } from "node:fs/promises";
import path from "node:path";

import type { Task } from "graphile-worker";

import type { TaskDependencies } from "./index.ts";

const DAY_MS = 86_400_000;

/** Deletes the .eml files in `dir` older than `days`; returns how many (0 if `dir` is absent). */
export async function pruneOutboxFolder(
  dir: string,
  days: number,
  now = Date.now(),
): Promise<number> {
  const names = await readdir(dir).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return [] as string[];
    throw error;
  });
  let deleted = 0;
  for (const name of names.filter((n) => n.endsWith(".eml"))) {
    const file = path.join(dir, name);
    const info = await stat(file).catch(() => null); // removed meanwhile
    if (!info?.isFile() || info.mtimeMs >= now - days * DAY_MS) continue;
    const removed = await unlink(file).then(
      () => true,
      (error: NodeJS.ErrnoException) => {
        if (error.code === "ENOENT") return false; // removed meanwhile
        throw error;
      },
    );
    if (removed) deleted += 1;
  }
  return deleted;
}

export function pruneOutbox({ mail, retention }: TaskDependencies): Task {
  return async (_payload, helpers) => {
    const started = Date.now();
    if (!mail.outboxDir) {
      helpers.logger.info("maintenance__prune_outbox done", { outbox: "none", deleted: 0 });
      return;
    }
    const deleted = await pruneOutboxFolder(mail.outboxDir, retention.outboxDays);
    helpers.logger.info("maintenance__prune_outbox done", {
      outbox: mail.outboxDir,
      deleted,
      ms: Date.now() - started,
    });
  };
}
