/**
 * createUpload → PUT to the signed URL → completeUpload, over real HTTP with the local driver:
 * per-purpose types, size limits, the quota, the rate limit, and the PUT route's checks.
 */
import { readFile, rm } from "node:fs/promises";
import path from "node:path";

import type { TestAccount } from "../helpers/accounts.ts";
import { ok, refusal, startApi, type Api } from "../helpers/api.ts";
import {
  absolute,
  COMPLETE_UPLOAD,
  createUpload,
  tempDataDir,
  uploadBytes,
  type CreatedUpload,
} from "./helpers.ts";

let api: Api;
let dataDir: string;
let ana: TestAccount;
let ben: TestAccount;

const QUOTA = 50_000;
const PER_HOUR = 12;

beforeAll(async () => {
  dataDir = await tempDataDir();
  api = await startApi({
    DATA_DIR: dataDir,
    MEDIA_ALLOW_EXTERNAL_URLS: "false",
    MEDIA_MAX_BYTES_IMAGE: "20000",
    MEDIA_MAX_BYTES_AUDIO: "30000",
    MEDIA_QUOTA_BYTES: String(QUOTA),
    MEDIA_UPLOADS_PER_HOUR: String(PER_HOUR),
  });
  [ana, ben] = [await api.register(), await api.register()];
});
afterAll(async () => {
  await api.close();
  await rm(dataDir, { recursive: true, force: true });
});

const bytes = (n: number, fill = 7): Buffer => Buffer.alloc(n, fill);

describe("createUpload", () => {
  it("answers a pending upload with a signed PUT URL; the bytes land in storage", async () => {
    const body = bytes(1234);
    const { upload, putStatus } = await uploadBytes(api, ana, body);
    expect(upload.status).toBe("pending");
    expect(upload.uploadUrl).toMatch(
      /^\/media\/u\/uploads\/[0-9a-f-]{36}\/[0-9a-f-]{36}\/original\?/,
    );
    expect(new Date(upload.uploadUrlExpiresAt!).getTime()).toBeGreaterThan(Date.now());
    expect(putStatus).toBe(201);
    const [row] = await api.sql<{ storage_key: string; owner_id: string }>(
      `select storage_key, owner_id from app_public.uploads where id = $1`,
      [upload.id],
    );
    expect(row!.owner_id).toBe(ana.id);
    const stored = await readFile(path.join(dataDir, "media", ...row!.storage_key.split("/")));
    expect(stored.equals(body)).toBe(true);
  });

  it("completeUpload marks it uploaded and queues media__process once", async () => {
    const { upload } = await uploadBytes(api, ana, bytes(100));
    const first = ok<{ completeUpload: { upload: CreatedUpload } }>(
      await api.as(ana)(COMPLETE_UPLOAD, { id: upload.id }),
    );
    expect(first.completeUpload.upload).toMatchObject({ status: "uploaded", uploadUrl: null });
    ok(await api.as(ana)(COMPLETE_UPLOAD, { id: upload.id }));
    const jobs = await api.sql<{ task_identifier: string; payload: unknown }>(
      `select t.identifier as task_identifier, j.payload
         from graphile_worker._private_jobs j
         join graphile_worker._private_tasks t on t.id = j.task_id
        where j.key = $1`,
      [`media:${upload.id}`],
    );
    expect(jobs).toEqual([{ task_identifier: "media__process", payload: { uploadId: upload.id } }]);
  });

  it("shows an upload to its owner only, and refuses completing someone else's", async () => {
    const { upload } = await uploadBytes(api, ana, bytes(10));
    const QUERY = `query ($id: UUID!) { upload(id: $id) { id status } }`;
    expect(ok<{ upload: unknown }>(await api.as(ana)(QUERY, { id: upload.id })).upload).toEqual({
      id: upload.id,
      status: "pending",
    });
    expect(ok<{ upload: unknown }>(await api.as(ben)(QUERY, { id: upload.id })).upload).toBeNull();
    expect(refusal(await api.as(ben)(COMPLETE_UPLOAD, { id: upload.id }))).toMatchObject({
      code: "NOT_FOUND",
    });
    expect(refusal(await api.as(null)(COMPLETE_UPLOAD, { id: upload.id }))).toMatchObject({
      code: "UNAUTHENTICATED",
    });
  });

  it("refuses a declared type not allowed for the purpose", async () => {
    const cases = [
      { purpose: "post_media", filename: "page.html", contentType: "text/html" },
      { purpose: "post_media", filename: "x.exe", contentType: "application/x-msdownload" },
      { purpose: "avatar", filename: "clip.mp4", contentType: "video/mp4" },
      { purpose: "cover", filename: "song.mp3", contentType: "audio/mpeg" },
    ];
    for (const c of cases) {
      expect(refusal(await createUpload(api, ben, { ...c, byteSize: 100 }))).toMatchObject({
        code: "MEDIA_TYPE_NOT_ALLOWED",
        field: "content_type",
      });
    }
    expect(
      refusal(
        await createUpload(api, ben, {
          purpose: "wallpaper",
          filename: "a.jpg",
          contentType: "image/jpeg",
          byteSize: 1,
        }),
      ),
    ).toMatchObject({ code: "INVALID_INPUT", field: "purpose" });
  });

  it("refuses a declared size over the kind's limit", async () => {
    const input = { purpose: "post_media", filename: "big.jpg", contentType: "image/jpeg" };
    expect(refusal(await createUpload(api, ben, { ...input, byteSize: 20_001 }))).toMatchObject({
      code: "UPLOAD_TOO_LARGE",
      field: "byte_size",
    });
    // audio has its own, larger limit
    ok(
      await createUpload(api, ben, {
        purpose: "post_media",
        filename: "talk.mp3",
        contentType: "audio/mpeg",
        byteSize: 25_000,
      }),
    );
    expect(refusal(await createUpload(api, ben, { ...input, byteSize: 0 }))).toMatchObject({
      code: "INVALID_INPUT",
    });
  });
});

describe("the quota and the rate limit", () => {
  it("refuses an upload that would pass the quota; failed uploads do not count", async () => {
    const cat = await api.register();
    const input = { purpose: "post_media", filename: "a.jpg", contentType: "image/jpeg" };
    for (let i = 0; i < 2; i++) ok(await createUpload(api, cat, { ...input, byteSize: 20_000 }));
    expect(refusal(await createUpload(api, cat, { ...input, byteSize: 10_001 }))).toMatchObject({
      code: "QUOTA_EXCEEDED",
    });
    ok(await createUpload(api, cat, { ...input, byteSize: 10_000 })); // exactly the quota
    await api.sql(
      `update app_public.uploads set status = 'failed' where owner_id = $1 and declared_bytes = 20000`,
      [cat.id],
    );
    ok(await createUpload(api, cat, { ...input, byteSize: 20_000 }));
  });

  it("is atomic: concurrent uploads cannot pass the quota together", async () => {
    const dan = await api.register();
    const input = { purpose: "post_media", filename: "a.jpg", contentType: "image/jpeg" };
    const answers = await Promise.all(
      Array.from({ length: 6 }, () => createUpload(api, dan, { ...input, byteSize: 20_000 })),
    );
    expect(answers.filter((a) => !a.errors)).toHaveLength(2);
    expect(answers.filter((a) => refusal(a)?.code === "QUOTA_EXCEEDED")).toHaveLength(4);
    const [sum] = await api.sql<{ total: string }>(
      `select sum(declared_bytes)::text as total from app_public.uploads where owner_id = $1`,
      [dan.id],
    );
    expect(Number(sum!.total)).toBeLessThanOrEqual(QUOTA);
  });

  it("limits createUpload calls per hour", async () => {
    const eve = await api.register();
    const input = { purpose: "post_media", filename: "a.jpg", contentType: "image/jpeg" };
    for (let i = 0; i < PER_HOUR; i++) ok(await createUpload(api, eve, { ...input, byteSize: 1 }));
    expect(refusal(await createUpload(api, eve, { ...input, byteSize: 1 }))).toMatchObject({
      code: "RATE_LIMITED",
    });
  });
});

describe("the local upload URL", () => {
  async function started(byteSize: number, contentType = "image/png"): Promise<string> {
    const data = ok<{ createUpload: { upload: CreatedUpload } }>(
      await createUpload(api, ben, {
        purpose: "post_media",
        filename: "p.png",
        contentType,
        byteSize,
      }),
    );
    return absolute(api, data.createUpload.upload.uploadUrl!);
  }
  const put = (url: string, body: Buffer, type = "image/png"): Promise<Response> =>
    fetch(url, { method: "PUT", headers: { "content-type": type }, body: new Uint8Array(body) });

  it("refuses more bytes than declared (413), and a stream that grows past them", async () => {
    const url = await started(100);
    const answer = await put(url, bytes(101));
    expect(answer.status).toBe(413);
    expect(await answer.json()).toMatchObject({
      errors: [{ extensions: { code: "UPLOAD_TOO_LARGE" } }],
    });
    // without a Content-Length: counted while streaming
    const streamed = await fetch(url, {
      method: "PUT",
      headers: { "content-type": "image/png" },
      body: new ReadableStream({
        start(controller) {
          for (let i = 0; i < 5; i++) controller.enqueue(new Uint8Array(bytes(40)));
          controller.close();
        },
      }),
      duplex: "half",
    } as RequestInit & { duplex: "half" });
    expect(streamed.status).toBe(413);
    expect(await put(url, bytes(100))).toHaveProperty("status", 201);
  });

  it("refuses another content type, a tampered signature and a second PUT", async () => {
    const url = await started(10);
    expect((await put(url, bytes(10), "text/html")).status).toBe(415);
    const tampered = url.replace(/len=10/, "len=100000");
    expect((await put(tampered, bytes(10))).status).toBe(403);
    expect((await put(url.replace(/sig=[^&]+/, "sig=x"), bytes(10))).status).toBe(403);
    expect((await put(url, bytes(10))).status).toBe(201);
    const again = await put(url, bytes(10, 9));
    expect(again.status).toBe(409);
    expect(await again.json()).toMatchObject({
      errors: [{ extensions: { code: "UPLOAD_URL_INVALID" } }],
    });
  });
});
