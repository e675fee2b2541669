/**
 * A file that cannot be used: the upload ends `failed` with this code and message (shown to its
 * owner). Everything else a processing step throws is either a bad file too (sharp, ffprobe) or
 * transient (storage, database), which the task tells apart by where it happened.
 */
export type FailureCode =
  | "TYPE_MISMATCH"
  | "UNSUPPORTED_TYPE"
  | "TOO_MANY_PIXELS"
  | "TOO_LONG"
  | "MALFORMED_FILE"
  | "TOO_LARGE"
  | "PROCESSING_FAILED";

export class MediaFailure extends Error {
  readonly code: FailureCode;
  constructor(code: FailureCode, message: string) {
    super(message);
    this.name = "MediaFailure";
    this.code = code;
  }
}

/** A decoder's error as a failure of the file (libvips says "exceeds pixel limit" for bombs). */
export function asFailure(error: unknown, what: string): MediaFailure {
  if (error instanceof MediaFailure) return error;
  const text = error instanceof Error ? error.message : String(error);
  if (/pixel limit/i.test(text)) {
    return new MediaFailure("TOO_MANY_PIXELS", "The image has too many pixels");
  }
  return new MediaFailure("MALFORMED_FILE", `The ${what} could not be read (damaged or truncated)`);
}
