/** What media processing (src/tasks/media.ts) needs: the storage and the limits. */
import type { Config } from "../../config.ts";
import { storageFor, type MediaStorage } from "../storage.ts";

export type MediaKind = "image" | "video" | "audio";

export interface MediaTaskSettings {
  storage: MediaStorage;
  /** Largest file per kind (MEDIA_MAX_BYTES_*). */
  maxBytes: Readonly<Record<MediaKind, number>>;
  /** MEDIA_MAX_PIXELS: width × height × frames. */
  maxPixels: number;
  /** MEDIA_MAX_DURATION_SECONDS. */
  maxDurationSeconds: number;
  /** Binaries (by name on PATH or a path); missing ones are noticed when run (ENOENT). */
  ffprobePath: string;
  ffmpegPath: string;
  /** Uploads never attached are deleted after this many hours (24). */
  unattachedHours: number;
}

export function mediaTaskSettings(config: Config): MediaTaskSettings {
  const m = config.media;
  return {
    storage: storageFor(config),
    maxBytes: { image: m.maxBytesImage, video: m.maxBytesVideo, audio: m.maxBytesAudio },
    maxPixels: m.maxPixels,
    maxDurationSeconds: m.maxDurationSeconds,
    ffprobePath: m.ffprobePath,
    ffmpegPath: m.ffmpegPath,
    unattachedHours: 24,
  };
}
