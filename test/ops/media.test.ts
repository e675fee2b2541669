/**
 * Video and audio processing with Debian's ffmpeg (ffprobe + ffmpeg, test/ops/packages.txt):
 * clips made by ffmpeg itself go through the same step media__process runs
 * (src/media/process/upload.ts) on a local storage: duration, size, container and poster
 * frame; too long; truncated. The path without ffprobe is tested in
 * test/media/processing.test.ts (npm test).
 */
import { execFile } from "node:child_process";
import { randomUUID } from "node:crypto";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

import sharp from "sharp";

import { LocalStorage } from "../../src/media/local.ts";
import type { MediaTaskSettings } from "../../src/media/process/settings.ts";
import { processUpload, type Outcome } from "../../src/media/process/upload.ts";

const run = promisify(execFile);
const FFMPEG = process.env.FFMPEG_PATH ?? "/usr/bin/ffmpeg";
const FFPROBE = process.env.FFPROBE_PATH ?? "/usr/bin/ffprobe";

let dir: string;
let storage: LocalStorage;
let settings: MediaTaskSettings;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "mking-media-ops-"));
  storage = new LocalStorage(path.join(dir, "media"));
  settings = {
    storage,
    maxBytes: { image: 20e6, video: 50e6, audio: 50e6 },
    maxPixels: 40_000_000,
    maxDurationSeconds: 5,
    ffprobePath: FFPROBE,
    ffmpegPath: FFMPEG,
    unattachedHours: 24,
  };
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** A file made by ffmpeg from its test sources. */
async function make(name: string, args: string[]): Promise<Buffer> {
  const out = path.join(dir, name);
  await run(FFMPEG, ["-v", "error", "-y", ...args, out]);
  return readFile(out);
}

async function processBytes(
  bytes: Buffer,
  declaredType: string,
): Promise<{ outcome: Outcome; key: string }> {
  const key = `uploads/${randomUUID()}/${randomUUID()}/original`;
  await storage.put(key, bytes, declaredType);
  const outcome = await processUpload(
    {
      id: randomUUID(),
      owner_id: randomUUID(),
      storage_key: key,
      declared_type: declaredType,
      declared_bytes: bytes.length,
    },
    settings,
    { checkDeclaredSize: true },
  );
  return { outcome, key };
}

describe("video and audio with ffprobe and ffmpeg", () => {
  it("a 3 s MP4: duration, size, container and a poster frame with its thumbnail", async () => {
    const mp4 = await make("clip.mp4", [
      "-f",
      "lavfi",
      "-i",
      "testsrc=duration=3:size=480x360:rate=15",
      "-f",
      "lavfi",
      "-i",
      "sine=frequency=440:duration=3",
      "-c:v",
      "mpeg4",
      "-c:a",
      "aac",
      "-shortest",
    ]);
    const { outcome, key } = await processBytes(mp4, "video/mp4");
    if (outcome.kind !== "ready") throw new Error(`not ready: ${outcome.failure.message}`);
    const r = outcome.result;
    expect(r).toMatchObject({
      mediaType: "video",
      mime: "video/mp4",
      width: 480,
      height: 360,
      fileSize: mp4.length,
      note: null,
    });
    expect(r.durationSeconds).toBeGreaterThan(2.9);
    expect(r.durationSeconds).toBeLessThan(3.2);
    const base = key.replace(/original$/, "");
    expect(r.variants).toEqual({ poster: `${base}poster`, thumbnail: `${base}thumbnail` });
    const poster = await sharp((await storage.readBytes(r.variants.poster!, 10e6))!).metadata();
    expect(poster).toMatchObject({ format: "webp", width: 480, height: 360 });
    const thumb = await sharp((await storage.readBytes(r.variants.thumbnail!, 10e6))!).metadata();
    expect(thumb).toMatchObject({ format: "webp", width: 320, height: 240 });
  });

  it("a WAV: audio with its duration, no poster", async () => {
    const wav = await make("tone.wav", ["-f", "lavfi", "-i", "sine=frequency=440:duration=2"]);
    const { outcome } = await processBytes(wav, "audio/wav");
    if (outcome.kind !== "ready") throw new Error(`not ready: ${outcome.failure.message}`);
    expect(outcome.result).toMatchObject({
      mediaType: "audio",
      width: null,
      height: null,
      variants: {},
    });
    expect(outcome.result.durationSeconds).toBeCloseTo(2, 1);
  });

  it("longer than MEDIA_MAX_DURATION_SECONDS: TOO_LONG", async () => {
    const wav = await make("long.wav", ["-f", "lavfi", "-i", "sine=frequency=440:duration=7"]);
    const { outcome } = await processBytes(wav, "audio/wav");
    expect(outcome.kind === "failed" && outcome.failure.code).toBe("TOO_LONG");
  });

  it("a truncated MP4 (its index cut off): MALFORMED_FILE", async () => {
    const mp4 = await make("cut.mp4", [
      "-f",
      "lavfi",
      "-i",
      "testsrc=duration=2:size=320x240:rate=15",
      "-c:v",
      "mpeg4",
    ]);
    const { outcome } = await processBytes(
      mp4.subarray(0, Math.floor(mp4.length / 2)),
      "video/mp4",
    );
    expect(outcome.kind === "failed" && outcome.failure.code).toBe("MALFORMED_FILE");
  });
});
