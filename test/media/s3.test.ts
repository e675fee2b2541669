/**
 * The S3 driver (STORAGE_URL=s3://…) against s3rver, an S3-compatible server from npm, on a free
 * loopback port: put/get/readBytes/head/delete/list, presigned PUT with fetch (the signed type
 * and length), and presigned GET URLs that are stable within a window and expire.
 */
import type { S3StorageConfig } from "../../src/config.ts";
import { S3Storage } from "../../src/media/s3.ts";
import { storageFor } from "../../src/media/storage.ts";
import { mediaClock, mediaUrlsFor } from "../../src/media/urls.ts";
import { S3RVER_BUCKET as BUCKET, startS3rver, type RunningS3rver } from "../helpers/s3rver.ts";
import { testConfig } from "../helpers/server.ts";

let server: RunningS3rver;
let endpoint: string;
let storage: S3Storage;

beforeAll(async () => {
  server = await startS3rver();
  endpoint = server.endpoint;
  const config = testConfig({ STORAGE_URL: storageUrl() });
  expect(config.media.storage).toEqual<S3StorageConfig>({
    driver: "s3",
    bucket: BUCKET,
    endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    accessKeyId: "S3RVER",
    secretAccessKey: "S3RVER",
  });
  const driver = storageFor(config);
  if (!(driver instanceof S3Storage))
    throw new Error("STORAGE_URL=s3://… did not pick the S3 driver");
  storage = driver;
});
afterEach(() => {
  mediaClock.now = () => Date.now();
});
afterAll(async () => {
  await server.close();
});

function storageUrl(): string {
  return server.storageUrl;
}

async function text(stream: NodeJS.ReadableStream | null): Promise<string | null> {
  if (!stream) return null;
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk as Uint8Array));
  return Buffer.concat(chunks).toString();
}

describe("S3Storage against an S3-compatible server", () => {
  it("puts, gets, reads a bounded prefix, heads, lists and deletes", async () => {
    await storage.put("uploads/u1/a/original", Buffer.from("hello world"), "image/jpeg");
    const { Readable } = await import("node:stream");
    await storage.put(
      "uploads/u1/a/thumbnail",
      Readable.from([Buffer.from("thumb")]),
      "image/webp",
    );
    await storage.put("uploads/u2/b/original", Buffer.from("other"), "audio/mpeg");

    expect(await text(await storage.get("uploads/u1/a/original"))).toBe("hello world");
    expect((await storage.readBytes("uploads/u1/a/original", 5))?.toString()).toBe("hello");
    expect((await storage.readBytes("uploads/u1/a/original", 100))?.toString()).toBe("hello world");
    expect(await storage.head("uploads/u1/a/thumbnail")).toEqual({
      bytes: 5,
      contentType: "image/webp",
    });
    expect(await storage.list("uploads/u1/")).toEqual([
      "uploads/u1/a/original",
      "uploads/u1/a/thumbnail",
    ]);

    await storage.delete("uploads/u1/a/thumbnail");
    await storage.delete("uploads/u1/a/thumbnail"); // idempotent
    expect(await storage.head("uploads/u1/a/thumbnail")).toBeNull();
    expect(await storage.get("uploads/u1/a/thumbnail")).toBeNull();
    expect(await storage.readBytes("uploads/u1/a/thumbnail", 10)).toBeNull();
    expect(await storage.list("uploads/")).toEqual([
      "uploads/u1/a/original",
      "uploads/u2/b/original",
    ]);
  });

  it("takes a client's PUT through a presigned URL (fetch), with the signed content type", async () => {
    const config = testConfig({ STORAGE_URL: storageUrl() });
    const urls = mediaUrlsFor(config);
    const body = Buffer.from("a photo's bytes");
    const target = await urls.uploadTarget("uploads/u3/c/original", "image/png", body.length);
    expect(target.url.startsWith(`${endpoint}/${BUCKET}/uploads/u3/c/original?`)).toBe(true);
    // S3 and MinIO refuse a PUT whose type or length differs from the signed ones (s3rver
    // does not check signed header values, so the test checks what was signed)
    const signed = new URL(target.url).searchParams;
    expect(signed.get("X-Amz-SignedHeaders")!.split(";")).toEqual(
      expect.arrayContaining(["content-length", "content-type", "host"]),
    );
    expect(Number(signed.get("X-Amz-Expires"))).toBeLessThanOrEqual(600);
    // no checksum of an empty body signed in (S3 would refuse the real bytes)
    expect(signed.get("x-amz-checksum-crc32")).toBeNull();
    const put = await fetch(target.url, {
      method: "PUT",
      headers: { "content-type": "image/png" },
      body: new Uint8Array(body),
    });
    expect(put.status).toBe(200);
    expect(await storage.head("uploads/u3/c/original")).toEqual({
      bytes: body.length,
      contentType: "image/png",
    });
  });

  it("gives viewing URLs that stay the same within a window and expire", async () => {
    const config = testConfig({ STORAGE_URL: storageUrl(), MEDIA_URL_TTL_SECONDS: "60" });
    const urls = mediaUrlsFor(config);
    await storage.put("uploads/u4/d/original", Buffer.from("seen"), "image/jpeg");
    const windowStart = Math.floor(Date.now() / 60_000) * 60_000;
    mediaClock.now = () => windowStart + 1000;
    const first = await urls.viewUrl("uploads/u4/d/original");
    mediaClock.now = () => windowStart + 50_000;
    expect(await urls.viewUrl("uploads/u4/d/original")).toBe(first);
    mediaClock.now = () => windowStart + 61_000;
    expect(await urls.viewUrl("uploads/u4/d/original")).not.toBe(first);

    const seen = await fetch(first);
    expect(seen.status).toBe(200);
    expect(await seen.text()).toBe("seen");
    // the same URL signed for an earlier window has expired
    mediaClock.now = () => windowStart - 200_000;
    const old = await urls.viewUrl("uploads/u4/d/original");
    expect((await fetch(old)).status).toBe(403);
  });
});
