/**
 * One upload's processing, apart from the database (src/tasks/media.ts claims the row and
 * writes the outcome): read the original (bounded), sniff, check, transform, store the results.
 * A bad file comes back as `failed`; storage errors are thrown (the job is retried).
 */
import { probeAv } from "./av.ts";
import { MediaFailure } from "./failure.ts";
import { posterVariants, processImage } from "./images.ts";
import type { MediaKind, MediaTaskSettings } from "./settings.ts";
import { agrees, familyOf, sniff } from "./sniff.ts";

export interface UploadRow {
  id: string;
  owner_id: string;
  storage_key: string;
  declared_type: string;
  declared_bytes: string | number;
}

export interface Processed {
  mediaType: MediaKind;
  mime: string;
  width: number | null;
  height: number | null;
  durationSeconds: number | null;
  fileSize: number;
  /** Variant name → storage key. */
  variants: Record<string, string>;
  /** Something an operator should know (no ffprobe), logged as a warning. */
  note: string | null;
}

export type Outcome =
  { kind: "ready"; result: Processed } | { kind: "failed"; failure: MediaFailure };

/** `uploads/<owner>/<id>/<variant>`, next to the original. */
function variantKey(storageKey: string, variant: string): string {
  return storageKey.replace(/\/[^/]+$/, `/${variant}`);
}

/** Runs a step on the file's bytes: any error it throws is a failure of the file. */
async function step<T>(what: string, fn: () => Promise<T>): Promise<T> {
  try {
    return await fn();
  } catch (error) {
    if (error instanceof MediaFailure) throw error;
    throw new MediaFailure(
      "MALFORMED_FILE",
      `The ${what} could not be read (damaged or truncated)`,
    );
  }
}

export async function processUpload(
  upload: UploadRow,
  settings: MediaTaskSettings,
  options: { checkDeclaredSize: boolean },
): Promise<Outcome> {
  const { storage } = settings;
  const declared = familyOf(upload.declared_type);
  if (!declared) {
    return failed("UNSUPPORTED_TYPE", `Files of type ${upload.declared_type} are not supported`);
  }
  const max = settings.maxBytes[declared.kind];
  const bytes = await storage.readBytes(upload.storage_key, max + 1);
  if (!bytes || bytes.length === 0) return failed("MALFORMED_FILE", "No file was uploaded");
  if (bytes.length > max) {
    return failed("TOO_LARGE", `The file is larger than the ${max} bytes accepted`);
  }
  // a retry may read the re-encoded original, whose size differs from the declared one
  if (options.checkDeclaredSize && bytes.length > Number(upload.declared_bytes)) {
    return failed(
      "TOO_LARGE",
      `The file is larger than the ${upload.declared_bytes} bytes declared`,
    );
  }
  try {
    const sniffed = await step("file", () => sniff(bytes));
    if (!sniffed) {
      throw new MediaFailure(
        "UNSUPPORTED_TYPE",
        "The file is not an image, video or audio file we know",
      );
    }
    if (!agrees(upload.declared_type, sniffed)) {
      throw new MediaFailure(
        "TYPE_MISMATCH",
        `The file is ${sniffed.mime}, not ${upload.declared_type} as declared`,
      );
    }
    if (declared.kind === "image") {
      const image = await processImage(bytes, sniffed.mime, settings.maxPixels);
      const variants: Record<string, string> = {};
      for (const [name, body] of Object.entries(image.variants)) {
        variants[name] = variantKey(upload.storage_key, name);
        await storage.put(variants[name], body, "image/webp");
      }
      // last: a retry after this reads the stripped file, which processes the same way
      await storage.put(upload.storage_key, image.original, image.mime);
      return ready({
        mediaType: "image",
        mime: image.mime,
        width: image.width,
        height: image.height,
        durationSeconds: null,
        fileSize: image.original.length,
        variants,
        note: null,
      });
    }
    const av = await probeAv(bytes, sniffed.family, declared.kind, settings);
    const variants: Record<string, string> = {};
    if (av.frame) {
      const frame = await posterVariants(av.frame, settings.maxPixels).catch(() => null);
      if (frame) {
        for (const [name, body] of Object.entries(frame)) {
          variants[name] = variantKey(upload.storage_key, name);
          await storage.put(variants[name], body, "image/webp");
        }
      }
    }
    return ready({
      mediaType: declared.kind,
      mime: sniffed.mime,
      width: av.width,
      height: av.height,
      durationSeconds: av.durationSeconds,
      fileSize: bytes.length,
      variants,
      note: av.probed
        ? null
        : `${settings.ffprobePath} not found: ${declared.kind} accepted on its sniffed type, duration unknown and no poster (install Debian's ffmpeg package)`,
    });
  } catch (error) {
    if (error instanceof MediaFailure) return { kind: "failed", failure: error };
    throw error;
  }
}

function failed(code: MediaFailure["code"], message: string): Outcome {
  return { kind: "failed", failure: new MediaFailure(code, message) };
}

function ready(result: Processed): Outcome {
  return { kind: "ready", result };
}
