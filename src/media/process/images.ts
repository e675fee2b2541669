/**
 * The image pipeline (sharp/libvips): checks the header's size against MEDIA_MAX_PIXELS before
 * anything is decoded (a 30000×30000 PNG of a few KB fails here, at no cost), then decodes with
 * the same limit (`limitInputPixels`) and `failOn: "truncated"` (a cut-off file fails instead of
 * coming out half grey), applies the EXIF orientation, and re-encodes WITHOUT metadata (sharp
 * keeps none unless asked: no EXIF, GPS, XMP, IPTC or comments; colours are converted to sRGB).
 *
 * Outputs: the original in its own format (JPEG q90, PNG, WebP q90, GIF; animations kept) and
 * three WebP variants that fit inside a square box, never enlarged: `large` 1600 px, `small`
 * 640 px and `thumbnail` 320 px (first frame of an animation).
 */
import sharp, { type Sharp, type SharpOptions } from "sharp";

import { asFailure, MediaFailure } from "./failure.ts";

// a worker decodes few, large, different images: libvips' operation cache would only hold memory
sharp.cache(false);

export const IMAGE_VARIANTS = { large: 1600, small: 640, thumbnail: 320 } as const;
export type ImageVariant = keyof typeof IMAGE_VARIANTS;

export interface ProcessedImage {
  /** The stripped, re-encoded original and its type. */
  original: Buffer;
  mime: string;
  width: number;
  height: number;
  variants: Record<ImageVariant, Buffer>;
}

/** Formats by sniffed type: what sharp must find in the header, and how the original is kept. */
const FORMATS: Readonly<Record<string, { format: string; encode: (s: Sharp) => Sharp }>> = {
  "image/jpeg": { format: "jpeg", encode: (s) => s.jpeg({ quality: 90 }) },
  "image/png": { format: "png", encode: (s) => s.png() },
  "image/webp": { format: "webp", encode: (s) => s.webp({ quality: 90 }) },
  "image/gif": { format: "gif", encode: (s) => s.gif() },
};

export async function processImage(
  bytes: Buffer,
  mime: string,
  maxPixels: number,
): Promise<ProcessedImage> {
  const target = FORMATS[mime];
  if (!target)
    throw new MediaFailure("UNSUPPORTED_TYPE", `Images of type ${mime} are not supported`);
  // the header only (nothing decoded): sharp's own default limit would hide the sizes
  const header = await sharp(bytes, { limitInputPixels: false })
    .metadata()
    .catch((error: unknown) => {
      throw asFailure(error, "image");
    });
  if (header.format !== target.format) {
    throw new MediaFailure("MALFORMED_FILE", "The image could not be read (damaged or truncated)");
  }
  const frames = header.pages ?? 1;
  const pageHeight = header.pageHeight ?? header.height;
  if (header.width * pageHeight * frames > maxPixels) {
    throw new MediaFailure(
      "TOO_MANY_PIXELS",
      `The image has ${header.width}×${pageHeight}${frames > 1 ? `×${frames} frames` : ""} pixels; at most ${maxPixels} are accepted`,
    );
  }
  const options: SharpOptions = {
    limitInputPixels: maxPixels,
    failOn: "truncated",
    autoOrient: true,
    animated: frames > 1,
  };
  try {
    const { data: original, info } = await target
      .encode(sharp(bytes, options))
      .toBuffer({ resolveWithObject: true });
    const firstFrame: SharpOptions = { ...options, animated: false };
    const variant = (input: Buffer, size: number): Promise<Buffer> =>
      sharp(input, firstFrame)
        .resize({ width: size, height: size, fit: "inside", withoutEnlargement: true })
        .webp({ quality: 80 })
        .toBuffer();
    const large = await variant(bytes, IMAGE_VARIANTS.large);
    const small = await variant(large, IMAGE_VARIANTS.small);
    const thumbnail = await variant(small, IMAGE_VARIANTS.thumbnail);
    return {
      original,
      mime,
      width: info.width,
      height: info.pageHeight ?? info.height,
      variants: { large, small, thumbnail },
    };
  } catch (error) {
    throw asFailure(error, "image");
  }
}

/** A frame (a video's poster) as a stripped WebP poster (≤ 1600 px) and thumbnail (320 px). */
export async function posterVariants(
  frame: Buffer,
  maxPixels: number,
): Promise<{ poster: Buffer; thumbnail: Buffer }> {
  try {
    const fit = (input: Buffer, size: number): Promise<Buffer> =>
      sharp(input, { limitInputPixels: maxPixels, failOn: "truncated" })
        .resize({ width: size, height: size, fit: "inside", withoutEnlargement: true })
        .webp({ quality: 80 })
        .toBuffer();
    const poster = await fit(frame, IMAGE_VARIANTS.large);
    return { poster, thumbnail: await fit(poster, IMAGE_VARIANTS.thumbnail) };
  } catch (error) {
    throw asFailure(error, "video's first frame");
  }
}
