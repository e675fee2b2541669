/**
 * The media limits each request carries to PostgreSQL (`set local mking.media_*`), read by
 * app_public.create_upload and the media column triggers (migrations/current.sql, "media").
 */
import type { MediaConfig } from "../config.ts";

export function mediaPgSettings(media: MediaConfig): Record<string, string> {
  return {
    "mking.media_max_bytes_image": String(media.maxBytesImage),
    "mking.media_max_bytes_video": String(media.maxBytesVideo),
    "mking.media_max_bytes_audio": String(media.maxBytesAudio),
    "mking.media_quota_bytes": String(media.quotaBytes),
    "mking.media_uploads_per_hour": String(media.uploadsPerHour),
    "mking.media_external_urls": media.allowExternalUrls ? "allow" : "refuse",
  };
}

/** A GraphQL context with the media settings added to its pgSettings. */
export function withMediaSettings(
  context: Partial<Grafast.Context>,
  media: MediaConfig,
): Partial<Grafast.Context> {
  return { ...context, pgSettings: { ...context.pgSettings, ...mediaPgSettings(media) } };
}
