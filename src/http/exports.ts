/**
 * GET /exports/:id?token=… (or POST /exports/:id with {"token": "…"}): the "download my data"
 * archive (src/tasks/data_export.ts), served only to its owner, with the link's token.
 *
 * Both are required: the e-mailed token (the link alone could be forwarded or leak from a mail
 * box) AND the owner's access token (`Authorization: Bearer`, verified by the middleware in
 * front of this router): someone else's token answers NOT_FOUND, like a wrong token or an unknown
 * id. The link works once: app_hidden.claim_data_export marks the export `downloaded` under a
 * row lock, so of two concurrent downloads only one gets the archive; the other is told
 * EXPORT_ALREADY_DOWNLOADED. The claim commits only once the archive is open, so a missing file
 * does not use the link up. The file is deleted once it has been sent.
 */
import { open, rm } from "node:fs/promises";
import path from "node:path";

import express, { type Request, type Response, type Router } from "express";
import type pg from "pg";

import { verifiedIdentity } from "../auth/request.ts";
import { AUTHENTICATED_ROLE } from "../db/roles.ts";
import { ARCHIVE_KEY } from "../exports/archive.ts";
import type { Logger } from "../log.ts";
import { refuse } from "./respond.ts";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export interface ExportDownloadOptions {
  /** The API's authenticator pool: the claim runs as the signed-in caller. */
  pool: pg.Pool;
  /** DATA_DIR: archives are `exports/<id>.zip` under it. */
  dataDir: string;
  log: Logger;
}

interface Claim {
  outcome: "ok" | "not_found" | "expired" | "downloaded";
  file_key: string | null;
}

function tokenOf(req: Request): string | null {
  const fromQuery = req.query.token;
  if (typeof fromQuery === "string" && fromQuery !== "") return fromQuery;
  const fromBody = (req.body as { token?: unknown } | undefined)?.token;
  return typeof fromBody === "string" && fromBody !== "" ? fromBody : null;
}

export function exportDownloads(options: ExportDownloadOptions): Router {
  const router = express.Router();
  const log = options.log.child({ component: "exports" });

  const download = async (req: Request, res: Response): Promise<void> => {
    const identity = verifiedIdentity(req);
    if (!identity) {
      return refuse(
        res,
        401,
        "UNAUTHENTICATED",
        "Sign in first: the archive is served to its owner only",
        {
          "WWW-Authenticate": "Bearer",
        },
      );
    }
    const id = String(req.params.id);
    const token = tokenOf(req);
    if (!token) return refuse(res, 400, "BAD_REQUEST", "The link's `token` is missing");
    if (!UUID.test(id)) return refuse(res, 404, "NOT_FOUND", "No such data export");

    const client = await options.pool.connect();
    let handle: Awaited<ReturnType<typeof open>> | null = null;
    let file = "";
    try {
      await client.query("begin");
      await client.query(
        `select set_config('role', $1, true), set_config('jwt.claims.user_id', $2, true),
                set_config('jwt.claims.session_id', $3, true)`,
        [AUTHENTICATED_ROLE, identity.userId, identity.sessionId],
      );
      const { rows } = await client.query<Claim>(
        `select outcome, file_key from app_hidden.claim_data_export($1, $2)`,
        [id, token],
      );
      const claim = rows[0];
      if (claim?.outcome !== "ok" || !claim.file_key || !ARCHIVE_KEY.test(claim.file_key)) {
        await client.query("rollback");
        if (claim?.outcome === "expired") {
          return refuse(
            res,
            410,
            "EXPORT_EXPIRED",
            "This download link has expired; ask for a new export",
          );
        }
        if (claim?.outcome === "downloaded") {
          return refuse(
            res,
            410,
            "EXPORT_ALREADY_DOWNLOADED",
            "This download link was already used; ask for a new export",
          );
        }
        return refuse(res, 404, "NOT_FOUND", "No such data export");
      }
      file = path.join(options.dataDir, claim.file_key);
      handle = await open(file, "r"); // a missing archive: rolled back, the link still works
      await client.query("commit");
    } catch (error) {
      await client.query("rollback").catch(() => undefined);
      await handle?.close();
      throw error;
    } finally {
      client.release();
    }

    const { size } = await handle.stat();
    res.status(200).set({
      "Content-Type": "application/zip",
      "Content-Length": String(size),
      "Content-Disposition": `attachment; filename="mking-friend-data-${id}.zip"`,
      "Cache-Control": "no-store",
    });
    const stream = handle.createReadStream();
    stream.on("error", (error) => {
      log.error("data export archive could not be read", { exportId: id, error });
      res.destroy(error);
    });
    res.on("close", () => {
      // sent (or the client went away): the link is used up either way; the purge forgets the row
      rm(file, { force: true }).catch((error: unknown) =>
        log.warn("data export archive could not be deleted", { exportId: id, error }),
      );
    });
    stream.pipe(res);
  };

  router.get("/:id", download);
  router.post("/:id", express.json({ limit: "4kb" }), download);
  return router;
}
