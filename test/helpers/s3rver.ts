/**
 * s3rver, an S3-compatible server from npm, on a free loopback port with one bucket, for the S3
 * driver's tests: its endpoint, the STORAGE_URL that points at it, and a way to drop every open
 * connection (a storage failing mid-transfer).
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

import S3rver from "s3rver";

export const S3RVER_BUCKET = "mking-media";

export interface RunningS3rver {
  /** http://127.0.0.1:<port> */
  readonly endpoint: string;
  /** STORAGE_URL for the bucket, with s3rver's fixed credentials. */
  readonly storageUrl: string;
  /** Drops every open connection to the server (it keeps listening). */
  dropConnections(): void;
  close(): Promise<void>;
}

export async function startS3rver(): Promise<RunningS3rver> {
  const dir = await mkdtemp(path.join(tmpdir(), "mking-s3rver-"));
  const server = new S3rver({
    address: "127.0.0.1",
    port: 0,
    silent: true,
    directory: dir,
    configureBuckets: [{ name: S3RVER_BUCKET }],
  });
  const { port } = await server.run();
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    storageUrl: `s3://S3RVER:S3RVER@${S3RVER_BUCKET}?endpoint=${encodeURIComponent(endpoint)}`,
    dropConnections() {
      // s3rver keeps its node:http server in a field its types do not declare
      (
        server as unknown as { httpServer: { closeAllConnections(): void } }
      ).httpServer.closeAllConnections();
    },
    async close() {
      await server.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
