/**
 * "Download my data" (issue #13):
 *
 * - `data_export__build` {export_id}: queued by requestDataExport. Reads everything about the
 *   person (src/exports/files.ts), writes the zip to DATA_DIR/exports/<id>.zip (0600), marks the
 *   export ready until now + DATA_EXPORT_TTL_HOURS with a fresh single-use token (only its hash
 *   is stored) and e-mails the link `${APP_URL}/exports/<id>?token=…`. A retry builds again and
 *   mints a new token, so at most one link works. On the last attempt it gives up: `failed`.
 * - `data_export__purge` (src/crontab, hourly): expired archives are deleted and their exports
 *   marked `expired`; downloaded ones are deleted too, and files no export knows any more (an
 *   erased account's) after an hour.
 *
 * Archives are local files under DATA_DIR (the API serves them from the same folder).
 */
import { readdir, rm, stat } from "node:fs/promises";
import path from "node:path";

import type { JobHelpers, Task } from "graphile-worker";

import {
  archiveKey,
  ARCHIVE_KEY,
  buildArchive,
  EXPORTS_FOLDER,
  writeArchive,
} from "../exports/archive.ts";
import { gatherPersonalData } from "../exports/gather.ts";
import { dataExportReady } from "../mail/templates.ts";
import { PermanentMailError } from "../mail/transport.ts";
import type { TaskDependencies } from "./index.ts";

const FAILED_MESSAGE = "Your data export could not be made; please ask for a new one.";
/** Files without an export row are left alone this long (one may be being written). */
const ORPHAN_GRACE_MS = 60 * 60 * 1000;

function settingsOf(deps: TaskDependencies): NonNullable<TaskDependencies["dataExport"]> {
  if (!deps.dataExport) throw new Error("data exports are not configured (dataExport)");
  return deps.dataExport;
}

function exportIdOf(payload: unknown): string {
  const id = (payload as { export_id?: unknown } | null)?.export_id;
  if (typeof id !== "string" || !/^[0-9a-f-]{36}$/.test(id)) {
    throw new Error(`data_export__build: bad payload ${JSON.stringify(payload)}`);
  }
  return id;
}

async function sendLink(
  deps: TaskDependencies,
  helpers: JobHelpers,
  exportId: string,
  userId: string,
  token: string,
): Promise<void> {
  const { rows } = await helpers.query<{ email: string; name: string; expires_at: Date }>(
    `select u.email, coalesce(p.display_name, p.username, u.email) as name, e.expires_at
       from app_public.users u
       join app_public.data_exports e on e.user_id = u.id and e.id = $2
       left join app_public.user_profiles p on p.user_id = u.id
      where u.id = $1`,
    [userId, exportId],
  );
  const to = rows[0];
  if (!to) throw new Error("data_export__build: the account or the export is gone");
  const link = `${deps.mail.appUrl}/exports/${exportId}?token=${encodeURIComponent(token)}`;
  const where = await deps.mail.transport.send(
    deps.mail.from,
    dataExportReady({ to: to.email, name: to.name, link, expiresAt: to.expires_at }),
  );
  await helpers.query(
    `insert into app_private.email_deliveries (template, user_id, recipient, status, attempts, detail)
     values ('data_export_ready', $1, $2, 'sent', $3, $4)`,
    [userId, to.email, helpers.job.attempts, where],
  );
}

export function dataExportBuild(deps: TaskDependencies): Task {
  return async (payload, helpers) => {
    const settings = settingsOf(deps);
    const exportId = exportIdOf(payload);
    const { rows } = await helpers.query<{ user_id: string | null }>(
      `select app_private.start_data_export($1) as user_id`,
      [exportId],
    );
    const userId = rows[0]?.user_id;
    if (!userId) {
      helpers.logger.info("data_export__build: nothing to build (gone, done or given up)");
      return;
    }
    const file = path.join(settings.dataDir, archiveKey(exportId));
    try {
      const started = Date.now();
      const exportedAt = new Date();
      const data = await helpers.withPgClient((client) => gatherPersonalData(client, userId));
      const zip = buildArchive(data, { exportId, userId, exportedAt });
      await writeArchive(file, zip);
      const { rows: minted } = await helpers.query<{ token: string | null }>(
        `select app_private.finish_data_export($1, $2, $3, make_interval(hours => $4)) as token`,
        [exportId, archiveKey(exportId), zip.byteLength, settings.ttlHours],
      );
      const token = minted[0]?.token;
      if (!token) {
        await rm(file, { force: true });
        helpers.logger.info("data_export__build: the export changed meanwhile; archive dropped");
        return;
      }
      await sendLink(deps, helpers, exportId, userId, token);
      helpers.logger.info("data_export__build done", {
        exportId,
        bytes: zip.byteLength,
        ms: Date.now() - started,
      });
    } catch (error) {
      const permanent = error instanceof PermanentMailError;
      if (!permanent && helpers.job.attempts < helpers.job.max_attempts) throw error;
      await helpers.query(`select app_private.fail_data_export($1, $2)`, [
        exportId,
        FAILED_MESSAGE,
      ]);
      await rm(file, { force: true });
      helpers.logger.error("data_export__build given up", {
        exportId,
        error: (error as Error).message,
      });
    }
  };
}

export function dataExportPurge(deps: TaskDependencies): Task {
  return async (_payload, helpers) => {
    const settings = settingsOf(deps);
    const { rows } = await helpers.query<{ export_id: string; file_key: string }>(
      `select export_id, file_key from app_private.expire_data_exports()`,
    );
    let deleted = 0;
    for (const row of rows) {
      if (ARCHIVE_KEY.test(row.file_key)) {
        await rm(path.join(settings.dataDir, row.file_key), { force: true });
      }
      await helpers.query(`select app_private.forget_data_export_file($1)`, [row.export_id]);
      deleted += 1;
    }
    const orphans = await deleteOrphans(settings.dataDir, helpers);
    helpers.logger.info("data_export__purge done", { deleted, orphans });
  };
}

/** Archives (and left-over temporary files) no export row knows, older than the grace. */
async function deleteOrphans(dataDir: string, helpers: JobHelpers): Promise<number> {
  const folder = path.join(dataDir, EXPORTS_FOLDER);
  const names = await readdir(folder).catch((error: NodeJS.ErrnoException) => {
    if (error.code === "ENOENT") return [] as string[];
    throw error;
  });
  const ids = names
    .map((name) =>
      /^([0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12})\.zip(\.\d+\.tmp)?$/.exec(
        name,
      ),
    )
    .filter((m): m is RegExpExecArray => m !== null);
  if (ids.length === 0) return 0;
  const { rows } = await helpers.query<{ export_id: string }>(
    `select export_id::text from app_private.data_export_files where export_id = any($1::uuid[])`,
    [ids.map((m) => m[1])],
  );
  const known = new Set(rows.map((r) => r.export_id));
  let deleted = 0;
  for (const m of ids) {
    const isTemporary = m[2] !== undefined;
    if (known.has(m[1]!) && !isTemporary) continue;
    const file = path.join(folder, m[0]);
    const info = await stat(file).catch(() => null);
    if (!info || Date.now() - info.mtimeMs < ORPHAN_GRACE_MS) continue;
    await rm(file, { force: true });
    deleted += 1;
  }
  return deleted;
}
