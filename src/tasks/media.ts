/**
 * Media (issue #14), the worker's side; the upload flow and delivery are src/media/ and the
 * "media: uploads" migration section.
 *
 * - `media__process` {uploadId}: queued by completeUpload (job key `media:<id>`). Claims the
 *   upload (`uploaded` → `processing`; a retry finds it `processing`), reads the original
 *   through the storage (at most the kind's MEDIA_MAX_BYTES_* + 1 bytes), sniffs its real type,
 *   and either makes it `ready` — images re-encoded without metadata (the original replaced),
 *   WebP variants `large`/`small`/`thumbnail`; video/audio checked with ffprobe where installed,
 *   a video's `poster` and `thumbnail` from ffmpeg — with media_type, mime_type, width, height,
 *   duration_seconds, file_size and variants from the processed file, or `failed` with an
 *   error_code (TYPE_MISMATCH, UNSUPPORTED_TYPE, TOO_MANY_PIXELS, TOO_LONG, MALFORMED_FILE,
 *   TOO_LARGE) and a message. A bad file never throws; storage and database errors do, so the
 *   job is retried; the last attempt that still throws leaves it `failed` (PROCESSING_FAILED).
 *   An upload already `ready`/`failed`, or gone, is left alone: running it twice is harmless.
 * - `media__cleanup_orphans` (src/crontab, nightly): uploads never attached within 24 hours and
 *   uploads no media column names any more (app_private.media_orphan_uploads) lose their files,
 *   then their rows; stored files under `uploads/` whose upload no longer exists (an erased
 *   account's) are deleted too.
 */
import type { JobHelpers, Task } from "graphile-worker";

import type { MediaTaskSettings } from "../media/process/settings.ts";
import { processUpload, type UploadRow } from "../media/process/upload.ts";
import type { TaskDependencies } from "./index.ts";

function settingsOf(deps: TaskDependencies): MediaTaskSettings {
  if (!deps.media) throw new Error("media processing is not configured (media)");
  return deps.media;
}

function uploadIdOf(payload: unknown): string {
  const id = (payload as { uploadId?: unknown } | null)?.uploadId;
  if (typeof id !== "string" || !/^[0-9a-f-]{36}$/i.test(id)) {
    throw new Error(`media__process: bad payload ${JSON.stringify(payload)}`);
  }
  return id;
}

async function markFailed(
  helpers: JobHelpers,
  id: string,
  code: string,
  message: string,
): Promise<void> {
  await helpers.query(
    `update app_public.uploads
        set status = 'failed', error_code = $2, error_message = $3, processed_at = now()
      where id = $1 and status = 'processing'`,
    [id, code, message],
  );
}

export function mediaProcess(deps: TaskDependencies): Task {
  return async (payload, helpers) => {
    const settings = settingsOf(deps);
    const id = uploadIdOf(payload);
    const started = Date.now();
    // first attempt: 'uploaded'; a retry (or a worker that died mid-way): 'processing'
    const { rows } = await helpers.query<UploadRow & { first: boolean }>(
      `with before as (select id, status from app_public.uploads where id = $1 for update)
       update app_public.uploads u set status = 'processing'
         from before
        where u.id = before.id and before.status in ('uploaded', 'processing')
       returning u.id, u.owner_id, u.storage_key, u.declared_type, u.declared_bytes,
                 before.status = 'uploaded' as first`,
      [id],
    );
    const upload = rows[0];
    if (!upload) {
      helpers.logger.info("media__process: nothing to do (gone, pending or already processed)", {
        uploadId: id,
      });
      return;
    }
    try {
      const outcome = await processUpload(upload, settings, { checkDeclaredSize: upload.first });
      if (outcome.kind === "failed") {
        await markFailed(helpers, id, outcome.failure.code, outcome.failure.message);
        helpers.logger.info("media__process: failed", {
          uploadId: id,
          code: outcome.failure.code,
          ms: Date.now() - started,
        });
        return;
      }
      const r = outcome.result;
      await helpers.query(
        `update app_public.uploads
            set status = 'ready', media_type = $2, mime_type = $3, width = $4, height = $5,
                duration_seconds = $6, file_size = $7, variants = $8, processed_at = now(),
                error_code = null, error_message = null
          where id = $1 and status = 'processing'`,
        [
          id,
          r.mediaType,
          r.mime,
          r.width,
          r.height,
          r.durationSeconds,
          r.fileSize,
          JSON.stringify(r.variants),
        ],
      );
      if (r.note) helpers.logger.warn(`media__process: ${r.note}`, { uploadId: id });
      helpers.logger.info("media__process: ready", {
        uploadId: id,
        mediaType: r.mediaType,
        ms: Date.now() - started,
      });
    } catch (error) {
      // transient (storage, database): retried; after the last attempt the upload says so
      if (helpers.job.attempts >= helpers.job.max_attempts) {
        await markFailed(
          helpers,
          id,
          "PROCESSING_FAILED",
          "The file could not be processed; please upload it again",
        ).catch(() => undefined);
      }
      throw error;
    }
  };
}

const ORPHAN_BATCH = 100;
const KEY = /^uploads\/[^/]+\/([0-9a-f-]{36})\//i;

export function mediaCleanupOrphans(deps: TaskDependencies): Task {
  return async (_payload, helpers) => {
    const { storage, unattachedHours } = settingsOf(deps);
    const started = Date.now();
    let uploads = 0;
    let files = 0;
    for (;;) {
      const done = await helpers.withPgClient(async (client) => {
        await client.query("begin");
        try {
          const { rows } = await client.query<{
            id: string;
            owner_id: string;
            storage_key: string;
            variants: Record<string, string>;
          }>(
            `select id, owner_id, storage_key, variants
               from app_private.media_orphan_uploads($1, make_interval(hours => $2))`,
            [ORPHAN_BATCH, unattachedHours],
          );
          for (const row of rows) {
            // the files go first: a storage error rolls back and the row stays for the next run
            const keys = new Set([
              row.storage_key,
              ...Object.values(row.variants),
              ...(await storage.list(`uploads/${row.owner_id}/${row.id}/`)),
            ]);
            for (const key of keys) await storage.delete(key);
            files += keys.size;
            await client.query(`delete from app_public.uploads where id = $1`, [row.id]);
          }
          await client.query("commit");
          uploads += rows.length;
          return rows.length < ORPHAN_BATCH;
        } catch (error) {
          await client.query("rollback").catch(() => undefined);
          throw error;
        }
      });
      if (done) break;
    }
    // files whose upload row is gone (an erased account's uploads went with it)
    const byUpload = new Map<string, string[]>();
    for (const key of await storage.list("uploads/")) {
      const id = KEY.exec(key)?.[1]?.toLowerCase();
      if (id) byUpload.set(id, [...(byUpload.get(id) ?? []), key]);
    }
    const ids = [...byUpload.keys()];
    let stray = 0;
    for (let i = 0; i < ids.length; i += 1000) {
      const chunk = ids.slice(i, i + 1000);
      const { rows } = await helpers.query<{ id: string }>(
        `select id::text from app_public.uploads where id = any ($1::uuid[])`,
        [chunk],
      );
      const known = new Set(rows.map((r) => r.id));
      for (const id of chunk.filter((c) => !known.has(c))) {
        for (const key of byUpload.get(id) ?? []) {
          await storage.delete(key);
          stray += 1;
        }
      }
    }
    helpers.logger.info("media__cleanup_orphans done", {
      uploads,
      files,
      strayFiles: stray,
      ms: Date.now() - started,
    });
  };
}
