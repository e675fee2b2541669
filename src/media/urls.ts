/**
 * Signed media URLs (issue #14). Whoever may read a row (row-level security) gets URLs for its
 * media; nobody else can make one. A viewing URL expires at the end of the window after the
 * current one (windows of MEDIA_URL_TTL_SECONDS), so it is the same for every request within a
 * window (a CDN can cache it) and valid for at least one TTL. Local storage: HMAC-signed paths
 * served by src/media/routes.ts; S3 without a CDN: the SDK's presigned URLs.
 */
import { createHmac, timingSafeEqual } from "node:crypto";

import { resolveJwtKeys } from "../auth/keys.ts";
import type { Config } from "../config.ts";
import { S3Storage } from "./s3.ts";
import { storageFor } from "./storage.ts";

/** The clock the URLs use (tests move it instead of sleeping). Milliseconds. */
export const mediaClock = { now: (): number => Date.now() };

/** How long an upload (PUT) URL stays valid. */
export const UPLOAD_URL_TTL_SECONDS = 600;

/** Where the local driver's routes are mounted (src/media/routes.ts). */
export const MEDIA_PATH = "/media";

export type Verdict = "ok" | "expired" | "invalid";

export interface UploadTarget {
  url: string;
  expiresAt: Date;
}

export class MediaUrls {
  private readonly key: Buffer;
  private readonly ttl: number;
  private readonly base: string;
  private readonly s3: S3Storage | null;
  private readonly cdn: boolean;

  constructor(config: Config) {
    const { media } = config;
    this.key = createHmac("sha256", media.signingKey ?? resolveJwtKeys(config).signingKey)
      .update("mking-friend media urls")
      .digest();
    this.ttl = media.urlTtlSeconds;
    this.base = media.publicBaseUrl ?? "";
    this.cdn = media.publicBaseUrl !== null;
    const storage = storageFor(config);
    this.s3 = storage instanceof S3Storage ? storage : null;
  }

  /** Seconds since the epoch, by mediaClock. */
  static nowSeconds(): number {
    return Math.floor(mediaClock.now() / 1000);
  }

  /** When URLs made now expire: the end of the next window. */
  viewExpiry(now = MediaUrls.nowSeconds()): number {
    return (Math.floor(now / this.ttl) + 2) * this.ttl;
  }

  /** A URL to view a stored file, for someone allowed to see it. */
  async viewUrl(key: string): Promise<string> {
    const now = MediaUrls.nowSeconds();
    const exp = this.viewExpiry(now);
    if (this.s3 && !this.cdn) {
      const start = Math.floor(now / this.ttl) * this.ttl;
      return this.s3.presignGet(key, new Date(start * 1000), exp - start);
    }
    const sig = this.sign(["GET", key, String(exp)]);
    return `${this.base}${MEDIA_PATH}/o/${key}?exp=${exp}&sig=${sig}`;
  }

  /** A URL to PUT exactly `bytes` bytes of `contentType` to, once, within a few minutes. */
  async uploadTarget(key: string, contentType: string, bytes: number): Promise<UploadTarget> {
    const exp = MediaUrls.nowSeconds() + UPLOAD_URL_TTL_SECONDS;
    const expiresAt = new Date(exp * 1000);
    if (this.s3) {
      return {
        url: await this.s3.presignPut(key, contentType, bytes, UPLOAD_URL_TTL_SECONDS),
        expiresAt,
      };
    }
    const sig = this.sign(["PUT", key, String(exp), contentType, String(bytes)]);
    const query = new URLSearchParams({
      exp: String(exp),
      type: contentType,
      len: String(bytes),
      sig,
    });
    return { url: `${MEDIA_PATH}/u/${key}?${query.toString()}`, expiresAt };
  }

  /** Checks a local URL's signature (`parts` as signed, without the expiry) and expiry. */
  verify(
    method: "GET" | "PUT",
    key: string,
    exp: string,
    sig: string,
    extra: string[] = [],
  ): Verdict {
    if (!/^\d{1,12}$/.test(exp)) return "invalid";
    const expected = Buffer.from(this.sign([method, key, exp, ...extra]));
    const given = Buffer.from(sig);
    if (given.length !== expected.length || !timingSafeEqual(given, expected)) return "invalid";
    return Number(exp) > MediaUrls.nowSeconds() ? "ok" : "expired";
  }

  private sign(parts: string[]): string {
    return createHmac("sha256", this.key).update(parts.join("\n")).digest("base64url");
  }
}

const instances = new WeakMap<Config, MediaUrls>();

export function mediaUrlsFor(config: Config): MediaUrls {
  let urls = instances.get(config);
  if (!urls) {
    urls = new MediaUrls(config);
    instances.set(config, urls);
  }
  return urls;
}

/** A media column's value as a viewer sees it: stored files become signed URLs. */
export async function publicMediaUrl(
  urls: MediaUrls,
  value: string | null,
): Promise<string | null> {
  if (value === null || !value.startsWith("media:")) return value;
  return urls.viewUrl(value.slice("media:".length));
}
