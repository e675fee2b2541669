/**
 * `npm run bench:media -- [--uploads 40] [--concurrency 4] [--width 4000] [--height 3000]`
 *
 * Media upload figures for BENCHMARKS.md: phone-sized JPEGs (default 4000×3000, 12 MP, with
 * GPS EXIF) through the real API and worker (`src/main.ts server` and `worker`, production
 * mode, local storage in a temporary DATA_DIR): createUpload → PUT the bytes to the signed URL
 * → completeUpload, `--concurrency` clients at once, until every upload is ready. Reports
 * uploads per second (end to end: until the last is ready; and the API side alone) and the time
 * from completeUpload to a ready thumbnail (`processed_at - uploaded_at`, both set by the
 * database) at p50/p95/max.
 *
 * Runs on the embedded server of the configuration (DATA_DIR, EMBEDDED_PG_PORT; no
 * DATABASE_URL) in a database of its own, `<database>_media_bench`, created and dropped each
 * run. The worker uses WORKER_CONCURRENCY from the environment (default 4). Writes
 * bench/results/media-<date>.json and prints a Markdown table.
 */
import { randomBytes } from "node:crypto";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { cpus, tmpdir } from "node:os";
import path from "node:path";

import pg from "pg";
import sharp from "sharp";

import { connectDatabase, ensureOwnerAndDatabase } from "../src/db/connection.ts";
import { migrateDatabase } from "../src/db/migrate.ts";
import { databaseNameOf, userOf, withUrlParts } from "../src/db/urls.ts";
import { createLogger } from "../src/log.ts";
import { PROJECT_ROOT } from "../src/paths.ts";
import { startApi, startWorker, stopAllChildren, type ServiceEnv } from "./harness/processes.ts";
import { loadBenchConfig } from "./harness/benchConfig.ts";
import { script, type Fail } from "./harness/script.ts";

const cli = script("bench:media");
const { say } = cli;
const fail: Fail = cli.fail;
const { values } = cli.parse({
  options: {
    uploads: { type: "string", default: "40" },
    concurrency: { type: "string", default: "4" },
    width: { type: "string", default: "4000" },
    height: { type: "string", default: "3000" },
  },
});

const uploads = cli.whole("uploads", values.uploads);
const concurrency = cli.whole("concurrency", values.concurrency);
const width = cli.whole("width", values.width);
const height = cli.whole("height", values.height);

const config = loadBenchConfig(fail, "runs on the embedded server");

const log = createLogger({ level: "warn", json: false });
const round = (n: number, digits = 1): number => Number(n.toFixed(digits));

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil(p * sorted.length) - 1))]!;
}

/** A 12 MP photo-like JPEG (smooth gradients with sensor-like noise) with GPS EXIF. */
async function phonePhoto(): Promise<Buffer> {
  const raw = Buffer.alloc(width * height * 3);
  const noise = randomBytes(width * height);
  for (let y = 0; y < height; y += 1) {
    for (let x = 0; x < width; x += 1) {
      const i = y * width + x;
      const n = noise[i]! & 15;
      raw[i * 3] = ((x * 200) / width + n) | 0;
      raw[i * 3 + 1] = ((y * 200) / height + n) | 0;
      raw[i * 3 + 2] = (((x + y) * 100) / (width + height) + 60 + n) | 0;
    }
  }
  return sharp(raw, { raw: { width, height, channels: 3 } })
    .jpeg({ quality: 90 })
    .withExif({
      IFD0: { Make: "BenchCam", Model: "Phone" },
      IFD3: { GPSLatitudeRef: "N", GPSLatitude: "51/1 30/1 0/1" },
    })
    .toBuffer();
}

const db = await connectDatabase(config, log);
const database = `${databaseNameOf(db.ownerUrl)}_media_bench`;
const mediaDir = await mkdtemp(path.join(tmpdir(), "mking-media-bench-"));
const root = new pg.Client({ connectionString: db.rootUrl! });
let exitCode = 0;
try {
  await root.connect();
  await root.query(`drop database if exists ${pg.escapeIdentifier(database)} with (force)`);
  await ensureOwnerAndDatabase(db.rootUrl!, {
    role: userOf(db.ownerUrl),
    password: decodeURIComponent(new URL(db.ownerUrl).password),
    database,
  });
  const ownerUrl = withUrlParts(db.ownerUrl, { database });
  const authUrl = withUrlParts(ownerUrl, {
    user: db.authenticator.name,
    password: db.authenticator.password,
  });
  await migrateDatabase({ ownerUrl, authenticator: db.authenticator, log, current: true });
  const service: ServiceEnv = {
    ownerUrl,
    authUrl,
    authenticatorPassword: db.authenticator.password,
    jwtSecret: randomBytes(32).toString("hex"),
  };
  const env = {
    DATA_DIR: mediaDir,
    MEDIA_UPLOADS_PER_HOUR: String(uploads + 10),
    MEDIA_QUOTA_BYTES: String(1024 ** 4),
    WORKER_CONCURRENCY: process.env.WORKER_CONCURRENCY ?? "4",
  };
  const api = await startApi(service, env);
  await startWorker(service, env);

  say(`making a ${width}×${height} JPEG`);
  const photo = await phonePhoto();
  say(`photo: ${round(photo.length / 1024 / 1024, 2)} MB; registering ${concurrency} people`);

  const gql = async <T>(query: string, variables: object, token?: string): Promise<T> => {
    const res = await fetch(`${api.url}/graphql`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(token ? { authorization: `Bearer ${token}` } : {}),
      },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await res.json()) as { data?: T; errors?: { message: string }[] };
    if (!body.data || body.errors) throw new Error(JSON.stringify(body.errors ?? body));
    return body.data;
  };
  const tokens: string[] = [];
  for (let i = 0; i < concurrency; i += 1) {
    const tag = `${Date.now().toString(36)}${i}`;
    const r = await gql<{ register: { accessToken: string } }>(
      `mutation ($input: RegisterInput!) { register(input: $input) { accessToken } }`,
      {
        input: {
          email: `media_${tag}@bench.test`,
          username: `media_${tag}`,
          password: "correct horse battery",
        },
      },
    );
    tokens.push(r.register.accessToken);
  }

  const apiMs: number[] = [];
  let next = 0;
  const started = performance.now();
  const client = async (token: string): Promise<void> => {
    while (next < uploads) {
      next += 1;
      const t0 = performance.now();
      const created = await gql<{ createUpload: { upload: { id: string; uploadUrl: string } } }>(
        `mutation ($input: CreateUploadInput!) { createUpload(input: $input) { upload { id uploadUrl } } }`,
        {
          input: {
            purpose: "post_media",
            filename: "IMG_0001.jpg",
            contentType: "image/jpeg",
            byteSize: photo.length,
          },
        },
        token,
      );
      const { id, uploadUrl } = created.createUpload.upload;
      const put = await fetch(new URL(uploadUrl, api.url), {
        method: "PUT",
        headers: { "content-type": "image/jpeg" },
        body: new Uint8Array(photo),
      });
      if (!put.ok) throw new Error(`PUT answered ${put.status}`);
      await gql(
        `mutation ($id: UUID!) { completeUpload(input: { uploadId: $id }) { upload { status } } }`,
        { id },
        token,
      );
      apiMs.push(performance.now() - t0);
    }
  };
  await Promise.all(tokens.map((t) => client(t)));
  const apiDone = performance.now();

  const owner = new pg.Client({ connectionString: ownerUrl });
  await owner.connect();
  let counts: { done: number; failed: number } = { done: 0, failed: 0 };
  const deadline = Date.now() + 30 * 60_000;
  for (;;) {
    const { rows } = await owner.query<{ done: number; failed: number }>(
      `select count(*) filter (where status in ('ready', 'failed'))::int as done,
              count(*) filter (where status = 'failed')::int as failed
         from app_public.uploads`,
    );
    counts = rows[0]!;
    if (counts.done >= uploads || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  const allReady = performance.now();
  const { rows: latencies } = await owner.query<{ ms: number }>(
    `select extract(epoch from processed_at - uploaded_at) * 1000 as ms
       from app_public.uploads where status = 'ready' order by 1`,
  );
  await owner.end();
  if (counts.failed > 0) throw new Error(`${counts.failed} uploads failed processing`);
  const ready = latencies.map((r) => Number(r.ms));

  const result = {
    at: new Date().toISOString(),
    machine: { cpus: cpus().length, model: cpus()[0]?.model ?? "unknown" },
    photo: { width, height, bytes: photo.length },
    uploads,
    concurrency,
    workerConcurrency: Number(env.WORKER_CONCURRENCY),
    uploadsPerSecond: round(uploads / ((allReady - started) / 1000), 2),
    apiUploadsPerSecond: round(uploads / ((apiDone - started) / 1000), 2),
    apiMs: {
      p50: round(
        percentile(
          [...apiMs].sort((a, b) => a - b),
          0.5,
        ),
      ),
      p95: round(
        percentile(
          [...apiMs].sort((a, b) => a - b),
          0.95,
        ),
      ),
    },
    completeToReadyMs: {
      p50: round(percentile(ready, 0.5)),
      p95: round(percentile(ready, 0.95)),
      max: round(ready.at(-1)!),
    },
  };
  const folder = path.join(PROJECT_ROOT, "bench", "results");
  await mkdir(folder, { recursive: true });
  const file = path.join(folder, `media-${result.at.replace(/[:.]/g, "-")}.json`);
  await writeFile(file, JSON.stringify(result, null, 2) + "\n");
  process.stdout.write(
    [
      `| figure | value |`,
      `| --- | --- |`,
      `| photo | ${width}×${height} JPEG, ${round(photo.length / 1024 / 1024, 2)} MB |`,
      `| uploads (clients, worker concurrency) | ${uploads} (${concurrency}, ${result.workerConcurrency}) |`,
      `| uploads/s, until the last is ready | ${result.uploadsPerSecond} |`,
      `| uploads/s, API side (create + PUT + complete) | ${result.apiUploadsPerSecond} |`,
      `| create + PUT + complete, p50 / p95 | ${result.apiMs.p50} / ${result.apiMs.p95} ms |`,
      `| completeUpload → ready thumbnail, p50 / p95 / max | ${result.completeToReadyMs.p50} / ${result.completeToReadyMs.p95} / ${result.completeToReadyMs.max} ms |`,
      ``,
      `written to ${path.relative(PROJECT_ROOT, file)}`,
      ``,
    ].join("\n"),
  );
} catch (error) {
  say(`failed: ${error instanceof Error ? error.message : String(error)}`);
  exitCode = 1;
} finally {
  await stopAllChildren();
  await root
    .query(`drop database if exists ${pg.escapeIdentifier(database)} with (force)`)
    .catch(() => undefined);
  await root.end().catch(() => undefined);
  await db.close();
  await rm(mediaDir, { recursive: true, force: true });
}
process.exit(exitCode);
