/**
 * Where uploaded media bytes live (issue #14): local files under DATA_DIR/media (the default;
 * the API serves the signed PUT and GET itself, src/media/routes.ts) or an S3-compatible bucket
 * (STORAGE_URL=s3://…). Keys look like `uploads/<owner>/<upload id>/<variant>`.
 */
import type { Config } from "../config.ts";
import { LocalStorage } from "./local.ts";
import { S3Storage } from "./s3.ts";

export interface MediaStorage {
  put(key: string, body: Buffer | NodeJS.ReadableStream, contentType: string): Promise<void>;
  /** The whole object, or null when there is none. */
  get(key: string): Promise<NodeJS.ReadableStream | null>;
  /** The first `maxBytes` bytes (all of a smaller object), or null when there is none. */
  readBytes(key: string, maxBytes: number): Promise<Buffer | null>;
  head(key: string): Promise<{ bytes: number; contentType: string | null } | null>;
  /** Idempotent: deleting what is not there is fine. */
  delete(key: string): Promise<void>;
  /** Every key that starts with `prefix`. */
  list(prefix: string): Promise<string[]>;
}

/** A storage key: slash-separated segments of letters, digits, `.`, `_` and `-` (no `..`). */
export function isValidKey(key: string): boolean {
  return (
    key.length > 0 &&
    key.length <= 512 &&
    key.split("/").every((s) => /^[A-Za-z0-9_][A-Za-z0-9._-]*$/.test(s) && !s.includes(".."))
  );
}

export function assertValidKey(key: string): void {
  if (!isValidKey(key)) throw new Error(`invalid storage key: ${JSON.stringify(key)}`);
}

const drivers = new WeakMap<Config, MediaStorage>();

/** The configured storage (one instance per configuration). */
export function storageFor(config: Config): MediaStorage {
  let storage = drivers.get(config);
  if (!storage) {
    const s = config.media.storage;
    storage = s.driver === "local" ? new LocalStorage(s.dir) : new S3Storage(s);
    drivers.set(config, storage);
  }
  return storage;
}
