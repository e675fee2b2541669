/**
 * The media routes of the API process (issue #14):
 *   PUT /media/u/<key>?exp&type&len&sig  the client's upload, local storage only: the signed
 *       content type, at most the signed length, once per key (a second PUT is refused, so a
 *       processed file cannot be replaced by the raw one)
 *   GET /media/o/<key>?exp&sig           a stored file: ranges (video seeking), ETag/304,
 *       Cache-Control until the URL expires. Local storage serves the file; other storage is
 *       streamed through (MEDIA_PUBLIC_BASE_URL: a CDN in front of these URLs).
 * A bad or expired signature is 403, a missing file 404; all refusals are JSON with a code.
 */
import { stat } from "node:fs/promises";
import { pipeline } from "node:stream";

import express, { type Request, type Response, type Router } from "express";

import type { Config } from "../config.ts";
import type { Logger } from "../log.ts";
import { AlreadyExistsError, LocalStorage, TooLargeError } from "./local.ts";
import { isValidKey, storageFor } from "./storage.ts";
import { MediaUrls, mediaUrlsFor } from "./urls.ts";

function refuse(res: Response, status: number, code: string, message: string): void {
  res.status(status).json({ errors: [{ message, extensions: { code } }] });
}

function keyOf(req: Request): string | null {
  const params = req.params as { key?: string | string[] };
  const raw = params.key;
  const key = Array.isArray(raw) ? raw.join("/") : raw;
  return key !== undefined && isValidKey(key) ? key : null;
}

function query(req: Request, name: string): string {
  const value = req.query[name];
  return typeof value === "string" ? value : "";
}

export function mediaRoutes(config: Config, log: Logger): Router {
  const router = express.Router();
  const storage = storageFor(config);
  const urls = mediaUrlsFor(config);

  router.put("/u/*key", async (req, res) => {
    const key = keyOf(req);
    if (!key || !(storage instanceof LocalStorage)) {
      return refuse(res, 404, "NOT_FOUND", "No such upload URL");
    }
    const [exp, type, len, sig] = ["exp", "type", "len", "sig"].map((n) => query(req, n));
    const verdict = urls.verify("PUT", key, exp!, sig!, [type!, len!]);
    if (verdict !== "ok") {
      return refuse(res, 403, "UPLOAD_URL_INVALID", `The upload URL is ${verdict}`);
    }
    const maxBytes = Number(len);
    const sent = (req.headers["content-type"] ?? "").split(";")[0]!.trim().toLowerCase();
    if (sent !== type) {
      return refuse(res, 415, "MEDIA_TYPE_NOT_ALLOWED", `Send Content-Type: ${type}`);
    }
    const declared = req.headers["content-length"];
    if (declared !== undefined && Number(declared) > maxBytes) {
      return refuse(res, 413, "UPLOAD_TOO_LARGE", `At most ${maxBytes} bytes were declared`);
    }
    try {
      const bytes = await storage.putNew(key, req, type!, maxBytes);
      res.status(201).json({ key, bytes });
    } catch (error) {
      if (error instanceof TooLargeError) {
        res.setHeader("Connection", "close");
        return refuse(res, 413, "UPLOAD_TOO_LARGE", `At most ${maxBytes} bytes were declared`);
      }
      if (error instanceof AlreadyExistsError) {
        return refuse(res, 409, "UPLOAD_URL_INVALID", "These bytes were already uploaded");
      }
      log.warn("media upload failed", { error });
      if (!res.headersSent) refuse(res, 500, "INTERNAL_SERVER_ERROR", "The upload failed");
    }
  });

  router.get("/o/*key", async (req, res) => {
    const key = keyOf(req);
    if (!key) return refuse(res, 404, "NOT_FOUND", "No such file");
    const exp = query(req, "exp");
    const verdict = urls.verify("GET", key, exp, query(req, "sig"));
    if (verdict !== "ok") {
      return refuse(res, 403, "UPLOAD_URL_INVALID", `The media URL is ${verdict}`);
    }
    const head = await storage.head(key);
    if (!head) return refuse(res, 404, "NOT_FOUND", "No such file");
    const maxAge = Math.max(0, Number(exp) - MediaUrls.nowSeconds());
    res.setHeader("Cache-Control", `public, max-age=${maxAge}, immutable`);
    res.setHeader("Content-Type", head.contentType ?? "application/octet-stream");
    res.setHeader("X-Content-Type-Options", "nosniff");
    res.setHeader("Content-Security-Policy", "default-src 'none'; sandbox");
    if (storage instanceof LocalStorage) {
      const info = await stat(storage.pathOf(key)).catch(() => null);
      if (!info) return refuse(res, 404, "NOT_FOUND", "No such file");
      res.setHeader("ETag", `"${info.size.toString(16)}-${info.mtimeMs.toString(16)}"`);
      res.setHeader("Last-Modified", info.mtime.toUTCString());
      if (req.fresh) return void res.status(304).end();
      res.sendFile(storage.pathOf(key), { cacheControl: false, dotfiles: "allow" }, (error) => {
        if (error && !res.headersSent) refuse(res, 404, "NOT_FOUND", "No such file");
      });
      return;
    }
    const body = await storage.get(key);
    if (!body) return refuse(res, 404, "NOT_FOUND", "No such file");
    res.setHeader("Content-Length", String(head.bytes));
    // S3 → client: an error on either side ends both (the client's response is cut off rather
    // than left hanging; a client gone stops the S3 read)
    pipeline(body, res, (error) => {
      if (!error) return;
      const code = (error as NodeJS.ErrnoException).code;
      const fields = { key, error: error.message, code };
      // a stream closed early is mostly a client that went away (a video skipped): routine;
      // an error from the storage is not
      if (code === "ERR_STREAM_PREMATURE_CLOSE") log.info("media download ended early", fields);
      else log.warn("media download cut off", fields);
    });
  });

  return router;
}
