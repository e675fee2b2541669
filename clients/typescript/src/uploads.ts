/**
 * Uploading a file (README "Media"): createUpload, PUT the bytes to the signed URL with the
 * declared type and size, completeUpload, then wait for the worker to process it. Answers the
 * reference to put where a post, message or profile takes media (`upload:<id>`).
 *
 *   const { reference } = await uploadFile(api, { file, filename: file.name,
 *     contentType: file.type, purpose: "post_media" });
 *   await api.request(PublishPostDocument, { input: { content, media: [{ mediaUrl: reference }] } });
 */
import type { MkingClient } from "./client.ts";
import {
  CompleteUploadDocument,
  CreateUploadDocument,
  UploadStatusDocument,
  type UploadFieldsFragment,
} from "./generated/graphql.ts";
import type { Fetch } from "./transport.ts";

/** Why processing refused the file (docs/error_codes.md, "A failed upload's errorCode"). */
export const UPLOAD_FAILURE_CODES = [
  "TYPE_MISMATCH",
  "UNSUPPORTED_TYPE",
  "TOO_MANY_PIXELS",
  "TOO_LONG",
  "MALFORMED_FILE",
  "TOO_LARGE",
  "PROCESSING_FAILED",
] as const;

/**
 * A failure code, or, on the client's side: `PUT_REFUSED` (storage did not take the bytes) and
 * `NOT_READY_IN_TIME` (still processing when `timeoutMs` ran out).
 */
export type UploadErrorCode =
  (typeof UPLOAD_FAILURE_CODES)[number] | "PUT_REFUSED" | "NOT_READY_IN_TIME";

const FAILURES = new Set<string>(UPLOAD_FAILURE_CODES);

export class UploadFailedError extends Error {
  readonly uploadId: string;
  readonly errorCode: UploadErrorCode;
  /** The HTTP status of a refused PUT. */
  readonly status: number | undefined;

  constructor(uploadId: string, errorCode: UploadErrorCode, message: string, status?: number) {
    super(message);
    this.name = "UploadFailedError";
    this.uploadId = uploadId;
    this.errorCode = errorCode;
    this.status = status;
  }
}

export interface UploadFileOptions {
  /** The bytes: a File or Blob in a browser, a Buffer or Uint8Array in Node. */
  file: Blob | Uint8Array;
  filename: string;
  /** The type to declare (it must match the bytes: processing sniffs them). */
  contentType: string;
  /** `post_media`, `message_attachment`, `avatar`, `cover`, `group_image` or `event_cover`. */
  purpose: string;
  /** Status checks: first after `initialDelayMs` (250), doubling up to `maxDelayMs` (2000). */
  initialDelayMs?: number;
  maxDelayMs?: number;
  /** Gives up (NOT_READY_IN_TIME) after this long processing (60 000). */
  timeoutMs?: number;
  fetch?: Fetch;
}

export interface UploadedFile {
  id: string;
  /** What publishPost's media (and the other media fields) take. */
  reference: `upload:${string}`;
}

/** Uploads, waits until ready; throws UploadFailedError (or ApiError when createUpload refuses). */
export async function uploadFile(
  client: MkingClient,
  options: UploadFileOptions,
): Promise<UploadedFile> {
  const fetchImpl: Fetch = options.fetch ?? ((input, init) => fetch(input, init));
  const body = options.file instanceof Blob ? options.file : new Blob([copy(options.file)]);
  const { createUpload } = await client.request(CreateUploadDocument, {
    input: {
      purpose: options.purpose,
      filename: options.filename,
      contentType: options.contentType,
      byteSize: String(body.size),
    },
  });
  const created = required(createUpload?.upload, "createUpload");
  if (!created.uploadUrl) {
    throw new UploadFailedError(created.id, "PUT_REFUSED", "The API gave no upload URL");
  }
  const put = await fetchImpl(new URL(created.uploadUrl, client.url).toString(), {
    method: "PUT",
    headers: { "content-type": options.contentType },
    body,
  });
  if (!put.ok) {
    throw new UploadFailedError(
      created.id,
      "PUT_REFUSED",
      `Storage refused the file (HTTP ${put.status})`,
      put.status,
    );
  }
  const { completeUpload } = await client.request(CompleteUploadDocument, { id: created.id });
  await untilProcessed(client, required(completeUpload?.upload, "completeUpload"), options);
  return { id: created.id, reference: `upload:${created.id}` };
}

/** Polls the upload's status with a bounded backoff until `ready` (or throws on `failed`). */
async function untilProcessed(
  client: MkingClient,
  first: UploadFieldsFragment,
  options: UploadFileOptions,
): Promise<void> {
  const deadline = Date.now() + (options.timeoutMs ?? 60_000);
  const maxDelay = options.maxDelayMs ?? 2000;
  let delay = options.initialDelayMs ?? 250;
  let upload = first;
  for (;;) {
    if (upload.status === "ready") return;
    if (upload.status === "failed") {
      const code = upload.errorCode ?? "";
      throw new UploadFailedError(
        upload.id,
        FAILURES.has(code) ? (code as UploadErrorCode) : "PROCESSING_FAILED",
        upload.errorMessage ?? "The file could not be processed",
      );
    }
    if (Date.now() + delay > deadline) {
      throw new UploadFailedError(upload.id, "NOT_READY_IN_TIME", "The file is still processing");
    }
    await new Promise((resolve) => setTimeout(resolve, delay));
    delay = Math.min(delay * 2, maxDelay);
    const { upload: next } = await client.request(UploadStatusDocument, { id: upload.id });
    upload = required(next, "upload");
  }
}

function required<T>(value: T | null | undefined, what: string): T {
  if (value == null) throw new Error(`${what} answered no upload`);
  return value;
}

/** The bytes in an ArrayBuffer of their own (what Blob takes everywhere). */
function copy(bytes: Uint8Array): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(bytes.byteLength);
  out.set(bytes);
  return out;
}
