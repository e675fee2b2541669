/**
 * Video and audio: the container is sniffed from the bytes (sniff.ts); where `ffprobe` is
 * installed (Debian's ffmpeg package; MEDIA_FFPROBE_PATH) it must also open the file, agree on
 * the container and tell the duration (MEDIA_MAX_DURATION_SECONDS) and a video's size; `ffmpeg`
 * (MEDIA_FFMPEG_PATH) then takes a poster frame. Without ffprobe the file is accepted on its
 * sniffed container alone, with duration, width and height unknown (null) and no poster; a
 * warning is logged once per process. The original bytes are stored as uploaded (no re-muxing).
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import { MediaFailure } from "./failure.ts";
import type { MediaKind } from "./settings.ts";

export interface AvInfo {
  /** null when ffprobe is not installed. */
  durationSeconds: number | null;
  width: number | null;
  height: number | null;
  /** ffprobe's format_name, e.g. "mov,mp4,m4a,3gp,3g2,mj2"; null without ffprobe. */
  container: string | null;
  /** A PNG frame of a video (ffmpeg), or null. */
  frame: Buffer | null;
  /** false: ffprobe was not found, nothing beyond the sniffed type was checked. */
  probed: boolean;
}

/** ffprobe's format names for each sniffed family. */
const CONTAINERS: Readonly<Record<string, RegExp>> = {
  mp4: /\b(mov|mp4|m4a)\b/,
  matroska: /\b(matroska|webm)\b/,
  ogg: /\bogg\b/,
  mpeg: /\bmp3\b/,
  wav: /\bwav\b/,
  aac: /\baac\b/,
};

const PROBE_TIMEOUT_MS = 30_000;
const FRAME_TIMEOUT_MS = 60_000;

interface Run {
  stdout: Buffer;
  missing: boolean;
  failed: boolean;
}

function run(binary: string, args: string[], timeoutMs: number, maxBuffer: number): Promise<Run> {
  return new Promise((resolve) => {
    execFile(
      binary,
      args,
      { encoding: "buffer", timeout: timeoutMs, maxBuffer, killSignal: "SIGKILL" },
      (error, stdout) => {
        const code = (error as NodeJS.ErrnoException | null)?.code;
        resolve({
          stdout,
          missing: code === "ENOENT" || code === "EACCES",
          failed: error !== null,
        });
      },
    );
  });
}

interface Probe {
  format?: { format_name?: string; duration?: string };
  streams?: { codec_type?: string; width?: number; height?: number; duration?: string }[];
}

export async function probeAv(
  bytes: Buffer,
  family: string,
  kind: MediaKind,
  tools: { ffprobePath: string; ffmpegPath: string; maxDurationSeconds: number },
): Promise<AvInfo> {
  const dir = await mkdtemp(path.join(tmpdir(), "mking-media-"));
  try {
    const file = path.join(dir, "input");
    await writeFile(file, bytes, { mode: 0o600 });
    const probe = await run(
      tools.ffprobePath,
      ["-v", "error", "-print_format", "json", "-show_format", "-show_streams", file],
      PROBE_TIMEOUT_MS,
      4 * 1024 * 1024,
    );
    if (probe.missing) {
      return {
        durationSeconds: null,
        width: null,
        height: null,
        container: null,
        frame: null,
        probed: false,
      };
    }
    let parsed: Probe;
    try {
      parsed = JSON.parse(probe.stdout.toString("utf8")) as Probe;
    } catch {
      parsed = {};
    }
    const container = parsed.format?.format_name ?? null;
    if (probe.failed || !container) {
      throw new MediaFailure(
        "MALFORMED_FILE",
        `The ${kind} could not be read (damaged or truncated)`,
      );
    }
    if (!CONTAINERS[family]?.test(container)) {
      throw new MediaFailure(
        "TYPE_MISMATCH",
        `The file's container (${container}) is not what its type says`,
      );
    }
    const streams = parsed.streams ?? [];
    const video = streams.find((s) => s.codec_type === "video");
    const audio = streams.find((s) => s.codec_type === "audio");
    if (kind === "video" ? !video : !audio) {
      throw new MediaFailure("MALFORMED_FILE", `The file has no ${kind} stream`);
    }
    const duration = Number(parsed.format?.duration ?? video?.duration ?? audio?.duration);
    const durationSeconds = Number.isFinite(duration) && duration >= 0 ? duration : null;
    if (durationSeconds !== null && durationSeconds > tools.maxDurationSeconds) {
      throw new MediaFailure(
        "TOO_LONG",
        `The ${kind} lasts ${Math.round(durationSeconds)} s; at most ${tools.maxDurationSeconds} s are accepted`,
      );
    }
    let frame: Buffer | null = null;
    if (kind === "video") {
      const at = durationSeconds !== null ? Math.min(1, durationSeconds / 2) : 0;
      const grab = await run(
        tools.ffmpegPath,
        [
          "-v",
          "error",
          "-ss",
          at.toFixed(3),
          "-i",
          file,
          "-frames:v",
          "1",
          "-f",
          "image2pipe",
          "-c:v",
          "png",
          "pipe:1",
        ],
        FRAME_TIMEOUT_MS,
        64 * 1024 * 1024,
      );
      frame = grab.failed || grab.stdout.length === 0 ? null : grab.stdout;
    }
    return {
      durationSeconds,
      width: video?.width ?? null,
      height: video?.height ?? null,
      container,
      frame,
      probed: true,
    };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
