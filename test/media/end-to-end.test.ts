/**
 * Issue #14 end to end, the way clients and the worker do it: a phone photo with GPS EXIF goes
 * through createUpload, the signed PUT and completeUpload; the real worker runs media__process;
 * the photo is published in a friends-only post. A friend sees the processed size and a
 * thumbnail and fetches both; the stored file has no EXIF. A stranger and a signed-out visitor
 * do not see the post, and a signed URL with a forged signature, or once expired, is refused.
 */
import { rm } from "node:fs/promises";

import sharp from "sharp";

import { mediaTaskSettings } from "../../src/media/process/settings.ts";
import { mediaClock } from "../../src/media/urls.ts";
import type { TestAccount } from "../helpers/accounts.ts";
import { ok, startApi, type Api } from "../helpers/api.ts";
import { startTestWorker, type TestWorker } from "../helpers/worker.ts";
import { absolute, COMPLETE_UPLOAD, tempDataDir, uploadBytes } from "./helpers.ts";

let api: Api;
let worker: TestWorker;
let dataDir: string;
let author: TestAccount;
let friend: TestAccount;
let stranger: TestAccount;

beforeAll(async () => {
  dataDir = await tempDataDir();
  api = await startApi({ DATA_DIR: dataDir, MEDIA_ALLOW_EXTERNAL_URLS: "false" });
  // the worker as the service starts it: the same configuration, so the same storage
  worker = await startTestWorker(api.db, { media: mediaTaskSettings(api.server.config) });
  await worker.idle();
  [author, friend, stranger] = [await api.register(), await api.register(), await api.register()];
  const SEND = `mutation ($id: UUID!) { sendFriendRequest(input: { userId: $id }) { friendship { status } } }`;
  const ACCEPT = `mutation ($id: UUID!) { acceptFriendRequest(input: { userId: $id }) { friendship { status } } }`;
  ok(await api.as(author)(SEND, { id: friend.id }));
  const accepted = ok<{ acceptFriendRequest: { friendship: { status: string } } }>(
    await api.as(friend)(ACCEPT, { id: author.id }),
  );
  expect(accepted.acceptFriendRequest.friendship.status).toBe("accepted");
});
afterEach(() => {
  mediaClock.now = () => Date.now();
});
afterAll(async () => {
  await worker?.close();
  await api?.close();
  await rm(dataDir, { recursive: true, force: true });
});

/** GPSMapDatum is ASCII in the GPS directory: its text is findable in the file's bytes. */
const DATUM = Buffer.from("WGS-84", "latin1");
const CAMERA = Buffer.from("TestCam", "latin1");
const EXIF_HEADER = Buffer.from("Exif\0\0", "latin1");

/** A 1200×900 photo with camera and GPS EXIF, as a phone writes it. */
const photoWithGps = (): Promise<Buffer> =>
  sharp({ create: { width: 1200, height: 900, channels: 3, background: "#3a6b8c" } })
    .jpeg({ quality: 85 })
    .withExif({
      IFD0: { Make: "TestCam", Model: "Phone 1" },
      IFD3: {
        GPSLatitudeRef: "N",
        GPSLatitude: "51/1 30/1 0/1",
        GPSLongitudeRef: "W",
        GPSLongitude: "0/1 7/1 0/1",
        GPSMapDatum: "WGS-84",
      },
    })
    .toBuffer();

/** The EXIF tag of the GPS directory (0x8825), in either byte order. */
const hasGpsPointer = (exif: Buffer): boolean =>
  exif.includes(Buffer.from([0x88, 0x25])) || exif.includes(Buffer.from([0x25, 0x88]));

const PUBLISH = `mutation ($input: PublishPostInput!) {
  publishPost(input: $input) { post { id privacyLevel } }
}`;
const POST = `query ($id: UUID!) {
  post(id: $id) { id media { nodes { mediaType mediaUrl thumbnailUrl width height } } }
}`;
const UPLOAD = `query ($id: UUID!) { upload(id: $id) { status mediaType width height errorCode } }`;

interface MediaNode {
  mediaType: string;
  mediaUrl: string;
  thumbnailUrl: string | null;
  width: number;
  height: number;
}

async function mediaSeenBy(who: TestAccount | null, postId: string): Promise<MediaNode[] | null> {
  const data = ok<{ post: { media: { nodes: MediaNode[] } } | null }>(
    await api.as(who)(POST, { id: postId }),
  );
  return data.post ? data.post.media.nodes : null;
}

const bytesOf = async (response: Response): Promise<Buffer> =>
  Buffer.from(await response.arrayBuffer());

describe("a phone photo, uploaded, processed and shared with friends", () => {
  let postId: string;
  let original: Buffer;

  beforeAll(async () => {
    original = await photoWithGps();
    const exif = (await sharp(original).metadata()).exif;
    expect(exif && hasGpsPointer(exif)).toBe(true);
    expect(original.includes(DATUM)).toBe(true);

    const { upload, putStatus } = await uploadBytes(api, author, original, {
      purpose: "post_media",
      contentType: "image/jpeg",
      filename: "IMG_0001.jpg",
    });
    expect(putStatus).toBe(201);
    const processed = worker.nextCompletion("media__process");
    ok(await api.as(author)(COMPLETE_UPLOAD, { id: upload.id }));
    expect((await processed).error).toBeUndefined();
    await worker.idle(["media__process"]);
    const ready = ok<{ upload: Record<string, unknown> }>(
      await api.as(author)(UPLOAD, { id: upload.id }),
    );
    expect(ready.upload).toEqual({
      status: "ready",
      mediaType: "image",
      width: 1200,
      height: 900,
      errorCode: null,
    });

    const published = ok<{ publishPost: { post: { id: string; privacyLevel: string } } }>(
      await api.as(author)(PUBLISH, {
        input: {
          content: "view from the hill",
          privacyLevel: "friends",
          media: [{ mediaType: "image", mediaUrl: `upload:${upload.id}` }],
        },
      }),
    );
    expect(published.publishPost.post.privacyLevel).toBe("friends");
    postId = published.publishPost.post.id;
  });

  it("a friend sees the processed size and a thumbnail, and fetches both", async () => {
    const nodes = await mediaSeenBy(friend, postId);
    expect(nodes).toHaveLength(1);
    const [media] = nodes!;
    expect(media).toMatchObject({ mediaType: "image", width: 1200, height: 900 });
    expect(media!.thumbnailUrl).toEqual(expect.any(String));

    const file = await fetch(absolute(api, media!.mediaUrl));
    expect(file.status).toBe(200);
    expect(file.headers.get("content-type")).toBe("image/jpeg");
    const fetched = await bytesOf(file);
    const meta = await sharp(fetched).metadata();
    expect(meta).toMatchObject({ format: "jpeg", width: 1200, height: 900 });

    const thumb = await fetch(absolute(api, media!.thumbnailUrl!));
    expect(thumb.status).toBe(200);
    expect(thumb.headers.get("content-type")).toMatch(/^image\//);
    const thumbMeta = await sharp(await bytesOf(thumb)).metadata();
    expect(thumbMeta).toMatchObject({ width: 320, height: 240 });
    expect(thumbMeta.exif).toBeUndefined();
  });

  it("the stored file has no EXIF: no GPS, no camera", async () => {
    const [media] = (await mediaSeenBy(author, postId))!;
    const fetched = await bytesOf(await fetch(absolute(api, media!.mediaUrl)));
    expect(fetched.equals(original)).toBe(false);
    const meta = await sharp(fetched).metadata();
    expect(meta.exif).toBeUndefined();
    expect(meta.xmp).toBeUndefined();
    expect(fetched.includes(EXIF_HEADER)).toBe(false);
    expect(fetched.includes(DATUM)).toBe(false);
    expect(fetched.includes(CAMERA)).toBe(false);
  });

  it("a stranger and a signed-out visitor do not see the post", async () => {
    expect(await mediaSeenBy(stranger, postId)).toBeNull();
    expect(await mediaSeenBy(null, postId)).toBeNull();
    expect((await mediaSeenBy(friend, postId))!).toHaveLength(1);
  });

  it("a URL with a forged signature, or another key, is refused", async () => {
    const [media] = (await mediaSeenBy(friend, postId))!;
    const url = absolute(api, media!.mediaUrl);
    expect((await fetch(url)).status).toBe(200);
    expect((await fetch(url.split("?")[0]!)).status).toBe(403);
    const sig = /sig=([^&]+)/.exec(url)![1]!;
    const flipped = (sig[0] === "A" ? "B" : "A") + sig.slice(1);
    expect((await fetch(url.replace(`sig=${sig}`, `sig=${flipped}`))).status).toBe(403);
    // a later expiry with the same signature: the signature covers exp too
    const exp = Number(/exp=(\d+)/.exec(url)![1]);
    expect((await fetch(url.replace(`exp=${exp}`, `exp=${exp + 3600}`))).status).toBe(403);
    // the thumbnail's key with the original's signature
    const thumbnailPath = new URL(absolute(api, media!.thumbnailUrl!)).pathname;
    const forged = `${api.server.url}${thumbnailPath}?${url.split("?")[1]!}`;
    expect((await fetch(forged)).status).toBe(403);
  });

  it("the friend's URL stops working once expired", async () => {
    const start = Date.now();
    mediaClock.now = () => start;
    const [media] = (await mediaSeenBy(friend, postId))!;
    const url = absolute(api, media!.mediaUrl);
    const thumbnail = absolute(api, media!.thumbnailUrl!);
    const exp = Number(/exp=(\d+)/.exec(url)![1]);
    mediaClock.now = () => (exp - 1) * 1000;
    expect((await fetch(url)).status).toBe(200);
    mediaClock.now = () => exp * 1000;
    for (const expired of [url, thumbnail]) {
      const response = await fetch(expired);
      expect([403, 404]).toContain(response.status);
      expect(await response.json()).toMatchObject({
        errors: [{ extensions: { code: "UPLOAD_URL_INVALID" } }],
      });
    }
  });
});
