/**
 * uploadFile with the typed client against the real API and a real worker running
 * media__process: a generated JPEG goes createUpload → PUT → completeUpload → ready, a post
 * uses it and reads back with its signed media URL; wrong types end in typed errors.
 */
import { rm } from "node:fs/promises";

import sharp from "sharp";

import {
  isApiError,
  PublishPostDocument,
  uploadFile,
  UploadFailedError,
} from "../../clients/typescript/src/index.ts";
import { mediaTaskSettings } from "../../src/media/process/settings.ts";
import { startApi, type Api } from "../helpers/api.ts";
import { startTestWorker, type TestWorker } from "../helpers/worker.ts";
import { tempDataDir } from "../media/helpers.ts";
import { clientFor, closeClients } from "./clients.ts";

let api: Api;
let worker: TestWorker;
let dataDir: string;

beforeAll(async () => {
  dataDir = await tempDataDir();
  api = await startApi({ DATA_DIR: dataDir, MEDIA_ALLOW_EXTERNAL_URLS: "false" });
  // the worker stores and reads where the API does (DATA_DIR/media)
  worker = await startTestWorker(api.db, { media: mediaTaskSettings(api.server.config) });
});
afterEach(closeClients);
afterAll(async () => {
  await worker.close();
  await api.close();
  await rm(dataDir, { recursive: true, force: true });
});

const jpeg = (): Promise<Buffer> =>
  sharp({ create: { width: 64, height: 48, channels: 3, background: "#c0392b" } })
    .jpeg()
    .toBuffer();

it("uploads a JPEG, waits until processed, and a post shows it with its media URL", async () => {
  const ana = clientFor(api, await api.register());
  const photo = await jpeg();
  const uploaded = await uploadFile(ana, {
    file: photo,
    filename: "red.jpg",
    contentType: "image/jpeg",
    purpose: "post_media",
    initialDelayMs: 20,
  });
  expect(uploaded.reference).toBe(`upload:${uploaded.id}`);
  const [row] = await api.sql<{ status: string; width: number; height: number }>(
    `select status, width, height from app_public.uploads where id = $1`,
    [uploaded.id],
  );
  expect(row).toEqual({ status: "ready", width: 64, height: 48 });

  const { publishPost } = await ana.request(PublishPostDocument, {
    input: { content: "Sunset", privacyLevel: "public", media: [{ mediaUrl: uploaded.reference }] },
  });
  const media = publishPost!.post!.media.nodes;
  expect(media).toHaveLength(1);
  expect(media[0]!.mediaType).toBe("image");
  const url = media[0]!.mediaUrl;
  expect(url).not.toContain("upload:");
  const image = await fetch(url.startsWith("/") ? `${api.server.url}${url}` : url);
  expect(image.status).toBe(200);
  expect(image.headers.get("content-type")).toBe("image/jpeg");
  const { width, height, format } = await sharp(Buffer.from(await image.arrayBuffer())).metadata();
  expect({ width, height, format }).toEqual({ width: 64, height: 48, format: "jpeg" });
});

it("a file whose bytes are not the declared type fails with errorCode TYPE_MISMATCH", async () => {
  const ana = clientFor(api, await api.register());
  const failure = await uploadFile(ana, {
    file: new Blob([new Uint8Array(await jpeg())]),
    filename: "red.png",
    contentType: "image/png",
    purpose: "post_media",
    initialDelayMs: 20,
  }).catch((error: unknown) => error);
  expect(failure).toBeInstanceOf(UploadFailedError);
  expect(failure).toMatchObject({ errorCode: "TYPE_MISMATCH" });
  const { uploadId } = failure as UploadFailedError;
  const [row] = await api.sql<{ status: string; error_code: string }>(
    `select status, error_code from app_public.uploads where id = $1`,
    [uploadId],
  );
  expect(row).toEqual({ status: "failed", error_code: "TYPE_MISMATCH" });
});

it("a type the purpose does not take is refused before any bytes are sent", async () => {
  const account = await api.register();
  const ana = clientFor(api, account);
  const refusal = await uploadFile(ana, {
    file: Buffer.from("just text"),
    filename: "notes.txt",
    contentType: "text/plain",
    purpose: "post_media",
  }).catch((error: unknown) => error);
  expect(isApiError(refusal, "MEDIA_TYPE_NOT_ALLOWED")).toBe(true);
  expect(
    await api.sql(`select id from app_public.uploads where owner_id = $1`, [account.id]),
  ).toEqual([]);
});
