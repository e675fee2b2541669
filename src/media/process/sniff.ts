/**
 * The real type of an upload, from its first bytes (magic numbers, via `file-type`), and whether
 * it agrees with the type the client declared. Containers that share a format (MP4, QuickTime
 * and M4A; WebM and Matroska; the Ogg family; WAV) count as one family: a phone's .mov declared
 * video/mp4 is fine, a PNG declared image/jpeg is not.
 */
import { fileTypeFromBuffer } from "file-type";

import type { MediaKind } from "./settings.ts";

export interface Sniffed {
  mime: string;
  kind: MediaKind;
  /** Declared and sniffed types in one family agree. */
  family: string;
}

const FAMILIES: Readonly<Record<string, { family: string; kind: MediaKind }>> = {
  "image/jpeg": { family: "jpeg", kind: "image" },
  "image/png": { family: "png", kind: "image" },
  "image/webp": { family: "webp", kind: "image" },
  "image/gif": { family: "gif", kind: "image" },
  "video/mp4": { family: "mp4", kind: "video" },
  "video/quicktime": { family: "mp4", kind: "video" },
  "video/x-m4v": { family: "mp4", kind: "video" },
  "audio/mp4": { family: "mp4", kind: "audio" },
  "audio/x-m4a": { family: "mp4", kind: "audio" },
  "video/webm": { family: "matroska", kind: "video" },
  "video/x-matroska": { family: "matroska", kind: "video" },
  "audio/webm": { family: "matroska", kind: "audio" },
  "audio/ogg": { family: "ogg", kind: "audio" },
  "audio/opus": { family: "ogg", kind: "audio" },
  "video/ogg": { family: "ogg", kind: "video" },
  "audio/mpeg": { family: "mpeg", kind: "audio" },
  "audio/wav": { family: "wav", kind: "audio" },
  "audio/vnd.wave": { family: "wav", kind: "audio" },
  "audio/x-wav": { family: "wav", kind: "audio" },
  "audio/aac": { family: "aac", kind: "audio" },
};

/** The family of a declared content type, or null for one we do not process. */
export function familyOf(mime: string): { family: string; kind: MediaKind } | null {
  return FAMILIES[mime.toLowerCase()] ?? null;
}

/** The recognised type of the bytes, or null when they are nothing we process. */
export async function sniff(bytes: Uint8Array): Promise<Sniffed | null> {
  const found = await fileTypeFromBuffer(bytes);
  if (!found) return null;
  const known = familyOf(found.mime);
  return known ? { mime: found.mime, ...known } : null;
}

/** A sniffed "video" in an audio family container declared as audio is audio (an .m4a). */
export function agrees(declared: string, sniffed: Sniffed): boolean {
  const d = familyOf(declared);
  return (
    d !== null && d.family === sniffed.family && (d.kind === "image") === (sniffed.kind === "image")
  );
}
