/**
 * The S3-compatible storage driver (AWS S3, MinIO, …): STORAGE_URL=s3://[KEY:SECRET@]bucket
 * [?endpoint=…&region=…&path_style=true]. Without credentials in the URL the AWS SDK's default
 * chain applies (AWS_ACCESS_KEY_ID, …). Clients PUT and GET through presigned URLs.
 */
import type { Readable } from "node:stream";

import {
  DeleteObjectCommand,
  GetObjectCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
  S3ServiceException,
} from "@aws-sdk/client-s3";
import { getSignedUrl } from "@aws-sdk/s3-request-presigner";

import type { S3StorageConfig } from "../config.ts";
import { assertValidKey, type MediaStorage } from "./storage.ts";

export class S3Storage implements MediaStorage {
  readonly client: S3Client;
  readonly bucket: string;

  constructor(config: S3StorageConfig) {
    this.bucket = config.bucket;
    this.client = new S3Client({
      region: config.region,
      forcePathStyle: config.forcePathStyle,
      // no checksum of an unknown body in presigned PUTs; S3-compatible servers may not send them
      requestChecksumCalculation: "WHEN_REQUIRED",
      responseChecksumValidation: "WHEN_REQUIRED",
      ...(config.endpoint ? { endpoint: config.endpoint } : {}),
      ...(config.accessKeyId && config.secretAccessKey
        ? {
            credentials: {
              accessKeyId: config.accessKeyId,
              secretAccessKey: config.secretAccessKey,
            },
          }
        : {}),
    });
  }

  async put(key: string, body: Buffer | NodeJS.ReadableStream, contentType: string): Promise<void> {
    assertValidKey(key);
    // a stream of unknown length is collected first: S3 wants the length up front
    const bytes = Buffer.isBuffer(body) ? body : await collect(body);
    await this.client.send(
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        Body: bytes,
        ContentType: contentType,
        ContentLength: bytes.length,
      }),
    );
  }

  async get(key: string): Promise<NodeJS.ReadableStream | null> {
    assertValidKey(key);
    const answer = await this.client
      .send(new GetObjectCommand({ Bucket: this.bucket, Key: key }))
      .catch(missingAsNull);
    return answer ? (answer.Body as Readable) : null;
  }

  async readBytes(key: string, maxBytes: number): Promise<Buffer | null> {
    assertValidKey(key);
    if (maxBytes <= 0) return (await this.head(key)) ? Buffer.alloc(0) : null;
    const answer = await this.client
      .send(
        new GetObjectCommand({ Bucket: this.bucket, Key: key, Range: `bytes=0-${maxBytes - 1}` }),
      )
      .catch(missingAsNull);
    if (!answer) return null;
    const bytes = await collect(answer.Body as Readable);
    return bytes.length > maxBytes ? bytes.subarray(0, maxBytes) : bytes;
  }

  async head(key: string): Promise<{ bytes: number; contentType: string | null } | null> {
    assertValidKey(key);
    const answer = await this.client
      .send(new HeadObjectCommand({ Bucket: this.bucket, Key: key }))
      .catch(missingAsNull);
    return answer
      ? { bytes: answer.ContentLength ?? 0, contentType: answer.ContentType ?? null }
      : null;
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: key }));
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    let token: string | undefined;
    do {
      const page = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token }),
      );
      for (const object of page.Contents ?? []) if (object.Key) keys.push(object.Key);
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    return keys.sort();
  }

  /**
   * A presigned PUT for exactly `bytes` bytes of `contentType` (both signed: the client must send
   * those headers, and fetch sends Content-Length by itself).
   */
  presignPut(
    key: string,
    contentType: string,
    bytes: number,
    expiresInSeconds: number,
  ): Promise<string> {
    assertValidKey(key);
    return getSignedUrl(
      this.client,
      new PutObjectCommand({
        Bucket: this.bucket,
        Key: key,
        ContentType: contentType,
        ContentLength: bytes,
      }),
      { expiresIn: expiresInSeconds, signableHeaders: new Set(["content-type", "content-length"]) },
    );
  }

  /** A presigned GET signed at `signingDate` (a window's start, so the URL is stable within it). */
  presignGet(key: string, signingDate: Date, expiresInSeconds: number): Promise<string> {
    assertValidKey(key);
    return getSignedUrl(this.client, new GetObjectCommand({ Bucket: this.bucket, Key: key }), {
      expiresIn: expiresInSeconds,
      signingDate,
    });
  }
}

async function collect(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream)
    chunks.push(Buffer.isBuffer(chunk) ? chunk : Buffer.from(chunk));
  return Buffer.concat(chunks);
}

function missingAsNull(error: unknown): null {
  if (error instanceof S3ServiceException) {
    const status = error.$metadata.httpStatusCode;
    if (status === 404 || error.name === "NoSuchKey" || error.name === "NotFound") return null;
  }
  throw error;
}
