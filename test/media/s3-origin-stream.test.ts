/**
 * With S3 storage behind a CDN (MEDIA_PUBLIC_BASE_URL), the API is the CDN's origin: GET
 * /media/o/<key> streams the object from S3 to the client. When the S3 connection breaks in the
 * middle of a file, the client's response is cut off (never left hanging, never completed as if
 * whole) and the API goes on serving: before, the download hung until the client gave up
 * (`pipe()` neither ends nor destroys its destination when its source fails). Against s3rver, an S3-compatible server from npm, whose connections the test
 * drops mid-stream.
 */
import { get, type IncomingMessage } from "node:http";

import { S3Storage } from "../../src/media/s3.ts";
import { storageFor } from "../../src/media/storage.ts";
import { mediaUrlsFor } from "../../src/media/urls.ts";
import { createTestDatabase, type TestDatabase } from "../helpers/database.ts";
import { startS3rver, type RunningS3rver } from "../helpers/s3rver.ts";
import { startTestServer, testConfig, type TestServer } from "../helpers/server.ts";

const CDN = "http://cdn.example.test";
const KEY = "media/stream-test/big.bin";
const BYTES = 32 * 1024 * 1024;

let s3: RunningS3rver;
let db: TestDatabase;
let server: TestServer;
let env: Record<string, string>;

beforeAll(async () => {
  s3 = await startS3rver();
  env = { STORAGE_URL: s3.storageUrl, MEDIA_PUBLIC_BASE_URL: CDN };
  const storage = storageFor(testConfig(env));
  if (!(storage instanceof S3Storage)) throw new Error("not the S3 driver");
  await storage.put(KEY, Buffer.alloc(BYTES, 7), "application/octet-stream");
  db = await createTestDatabase();
  server = await startTestServer(db, env);
}, 60_000);
afterAll(async () => {
  await server.close();
  await db.drop();
  await s3.close();
});

/** The client's view of one download: the response, and how it ended. */
function download(url: string): Promise<{ response: IncomingMessage; ended: Promise<string> }> {
  return new Promise((resolve, reject) => {
    get(url, (response) => {
      let received = 0;
      const ended = new Promise<string>((done) => {
        response.on("data", (chunk: Buffer) => void (received += chunk.length));
        response.on("end", () => done(`complete after ${received} bytes`));
        response.on("aborted", () => done(`cut off after ${received} bytes`));
        response.on("error", () => done(`cut off after ${received} bytes`));
      });
      resolve({ response, ended });
    }).on("error", reject);
  });
}

test("an S3 connection lost mid-file cuts the client's download off; the API goes on", async () => {
  const url = (await mediaUrlsFor(server.config).viewUrl(KEY)).replace(CDN, server.url);
  expect(url).toContain("/media/o/");

  // a whole download first: the route streams S3 objects
  const whole = await download(url);
  expect(whole.response.statusCode).toBe(200);
  expect(whole.response.headers["content-length"]).toBe(String(BYTES));
  await expect(whole.ended).resolves.toBe(`complete after ${BYTES} bytes`);

  // then one whose S3 connection breaks after the first bytes (the client reads slowly, so most
  // of the file is still to come from S3 when it does)
  const broken = await download(url);
  expect(broken.response.statusCode).toBe(200);
  broken.response.pause();
  s3.dropConnections();
  broken.response.resume();
  const outcome = await broken.ended;
  expect(outcome).toMatch(/^cut off after \d+ bytes$/);
  expect(Number(/\d+/.exec(outcome)![0])).toBeLessThan(BYTES);

  // the API is still there
  const answer = await server.graphql("{ __typename }");
  expect(answer.status).toBe(200);
}, 60_000);
