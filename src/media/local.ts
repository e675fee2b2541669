/**
 * The local storage driver: one file per key under a folder (DATA_DIR/media), its content type
 * in a `<file>.type` file beside it. Writes go to a temporary file first, then take its place,
 * so a reader never sees half a file.
 */
import { randomUUID } from "node:crypto";
import { createWriteStream } from "node:fs";
import {
  link,
  mkdir,
  open,
  readFile,
  readdir,
  rm,
  stat,
  writeFile,
  rename,
} from "node:fs/promises";
import path from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";

import { assertValidKey, type MediaStorage } from "./storage.ts";

const TYPE_SUFFIX = ".type";
const TEMP_PREFIX = ".tmp-";

/** Thrown by `putNew` when the body is longer than allowed. */
export class TooLargeError extends Error {}
/** Thrown by `putNew` when the key already holds a file. */
export class AlreadyExistsError extends Error {}

export class LocalStorage implements MediaStorage {
  readonly dir: string;
  constructor(dir: string) {
    this.dir = path.resolve(dir);
  }

  /** The file of a key (for serving it with range requests). */
  pathOf(key: string): string {
    assertValidKey(key);
    return path.join(this.dir, ...key.split("/"));
  }

  async put(key: string, body: Buffer | NodeJS.ReadableStream, contentType: string): Promise<void> {
    const temp = await this.writeTemp(key, body, Number.POSITIVE_INFINITY);
    await writeFile(this.pathOf(key) + TYPE_SUFFIX, contentType);
    await rename(temp, this.pathOf(key));
  }

  /**
   * The first write of a key (the client's PUT of an original): refuses a body longer than
   * `maxBytes` (TooLargeError) and a key that already holds a file (AlreadyExistsError), so
   * a processed file is never replaced by a second PUT.
   */
  async putNew(
    key: string,
    body: NodeJS.ReadableStream,
    contentType: string,
    maxBytes: number,
  ): Promise<number> {
    const temp = await this.writeTemp(key, body, maxBytes);
    try {
      const { size } = await stat(temp);
      await writeFile(this.pathOf(key) + TYPE_SUFFIX, contentType, { flag: "wx" }).catch(
        (error: NodeJS.ErrnoException) => {
          throw error.code === "EEXIST" ? new AlreadyExistsError(key) : error;
        },
      );
      await link(temp, this.pathOf(key)).catch((error: NodeJS.ErrnoException) => {
        throw error.code === "EEXIST" ? new AlreadyExistsError(key) : error;
      });
      return size;
    } finally {
      await rm(temp, { force: true });
    }
  }

  async get(key: string): Promise<NodeJS.ReadableStream | null> {
    const file = this.pathOf(key);
    const handle = await open(file, "r").catch(notFoundAsNull);
    if (!handle) return null;
    return handle.createReadStream();
  }

  async readBytes(key: string, maxBytes: number): Promise<Buffer | null> {
    const handle = await open(this.pathOf(key), "r").catch(notFoundAsNull);
    if (!handle) return null;
    try {
      const { size } = await handle.stat();
      const buffer = Buffer.alloc(Math.min(size, maxBytes));
      let offset = 0;
      while (offset < buffer.length) {
        const { bytesRead } = await handle.read(buffer, offset, buffer.length - offset, offset);
        if (bytesRead === 0) break;
        offset += bytesRead;
      }
      return buffer.subarray(0, offset);
    } finally {
      await handle.close();
    }
  }

  async head(key: string): Promise<{ bytes: number; contentType: string | null } | null> {
    const file = this.pathOf(key);
    const info = await stat(file).catch(notFoundAsNull);
    if (!info?.isFile()) return null;
    const contentType = await readFile(file + TYPE_SUFFIX, "utf8").catch(() => null);
    return { bytes: info.size, contentType };
  }

  async delete(key: string): Promise<void> {
    const file = this.pathOf(key);
    await rm(file, { force: true });
    await rm(file + TYPE_SUFFIX, { force: true });
  }

  async list(prefix: string): Promise<string[]> {
    const keys: string[] = [];
    const walk = async (dir: string, rel: string): Promise<void> => {
      const entries = await readdir(dir, { withFileTypes: true }).catch(notFoundAsNull);
      for (const entry of entries ?? []) {
        const key = rel === "" ? entry.name : `${rel}/${entry.name}`;
        if (entry.isDirectory()) await walk(path.join(dir, entry.name), key);
        else if (!entry.name.endsWith(TYPE_SUFFIX) && !entry.name.startsWith(TEMP_PREFIX)) {
          if (key.startsWith(prefix)) keys.push(key);
        }
      }
    };
    await walk(this.dir, "");
    return keys.sort();
  }

  private async writeTemp(
    key: string,
    body: Buffer | NodeJS.ReadableStream,
    maxBytes: number,
  ): Promise<string> {
    const file = this.pathOf(key);
    await mkdir(path.dirname(file), { recursive: true });
    const temp = path.join(path.dirname(file), `${TEMP_PREFIX}${randomUUID()}`);
    let written = 0;
    const limit = new Transform({
      transform(chunk: Buffer, _encoding, done) {
        written += chunk.length;
        done(written > maxBytes ? new TooLargeError(key) : null, chunk);
      },
    });
    const source = Buffer.isBuffer(body) ? Readable.from([body]) : body;
    try {
      await pipeline(source, limit, createWriteStream(temp, { flags: "wx" }));
    } catch (error) {
      await rm(temp, { force: true });
      throw error;
    }
    return temp;
  }
}

function notFoundAsNull(error: NodeJS.ErrnoException): null {
  if (error.code === "ENOENT" || error.code === "ENOTDIR") return null;
  throw error;
}
