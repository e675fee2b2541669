/**
 * Attaching ready uploads to posts, messages and profiles, and delivering them per viewer:
 * signed URLs only for those who may read the row, expiring (by the media clock, not sleeps),
 * stable within a window; the local GET's ranges, ETag and Cache-Control. Processing itself is
 * the worker's (media__process, tested in its own files): here an upload is made ready the way
 * that task leaves it (status, metadata, a thumbnail variant in storage), written as the owner.
 */
import { rm } from "node:fs/promises";
import path from "node:path";

import type { TestAccount } from "../helpers/accounts.ts";
import { ok, refusal, startApi, type Api } from "../helpers/api.ts";
import { LocalStorage } from "../../src/media/local.ts";
import { mediaClock } from "../../src/media/urls.ts";
import { absolute, COMPLETE_UPLOAD, tempDataDir, uploadBytes } from "./helpers.ts";

const TTL = 60;
let api: Api;
let dataDir: string;
let storage: LocalStorage;
let ana: TestAccount; // the author
let ben: TestAccount; // ana's friend
let cat: TestAccount; // a stranger

beforeAll(async () => {
  dataDir = await tempDataDir();
  storage = new LocalStorage(path.join(dataDir, "media"));
  api = await startApi({
    DATA_DIR: dataDir,
    MEDIA_ALLOW_EXTERNAL_URLS: "false",
    MEDIA_URL_TTL_SECONDS: String(TTL),
  });
  [ana, ben, cat] = [await api.register(), await api.register(), await api.register()];
  await api.sql(
    `insert into app_public.friendships (requester_id, addressee_id, status) values ($1, $2, 'accepted')`,
    [ana.id, ben.id],
  );
});
afterEach(() => {
  mediaClock.now = () => Date.now();
});
afterAll(async () => {
  await api.close();
  await rm(dataDir, { recursive: true, force: true });
});

const ORIGINAL = Buffer.from(Array.from({ length: 5000 }, (_, i) => i % 251));
const THUMB = Buffer.alloc(300, 3);

/** Uploads, completes, and leaves the upload as media__process leaves a 640×480 image. */
async function readyUpload(who: TestAccount, purpose = "post_media"): Promise<string> {
  const { upload, putStatus } = await uploadBytes(api, who, ORIGINAL, { purpose });
  expect(putStatus).toBe(201);
  ok(await api.as(who)(COMPLETE_UPLOAD, { id: upload.id }));
  const thumbKey = `uploads/${who.id}/${upload.id}/thumbnail`;
  await storage.put(thumbKey, THUMB, "image/jpeg");
  await api.sql(
    `update app_public.uploads
        set status = 'ready', processed_at = now(), media_type = 'image', mime_type = 'image/jpeg',
            width = 640, height = 480, file_size = $2, variants = jsonb_build_object('thumbnail', $3::text)
      where id = $1`,
    [upload.id, ORIGINAL.length, thumbKey],
  );
  return upload.id;
}

const PUBLISH = `mutation ($input: PublishPostInput!) {
  publishPost(input: $input) { post { id } }
}`;
const POST = `query ($id: UUID!) {
  post(id: $id) { id media { nodes { mediaType mediaUrl thumbnailUrl width height fileSize } } }
}`;

interface MediaNode {
  mediaType: string;
  mediaUrl: string;
  thumbnailUrl: string | null;
  width: number;
  height: number;
  fileSize: string;
}

async function mediaSeenBy(who: TestAccount | null, postId: string): Promise<MediaNode[] | null> {
  const data = ok<{ post: { media: { nodes: MediaNode[] } } | null }>(
    await api.as(who)(POST, { id: postId }),
  );
  return data.post ? data.post.media.nodes : null;
}

async function publishWith(uploadId: string, privacyLevel: string): Promise<string> {
  return ok<{ publishPost: { post: { id: string } } }>(
    await api.as(ana)(PUBLISH, {
      input: {
        content: "look",
        privacyLevel,
        // what a client claims about the file is ignored: the upload says
        media: [{ mediaType: "video", mediaUrl: `upload:${uploadId}`, width: 9999, height: 1 }],
      },
    }),
  ).publishPost.post.id;
}

describe("a friends-only post's photo", () => {
  let postId: string;
  let uploadId: string;
  beforeAll(async () => {
    uploadId = await readyUpload(ana);
    postId = await publishWith(uploadId, "friends");
  });

  it("stores only what the server produced", async () => {
    const rows = await api.sql(
      `select media_type, media_url, thumbnail_url, width, height, file_size::int from app_public.post_media where post_id = $1`,
      [postId],
    );
    expect(rows).toEqual([
      {
        media_type: "image",
        media_url: `media:uploads/${ana.id}/${uploadId}/original`,
        thumbnail_url: `media:uploads/${ana.id}/${uploadId}/thumbnail`,
        width: 640,
        height: 480,
        file_size: ORIGINAL.length,
      },
    ]);
    const [upload] = await api.sql<{ attached: boolean }>(
      `select attached_at is not null as attached from app_public.uploads where id = $1`,
      [uploadId],
    );
    expect(upload!.attached).toBe(true);
  });

  it("a friend gets signed URLs that fetch the file and its thumbnail", async () => {
    const [media] = (await mediaSeenBy(ben, postId))!;
    expect(media).toMatchObject({ mediaType: "image", width: 640, height: 480 });
    expect(media!.mediaUrl).toMatch(/^\/media\/o\/uploads\/.+\/original\?exp=\d+&sig=/);
    const file = await fetch(absolute(api, media!.mediaUrl));
    expect(file.status).toBe(200);
    expect(file.headers.get("content-type")).toBe("image/jpeg");
    expect(Buffer.from(await file.arrayBuffer()).equals(ORIGINAL)).toBe(true);
    const thumb = await fetch(absolute(api, media!.thumbnailUrl!));
    expect(Buffer.from(await thumb.arrayBuffer()).equals(THUMB)).toBe(true);
  });

  it("a stranger gets no URL, and cannot fetch without a valid signature", async () => {
    expect(await mediaSeenBy(cat, postId)).toBeNull();
    expect(await mediaSeenBy(null, postId)).toBeNull();
    const [media] = (await mediaSeenBy(ben, postId))!;
    const url = absolute(api, media!.mediaUrl);
    const bare = url.split("?")[0]!;
    expect((await fetch(bare)).status).toBe(403);
    expect((await fetch(url.replace(/sig=[^&]+/, "sig=AAAA"))).status).toBe(403);
    // the signature covers the key: another file with the same signature is refused
    expect((await fetch(url.replace("/original?", "/thumbnail?"))).status).toBe(403);
  });

  it("the URL is the same within a window and refused once expired", async () => {
    const start = Date.now();
    mediaClock.now = () => start;
    const [first] = (await mediaSeenBy(ben, postId))!;
    mediaClock.now = () => start + 1000;
    const [second] = (await mediaSeenBy(ben, postId))!;
    const windowStart = Math.floor(start / 1000 / TTL) * TTL;
    if ((start + 1000) / 1000 < windowStart + TTL) expect(second!.mediaUrl).toBe(first!.mediaUrl);
    const url = absolute(api, first!.mediaUrl);
    const exp = Number(/exp=(\d+)/.exec(url)![1]);
    expect(exp - start / 1000).toBeGreaterThanOrEqual(TTL - 1);
    expect(exp - start / 1000).toBeLessThanOrEqual(2 * TTL);
    mediaClock.now = () => (exp - 1) * 1000;
    expect((await fetch(url)).status).toBe(200);
    mediaClock.now = () => exp * 1000;
    const expired = await fetch(url);
    expect(expired.status).toBe(403);
    expect(await expired.json()).toMatchObject({
      errors: [{ extensions: { code: "UPLOAD_URL_INVALID" } }],
    });
    // the friend asks again and gets a fresh URL that works
    const [fresh] = (await mediaSeenBy(ben, postId))!;
    expect(fresh!.mediaUrl).not.toBe(first!.mediaUrl);
    expect((await fetch(absolute(api, fresh!.mediaUrl))).status).toBe(200);
  });

  it("serves ranges (206), ETag with 304, and caching until expiry", async () => {
    const [media] = (await mediaSeenBy(ana, postId))!;
    const url = absolute(api, media!.mediaUrl);
    const part = await fetch(url, { headers: { range: "bytes=100-199" } });
    expect(part.status).toBe(206);
    expect(part.headers.get("content-range")).toBe(`bytes 100-199/${ORIGINAL.length}`);
    expect(Buffer.from(await part.arrayBuffer()).equals(ORIGINAL.subarray(100, 200))).toBe(true);
    const full = await fetch(url);
    const etag = full.headers.get("etag");
    expect(etag).toBeTruthy();
    expect(full.headers.get("accept-ranges")).toBe("bytes");
    expect(full.headers.get("cache-control")).toMatch(/^public, max-age=\d+, immutable$/);
    const maxAge = Number(/max-age=(\d+)/.exec(full.headers.get("cache-control")!)![1]);
    expect(maxAge).toBeGreaterThan(0);
    expect(maxAge).toBeLessThanOrEqual(2 * TTL);
    await full.arrayBuffer();
    // (fetch adds Cache-Control: no-cache to a conditional request unless one is given)
    const again = await fetch(url, {
      headers: { "if-none-match": etag!, "cache-control": "max-age=0" },
    });
    expect(again.status).toBe(304);
  });
});

describe("what attaching accepts", () => {
  it("refuses someone else's upload, a raw URL, a forged reference, a pending upload and the wrong purpose", async () => {
    const bens = await readyUpload(ben);
    const attempt = (mediaUrl: string) =>
      api.as(ana)(PUBLISH, { input: { content: "x", media: [{ mediaType: "image", mediaUrl }] } });
    expect(refusal(await attempt(`upload:${bens}`))).toMatchObject({ code: "NOT_FOUND" });
    expect(refusal(await attempt("https://evil.test/x.jpg"))).toMatchObject({
      code: "EXTERNAL_URL_NOT_ALLOWED",
      field: "media_url",
    });
    expect(refusal(await attempt(`media:uploads/${ben.id}/${bens}/original`))).toMatchObject({
      code: "INVALID_INPUT",
    });
    const { upload } = await uploadBytes(api, ana, Buffer.alloc(10));
    expect(refusal(await attempt(`upload:${upload.id}`))).toMatchObject({
      code: "UPLOAD_NOT_READY",
    });
    const avatar = await readyUpload(ana, "avatar");
    expect(refusal(await attempt(`upload:${avatar}`))).toMatchObject({ code: "INVALID_INPUT" });
    const posts = await api.sql(
      `select 1 from app_public.posts where author_id = $1 and content = 'x'`,
      [ana.id],
    );
    expect(posts).toEqual([]);
  });

  it("a profile's avatar through the generated update: uploads only, shown as a signed URL", async () => {
    const UPDATE = `mutation ($id: UUID!, $url: String) {
      updateUserProfileByUserId(input: { userId: $id, patch: { avatarUrl: $url } }) { userProfile { avatarUrl } }
    }`;
    expect(
      refusal(await api.as(cat)(UPDATE, { id: cat.id, url: "https://evil.test/a.png" })),
    ).toMatchObject({
      code: "EXTERNAL_URL_NOT_ALLOWED",
    });
    const avatar = await readyUpload(cat, "avatar");
    const data = ok<{ updateUserProfileByUserId: { userProfile: { avatarUrl: string } } }>(
      await api.as(cat)(UPDATE, { id: cat.id, url: `upload:${avatar}` }),
    );
    const url = data.updateUserProfileByUserId.userProfile.avatarUrl;
    expect(url).toMatch(/^\/media\/o\/uploads\/.+\/original\?exp=/);
    expect((await fetch(absolute(api, url))).status).toBe(200);
    const [row] = await api.sql<{ avatar_url: string }>(
      `select avatar_url from app_public.user_profiles where user_id = $1`,
      [cat.id],
    );
    expect(row!.avatar_url).toBe(`media:uploads/${cat.id}/${avatar}/original`);
  });

  it("a message's file takes its name, size and kind from the upload", async () => {
    const START = `mutation ($u: UUID!) { startDirectConversation(input: { userId: $u }) { conversation { id } } }`;
    const started = await api.as(ana)(START, { u: ben.id });
    const conversationId = ok<{ startDirectConversation: { conversation: { id: string } } }>(
      started,
    ).startDirectConversation.conversation.id;
    const file = await readyUpload(ana, "message_attachment");
    const SEND = `mutation ($c: UUID!, $m: String) {
      sendMessage(input: { conversationId: $c, mediaUrl: $m, fileName: "lies.exe", fileSize: "1" }) {
        message { id messageType mediaUrl fileName fileSize }
      }
    }`;
    const sent = ok<{ sendMessage: { message: Record<string, string> } }>(
      await api.as(ana)(SEND, { c: conversationId, m: `upload:${file}` }),
    ).sendMessage.message;
    expect(sent).toMatchObject({
      messageType: "image",
      fileName: "photo.jpg",
      fileSize: String(ORIGINAL.length),
    });
    expect((await fetch(absolute(api, sent.mediaUrl!))).status).toBe(200);
    expect(
      refusal(await api.as(ana)(SEND, { c: conversationId, m: "https://evil.test/f" })),
    ).toMatchObject({
      code: "EXTERNAL_URL_NOT_ALLOWED",
    });
  });
});
