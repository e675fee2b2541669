/**
 * Media delivery and uploads in the API (issue #14).
 *
 * - Every media field of a row type (`mediaUrl`, `thumbnailUrl`, `avatarUrl`, `coverImageUrl`)
 *   shows a stored file (`media:<key>` in the column) as a signed, expiring URL made for this
 *   response. The row was read under row-level security, so being able to read it IS the
 *   permission to view its media; nobody else gets a URL (src/media/urls.ts).
 * - `Upload.uploadUrl`: where the owner PUTs a pending upload's bytes (createUpload answers
 *   with it); `Upload.url` / `Upload.thumbnailUrl`: the owner's view of a processed upload.
 * createUpload and completeUpload themselves are SQL functions (migrations, "media: uploads").
 */
import "postgraphile";
import { lambda, list, type Step } from "postgraphile/grafast";
import { extendSchema } from "postgraphile/utils";

import type { Config } from "../src/config.ts";
import { mediaUrlsFor, publicMediaUrl } from "../src/media/urls.ts";

/** The output fields that hold a media column. */
const MEDIA_FIELDS = new Set(["mediaUrl", "thumbnailUrl", "avatarUrl", "coverImageUrl"]);

export function makeMediaPlugins(config: Config): GraphileConfig.Plugin[] {
  const urls = mediaUrlsFor(config);
  const toUrl = (value: string | null | undefined): Promise<string | null> =>
    publicMediaUrl(urls, value ?? null);

  const delivery: GraphileConfig.Plugin = {
    name: "MkingMediaDeliveryPlugin",
    version: "1.0.0",
    schema: {
      hooks: {
        GraphQLObjectType_fields_field(field, _build, context) {
          const { fieldName, isRootMutation, isRootQuery, isRootSubscription } = context.scope;
          if (isRootMutation || isRootQuery || isRootSubscription) return field;
          if (!MEDIA_FIELDS.has(fieldName)) return field;
          const plan = field.plan;
          if (!plan) return field;
          return {
            ...field,
            plan(...args: Parameters<typeof plan>) {
              const $value = plan(...args) as Step<string | null>;
              return lambda($value, toUrl);
            },
          };
        },
      },
    },
  };

  const uploads = extendSchema(() => ({
    typeDefs: /* GraphQL */ `
      extend type Upload {
        "While pending: PUT the file's bytes here (send Content-Type: the declared type)."
        uploadUrl: String
        "When uploadUrl stops working."
        uploadUrlExpiresAt: Datetime
        "When ready: the processed file (signed, expiring)."
        url: String
        "When ready: its thumbnail (images) or poster (video), if any."
        thumbnailUrl: String
      }
    `,
    objects: {
      Upload: {
        plans: {
          uploadUrl($upload: UploadStep) {
            return lambda(pendingTarget($upload), async (t) =>
              t ? (await urls.uploadTarget(t.key, t.type, t.bytes)).url : null,
            );
          },
          uploadUrlExpiresAt($upload: UploadStep) {
            return lambda(pendingTarget($upload), async (t) =>
              t ? (await urls.uploadTarget(t.key, t.type, t.bytes)).expiresAt.toISOString() : null,
            );
          },
          url($upload: UploadStep) {
            return lambda(
              list([$upload.get("status"), $upload.get("storage_key")]),
              ([status, key]) => (status === "ready" ? urls.viewUrl(key as string) : null),
            );
          },
          thumbnailUrl($upload: UploadStep) {
            return lambda(
              list([$upload.get("status"), $upload.get("variants")]),
              ([status, variants]) => {
                const v = (variants ?? {}) as Record<string, string>;
                const key = v.thumbnail ?? v.poster;
                return status === "ready" && key ? urls.viewUrl(key) : null;
              },
            );
          },
        },
      },
    },
  }));

  return [delivery, uploads];
}

interface UploadStep extends Step {
  get(attribute: string): Step<unknown>;
}

interface PendingTarget {
  key: string;
  type: string;
  bytes: number;
}

function pendingTarget($upload: UploadStep): Step<PendingTarget | null> {
  return lambda(
    list([
      $upload.get("status"),
      $upload.get("storage_key"),
      $upload.get("declared_type"),
      $upload.get("declared_bytes"),
    ]),
    ([status, key, type, bytes]) =>
      status === "pending"
        ? { key: key as string, type: type as string, bytes: Number(bytes) }
        : null,
    true,
  );
}
