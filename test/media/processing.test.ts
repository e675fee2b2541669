/**
 * media__process and media__cleanup_orphans, run by the real worker on upload rows and stored
 * files put in place directly (test/media/upload.test.ts drives the HTTP flow): EXIF and GPS
 * stripped, sizes and variants, each way a file fails, retries, and the orphan clean-up. Video
 * and audio here take the path without ffprobe (a binary that does not exist); the ffprobe path
 * is tested in test/ops/media.test.ts.
 */
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { crc32, deflateSync } from "node:zlib";

import sharp from "sharp";

import { LocalStorage } from "../../src/media/local.ts";
import type { MediaTaskSettings } from "../../src/media/process/settings.ts";
import type { MediaStorage } from "../../src/media/storage.ts";
import { createTestDatabase, withClient, type TestDatabase } from "../helpers/database.ts";
import { startTestWorker, type TestWorker } from "../helpers/worker.ts";
import { buildWorld, type World } from "../helpers/world.ts";

let db: TestDatabase;
let worker: TestWorker;
let world: World;
let dir: string;
let local: LocalStorage;
/** Reads fail while set (a storage outage). */
let storageDown = false;
/** Waits for a job's outcome (one listener for the whole file). */
let outcome: ReturnType<TestWorker["listen"]>;

const MAX_IMAGE_BYTES = 3 * 1024 * 1024;

beforeAll(async () => {
  db = await createTestDatabase();
  world = await buildWorld(db.ownerUrl);
  dir = await mkdtemp(path.join(tmpdir(), "mking-media-processing-"));
  local = new LocalStorage(dir);
  const storage: MediaStorage = {
    put: (k, b, t) => local.put(k, b, t),
    get: (k) => local.get(k),
    readBytes: (k, n) =>
      storageDown ? Promise.reject(new Error("storage unavailable")) : local.readBytes(k, n),
    head: (k) => local.head(k),
    delete: (k) => local.delete(k),
    list: (p) => local.list(p),
  };
  const media: MediaTaskSettings = {
    storage,
    maxBytes: { image: MAX_IMAGE_BYTES, video: 10 * 1024 * 1024, audio: 10 * 1024 * 1024 },
    maxPixels: 40_000_000,
    maxDurationSeconds: 600,
    ffprobePath: path.join(dir, "no-such-ffprobe"),
    ffmpegPath: path.join(dir, "no-such-ffmpeg"),
    unattachedHours: 24,
  };
  worker = await startTestWorker(db, { media });
  outcome = worker.listen();
  await worker.idle();
});
afterAll(async () => {
  await worker.close();
  await db.drop();
  await rm(dir, { recursive: true, force: true });
});

const sql = <T = Record<string, unknown>>(text: string, values: unknown[] = []): Promise<T[]> =>
  withClient(db.ownerUrl, async (c) => (await c.query(text, values)).rows as T[]);

interface UploadRow {
  id: string;
  storage_key: string;
  status: string;
  error_code: string | null;
  error_message: string | null;
  media_type: string | null;
  mime_type: string | null;
  width: number | null;
  height: number | null;
  duration_seconds: string | null;
  file_size: string | null;
  variants: Record<string, string>;
}

const row = async (id: string): Promise<UploadRow> =>
  (await sql<UploadRow>(`select * from app_public.uploads where id = $1`, [id]))[0]!;

/** An upload row in state `uploaded` with its bytes in storage, as completeUpload leaves it. */
async function stored(
  bytes: Buffer,
  declaredType: string,
  options: { declaredBytes?: number; purpose?: string; owner?: string } = {},
): Promise<UploadRow> {
  const owner = options.owner ?? world.user.olga;
  const id = randomUUID();
  const key = `uploads/${owner}/${id}/original`;
  await local.put(key, bytes, declaredType);
  await sql(
    `insert into app_public.uploads (id, owner_id, purpose, filename, declared_type, declared_bytes,
                                     storage_key, status, uploaded_at)
     values ($1, $2, $3, 'file', $4, $5, $6, 'uploaded', now())`,
    [
      id,
      owner,
      options.purpose ?? "post_media",
      declaredType,
      options.declaredBytes ?? bytes.length,
      key,
    ],
  );
  return row(id);
}

/** Queues media__process as completeUpload does and waits for the job's outcome. */
async function runProcess(id: string): Promise<{ error?: unknown }> {
  const [job] = await sql<{ id: string }>(
    `select id::text from graphile_worker.add_job('media__process', json_build_object('uploadId', $1::text), job_key := 'media:' || $1)`,
    [id],
  );
  return outcome(job!.id);
}

async function processed(
  bytes: Buffer,
  declaredType: string,
  options: { declaredBytes?: number; purpose?: string } = {},
): Promise<UploadRow> {
  const upload = await stored(bytes, declaredType, options);
  const { error } = await runProcess(upload.id);
  expect(error).toBeUndefined();
  return row(upload.id);
}

const storedBytes = async (key: string): Promise<Buffer> => {
  const bytes = await local.readBytes(key, 100 * 1024 * 1024);
  if (!bytes) throw new Error(`nothing stored at ${key}`);
  return bytes;
};

/** A photo with camera and GPS EXIF, as a phone writes it. */
const photoWithGps = (width: number, height: number): Promise<Buffer> =>
  sharp({ create: { width, height, channels: 3, background: "#3a6b8c" } })
    .jpeg({ quality: 85 })
    .withExif({
      IFD0: { Make: "TestCam", Model: "Phone 1" },
      IFD3: {
        GPSLatitudeRef: "N",
        GPSLatitude: "51/1 30/1 0/1",
        GPSLongitudeRef: "W",
        GPSLongitude: "0/1 7/1 0/1",
      },
    })
    .toBuffer();

/** The EXIF tag of the GPS directory (0x8825), in either byte order. */
const hasGpsPointer = (exif: Buffer): boolean =>
  exif.includes(Buffer.from([0x88, 0x25])) || exif.includes(Buffer.from([0x25, 0x88]));

/** A PNG of a few hundred bytes whose header says width × height (a decompression bomb). */
function pngClaiming(width: number, height: number): Buffer {
  const chunk = (type: string, data: Buffer): Buffer => {
    const body = Buffer.concat([Buffer.from(type, "latin1"), data]);
    const out = Buffer.alloc(body.length + 8);
    out.writeUInt32BE(data.length, 0);
    body.copy(out, 4);
    out.writeUInt32BE(crc32(body), body.length + 4);
    return out;
  };
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr.set([8, 2, 0, 0, 0], 8); // 8-bit RGB, no interlace
  return Buffer.concat([
    Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
    chunk("IHDR", ihdr),
    chunk("IDAT", deflateSync(Buffer.alloc(width * 3 + 1))), // one row of zeros
    chunk("IEND", Buffer.alloc(0)),
  ]);
}

describe("media__process: images", () => {
  it("strips EXIF and GPS, records the processed size and stores WebP variants", async () => {
    const photo = await photoWithGps(2000, 1500);
    const before = await sharp(photo).metadata();
    expect(hasGpsPointer(before.exif!)).toBe(true);

    const upload = await processed(photo, "image/jpeg");
    expect(upload).toMatchObject({
      status: "ready",
      error_code: null,
      media_type: "image",
      mime_type: "image/jpeg",
      width: 2000,
      height: 1500,
      duration_seconds: null,
    });
    const base = upload.storage_key.replace(/original$/, "");
    expect(upload.variants).toEqual({
      large: `${base}large`,
      small: `${base}small`,
      thumbnail: `${base}thumbnail`,
    });

    const original = await storedBytes(upload.storage_key);
    expect(Number(upload.file_size)).toBe(original.length);
    const meta = await sharp(original).metadata();
    expect(meta).toMatchObject({ format: "jpeg", width: 2000, height: 1500 });
    expect(meta.exif).toBeUndefined();
    expect(meta.xmp).toBeUndefined();
    expect(original.includes(Buffer.from("Exif\0\0", "latin1"))).toBe(false);
    expect(original.includes(Buffer.from("TestCam", "latin1"))).toBe(false);

    const sizes: Record<string, [number, number]> = {
      large: [1600, 1200],
      small: [640, 480],
      thumbnail: [320, 240],
    };
    for (const [name, [width, height]] of Object.entries(sizes)) {
      const bytes = await storedBytes(upload.variants[name]!);
      const m = await sharp(bytes).metadata();
      expect({ name, format: m.format, width: m.width, height: m.height, exif: m.exif }).toEqual({
        name,
        format: "webp",
        width,
        height,
        exif: undefined,
      });
      expect(bytes.includes(Buffer.from("TestCam", "latin1"))).toBe(false);
    }
    expect((await local.head(upload.variants.thumbnail!))?.contentType).toBe("image/webp");
  });

  it("applies the EXIF orientation: a sideways photo is recorded upright", async () => {
    const sideways = await sharp({
      create: { width: 400, height: 300, channels: 3, background: "#888" },
    })
      .jpeg()
      .withMetadata({ orientation: 6 })
      .toBuffer();
    expect((await sharp(sideways).metadata()).orientation).toBe(6);
    const upload = await processed(sideways, "image/jpeg");
    expect(upload).toMatchObject({ status: "ready", width: 300, height: 400 });
    const meta = await sharp(await storedBytes(upload.storage_key)).metadata();
    expect(meta).toMatchObject({ width: 300, height: 400 });
    expect(meta.orientation).toBeUndefined();
  });

  it("keeps a PNG a PNG", async () => {
    const png = await sharp({ create: { width: 50, height: 40, channels: 4, background: "#f00a" } })
      .png()
      .toBuffer();
    const upload = await processed(png, "image/png");
    expect(upload).toMatchObject({
      status: "ready",
      mime_type: "image/png",
      width: 50,
      height: 40,
    });
    expect((await sharp(await storedBytes(upload.storage_key)).metadata()).format).toBe("png");
  });
});

describe("media__process: files that fail", () => {
  const failure = (u: UploadRow): Pick<UploadRow, "status" | "error_code"> => ({
    status: u.status,
    error_code: u.error_code,
  });

  it("a PNG declared as a JPEG: TYPE_MISMATCH", async () => {
    const png = await sharp({ create: { width: 20, height: 20, channels: 3, background: "#000" } })
      .png()
      .toBuffer();
    const upload = await processed(png, "image/jpeg");
    expect(failure(upload)).toEqual({ status: "failed", error_code: "TYPE_MISMATCH" });
    expect(upload.error_message).toBe("The file is image/png, not image/jpeg as declared");
    expect(upload.variants).toEqual({});
  });

  it("a truncated JPEG: MALFORMED_FILE", async () => {
    const noise = randomBytes(600 * 400 * 3);
    const jpeg = await sharp(noise, { raw: { width: 600, height: 400, channels: 3 } })
      .jpeg()
      .toBuffer();
    const upload = await processed(jpeg.subarray(0, Math.floor(jpeg.length * 0.6)), "image/jpeg");
    expect(failure(upload)).toEqual({ status: "failed", error_code: "MALFORMED_FILE" });
    expect(upload.error_message).toMatch(/damaged or truncated/);
  });

  it("a pixel bomb (a tiny PNG claiming 30000×30000): TOO_MANY_PIXELS, from its header", async () => {
    const bomb = pngClaiming(30_000, 30_000);
    expect(bomb.length).toBeLessThan(1000);
    const upload = await processed(bomb, "image/png");
    expect(failure(upload)).toEqual({ status: "failed", error_code: "TOO_MANY_PIXELS" });
    // the header check's message: it failed before anything was decoded
    expect(upload.error_message).toBe(
      "The image has 30000×30000 pixels; at most 40000000 are accepted",
    );
  });

  it("random bytes: UNSUPPORTED_TYPE", async () => {
    const upload = await processed(randomBytes(5000), "image/jpeg");
    expect(failure(upload)).toEqual({ status: "failed", error_code: "UNSUPPORTED_TYPE" });
  });

  it("more bytes than declared, or than allowed: TOO_LARGE", async () => {
    const photo = await photoWithGps(300, 200);
    const overDeclared = await processed(photo, "image/jpeg", { declaredBytes: 100 });
    expect(failure(overDeclared)).toEqual({ status: "failed", error_code: "TOO_LARGE" });
    expect(overDeclared.error_message).toBe("The file is larger than the 100 bytes declared");

    const huge = Buffer.concat([photo, Buffer.alloc(MAX_IMAGE_BYTES)]);
    const overMax = await processed(huge, "image/jpeg", { declaredBytes: 50 * 1024 * 1024 });
    expect(failure(overMax)).toEqual({ status: "failed", error_code: "TOO_LARGE" });
    expect(overMax.error_message).toBe(
      `The file is larger than the ${MAX_IMAGE_BYTES} bytes accepted`,
    );
  });

  it("no bytes uploaded: MALFORMED_FILE", async () => {
    const upload = await stored(Buffer.from("x"), "image/jpeg");
    await local.delete(upload.storage_key);
    await runProcess(upload.id);
    expect(failure(await row(upload.id))).toEqual({
      status: "failed",
      error_code: "MALFORMED_FILE",
    });
  });
});

describe("media__process: retries", () => {
  it("running the job again changes nothing; a retry mid-way finishes the same", async () => {
    const upload = await processed(await photoWithGps(800, 600), "image/jpeg");
    expect(upload.status).toBe("ready");
    const original = await storedBytes(upload.storage_key);

    expect((await runProcess(upload.id)).error).toBeUndefined();
    const again = await row(upload.id);
    expect(again).toEqual(upload);
    expect((await storedBytes(upload.storage_key)).equals(original)).toBe(true);

    // a worker that died after replacing the original: the retry finds it `processing`
    await sql(`update app_public.uploads set status = 'processing' where id = $1`, [upload.id]);
    expect((await runProcess(upload.id)).error).toBeUndefined();
    expect(await row(upload.id)).toMatchObject({ status: "ready", width: 800, height: 600 });
  });

  it("a storage outage fails the job (to be retried) and leaves the upload processing", async () => {
    const upload = await stored(await photoWithGps(300, 200), "image/jpeg");
    storageDown = true;
    try {
      const { error } = await runProcess(upload.id);
      expect(String(error)).toMatch(/storage unavailable/);
    } finally {
      storageDown = false;
    }
    expect((await row(upload.id)).status).toBe("processing");
    // the retry: the same job (job key media:<id>), made due now instead of after the back-off
    const retried = worker.nextCompletion("media__process");
    await sql(
      `select graphile_worker.add_job('media__process', json_build_object('uploadId', $1::text), job_key := 'media:' || $1)`,
      [upload.id],
    );
    expect((await retried).error).toBeUndefined();
    expect(await row(upload.id)).toMatchObject({ status: "ready", width: 300, height: 200 });
  });
});

describe("media__process: video and audio without ffprobe", () => {
  /** The start of an MP4 (ftyp isom) and an MP3 (ID3 tag, then a frame header). */
  const mp4 = Buffer.concat([
    Buffer.from("000000186674797069736f6d0000020069736f6d6d703431", "hex"),
    Buffer.from("0000001066726565", "hex"),
    randomBytes(4000),
  ]);
  const mp3 = Buffer.concat([
    Buffer.from("ID3", "latin1"),
    Buffer.from([3, 0, 0, 0, 0, 0, 0]),
    Buffer.from([0xff, 0xfb, 0x90, 0x64]),
    randomBytes(4000),
  ]);

  it("accepts the sniffed container with duration, size and poster unknown, and says so", async () => {
    const video = await processed(mp4, "video/mp4");
    expect(video).toMatchObject({
      status: "ready",
      media_type: "video",
      mime_type: "video/mp4",
      width: null,
      height: null,
      duration_seconds: null,
      file_size: String(mp4.length),
      variants: {},
    });
    const audio = await processed(mp3, "audio/mpeg");
    expect(audio).toMatchObject({ status: "ready", media_type: "audio", mime_type: "audio/mpeg" });
    expect(worker.log.lines.some((l) => l.includes("no-such-ffprobe not found"))).toBe(true);
  });

  it("an MP4 declared as MP3: TYPE_MISMATCH", async () => {
    const upload = await processed(mp4, "audio/mpeg");
    expect(upload).toMatchObject({ status: "failed", error_code: "TYPE_MISMATCH" });
  });
});

describe("media__cleanup_orphans", () => {
  async function runCleanup(): Promise<void> {
    const done = worker.nextCompletion("media__cleanup_orphans");
    await sql(`select graphile_worker.add_job('media__cleanup_orphans', '{}'::json)`);
    expect((await done).error).toBeUndefined();
  }
  const exists = async (key: string): Promise<boolean> => (await local.head(key)) !== null;
  const ready = (purpose = "post_media"): Promise<UploadRow> =>
    photoWithGps(64, 48).then((photo) => processed(photo, "image/jpeg", { purpose }));

  it("deletes uploads never attached after 24 h and media nobody uses; keeps the rest", async () => {
    const olga = world.user.olga;
    const stale = await ready();
    const recent = await ready();
    const inPost = await ready();
    const purged = await ready();
    const oldAvatar = await ready("avatar");
    const newAvatar = await ready("avatar");
    await sql(
      `update app_public.uploads set created_at = now() - interval '25 hours' where id = any ($1::uuid[])`,
      [[stale.id, inPost.id, purged.id, oldAvatar.id]],
    );
    // attached the way the API does: the columns' triggers turn upload:<id> into media:<key>
    const [post] = await sql<{ id: string }>(
      `insert into app_public.posts (author_id, content, privacy_level) values ($1, 'pics', 'public') returning id`,
      [olga],
    );
    for (const u of [inPost, purged]) {
      await sql(
        `insert into app_public.post_media (post_id, media_type, media_url) values ($1, 'image', $2)`,
        [post!.id, `upload:${u.id}`],
      );
    }
    await sql(`delete from app_public.post_media where media_url = $1`, [
      `media:${purged.storage_key}`,
    ]);
    await sql(`update app_public.user_profiles set avatar_url = $2 where user_id = $1`, [
      olga,
      `upload:${oldAvatar.id}`,
    ]);
    await sql(`update app_public.user_profiles set avatar_url = $2 where user_id = $1`, [
      olga,
      `upload:${newAvatar.id}`,
    ]);
    // files of an upload that no longer exists (an erased account's)
    const strayKey = `uploads/${olga}/${randomUUID()}/original`;
    await local.put(strayKey, Buffer.from("left behind"), "image/jpeg");

    await runCleanup();

    const left = await sql<{ id: string }>(
      `select id from app_public.uploads where id = any ($1::uuid[])`,
      [[stale, recent, inPost, purged, oldAvatar, newAvatar].map((u) => u.id)],
    );
    expect(left.map((r) => r.id).sort()).toEqual([recent.id, inPost.id, newAvatar.id].sort());
    for (const gone of [stale, purged, oldAvatar]) {
      expect(await local.list(gone.storage_key.replace(/original$/, ""))).toEqual([]);
    }
    expect(await exists(strayKey)).toBe(false);
    for (const kept of [recent, inPost, newAvatar]) {
      expect(await exists(kept.storage_key)).toBe(true);
      expect(await exists(kept.variants.thumbnail!)).toBe(true);
    }
    expect(worker.log.lines.some((l) => l.includes("media__cleanup_orphans done"))).toBe(true);
  });
});
