/** Shared steps of the media tests: the upload flow as a client does it, over real HTTP. */
import { mkdtemp } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import type { TestAccount } from "../helpers/accounts.ts";
import { ok, type Api } from "../helpers/api.ts";
import type { GraphQLBody } from "../helpers/server.ts";

export const CREATE_UPLOAD = /* GraphQL */ `
  mutation ($input: CreateUploadInput!) {
    createUpload(input: $input) {
      upload {
        id
        status
        purpose
        declaredType
        declaredBytes
        uploadUrl
        uploadUrlExpiresAt
      }
    }
  }
`;

export const COMPLETE_UPLOAD = /* GraphQL */ `
  mutation ($id: UUID!) {
    completeUpload(input: { uploadId: $id }) {
      upload {
        id
        status
        uploadUrl
      }
    }
  }
`;

export interface CreatedUpload {
  id: string;
  status: string;
  uploadUrl: string | null;
  uploadUrlExpiresAt: string | null;
}

export async function tempDataDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), "mking-media-"));
}

export function createUpload(
  api: Api,
  who: TestAccount,
  input: { purpose: string; filename: string; contentType: string; byteSize: number },
): Promise<GraphQLBody> {
  return api.as(who)(CREATE_UPLOAD, { input });
}

/** createUpload, then PUT the bytes to the signed URL; answers the upload and the PUT's status. */
export async function uploadBytes(
  api: Api,
  who: TestAccount,
  bytes: Buffer,
  options: { purpose?: string; contentType?: string; filename?: string } = {},
): Promise<{ upload: CreatedUpload; putStatus: number }> {
  const contentType = options.contentType ?? "image/jpeg";
  const data = ok<{ createUpload: { upload: CreatedUpload } }>(
    await createUpload(api, who, {
      purpose: options.purpose ?? "post_media",
      filename: options.filename ?? "photo.jpg",
      contentType,
      byteSize: bytes.length,
    }),
  );
  const upload = data.createUpload.upload;
  const put = await fetch(absolute(api, upload.uploadUrl!), {
    method: "PUT",
    headers: { "content-type": contentType },
    body: new Uint8Array(bytes),
  });
  return { upload, putStatus: put.status };
}

/** A URL from the API (a path on the API's origin when MEDIA_PUBLIC_BASE_URL is unset). */
export function absolute(api: Api, url: string): string {
  return url.startsWith("/") ? `${api.server.url}${url}` : url;
}
