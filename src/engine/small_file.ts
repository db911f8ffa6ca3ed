import { constants as C, closeSync, fstatSync, openSync, readSync } from 'node:fs';
import { type EncodedBlob, encodeBlob } from '../repo/blob_codec.js';
import type { CompressionMode } from '../repo/compression.js';
import type { MasterKey } from '../repo/crypto.js';
import { hashId, type Id } from '../repo/id.js';
import { chunkMinSize } from './chunker.js';

/** What the archiver knows of a file before it is read (from `lstat`). */
export interface FileExpectation {
  ino: bigint;
  dev: bigint;
  size: bigint;
  mtimeNs: bigint;
}

/** A small file read whole, hashed and (unless already stored) encoded as one blob. */
export type SmallFileResult =
  | {
      kind: 'ok';
      /** The blob ID; undefined for an empty file. */
      id: Id | undefined;
      size: number;
      /** The encoded blob; undefined for an empty file or when the blob is already stored. */
      blob: EncodedBlob | undefined;
      /** True when size or mtime changed between lstat and the read. */
      changed: boolean;
    }
  /** The file is now a chunk or more: it must be streamed through the chunker. */
  | { kind: 'grew' }
  | { kind: 'failed'; message: string };

/** Reads, hashes and encodes small files: on the calling thread, or on worker threads. */
export interface SmallFileReader {
  /** `known` says whether a blob ID is already stored (then it is not encoded, where the reader can tell). */
  read(
    path: Buffer,
    expect: FileExpectation,
    mode: CompressionMode | 'none',
    known: (id: Id) => boolean,
  ): Promise<SmallFileResult>;
  /** Waits until a file of `size` bytes may be handed over (bounds what is in flight). */
  room(size: number): Promise<void>;
  /** Sends files waiting to be batched now; call before waiting for results. */
  flush(): void;
}

/** Small files are read into this (per thread): the bytes are hashed and sealed elsewhere before the next read. */
let readScratch = Buffer.alloc(0);

/**
 * Reads a file smaller than one chunk in one go with synchronous calls (for many small
 * files, promise and thread-pool round trips would cost more than the reads). The file must
 * still be the one `lstat` saw (same inode and device). The data lies in this thread's read
 * buffer: it is valid only until the next call.
 */
export function readSmallFile(
  path: Buffer,
  expect: FileExpectation,
): { kind: 'read'; data: Buffer; changed: boolean } | { kind: 'grew' } | { kind: 'failed'; message: string } {
  let fd: number;
  try {
    fd = openNoAtimeSync(path);
  } catch (err) {
    return { kind: 'failed', message: `cannot read: ${errnoText(err)}` };
  }
  try {
    const now = fstatSync(fd, { bigint: true });
    if (now.ino !== expect.ino || now.dev !== expect.dev) {
      return { kind: 'failed', message: 'file was replaced while it was being read' };
    }
    if (now.size >= BigInt(chunkMinSize)) return { kind: 'grew' };
    const size = Number(now.size);
    // +1: the read that must see EOF goes into the same buffer.
    if (readScratch.length < size + 1) readScratch = Buffer.allocUnsafeSlow(chunkMinSize + 1);
    const buf = readScratch.subarray(0, size);
    let got = 0;
    while (got < size) {
      const n = readSync(fd, buf, got, size - got, got);
      if (n === 0) break;
      got += n;
    }
    if (readSync(fd, readScratch, got, 1, got) > 0) return { kind: 'grew' };
    const changed = BigInt(got) !== expect.size || now.mtimeNs !== expect.mtimeNs;
    return { kind: 'read', data: got === size ? buf : buf.subarray(0, got), changed };
  } catch (err) {
    return { kind: 'failed', message: `cannot read: ${errnoText(err)}` };
  } finally {
    closeSync(fd);
  }
}

/**
 * Reads, hashes and, unless `known`, encodes one small file (sealed into `room`, when given):
 * the whole job of a worker, or of the inline reader.
 */
export function processSmallFile(
  key: MasterKey,
  path: Buffer,
  expect: FileExpectation,
  mode: CompressionMode | 'none',
  known: (id: Id) => boolean,
  room?: (sealedLength: number) => Buffer,
): SmallFileResult {
  const r = readSmallFile(path, expect);
  if (r.kind !== 'read') return r;
  const { data, changed } = r;
  if (data.length === 0) return { kind: 'ok', id: undefined, size: 0, blob: undefined, changed };
  const id = hashId(data);
  return {
    kind: 'ok',
    id,
    size: data.length,
    blob: known(id) ? undefined : encodeBlob(key, data, mode, room),
    changed,
  };
}

/** A reader that does all the work on the calling thread. */
export function inlineSmallFileReader(key: MasterKey): SmallFileReader {
  return {
    read: async (path, expect, mode, known) => processSmallFile(key, path, expect, mode, known),
    room: async () => {},
    flush: () => {},
  };
}

/** Opens a file for reading without updating its access time where the kernel allows it (only the owner or root may). */
export function openNoAtimeSync(p: Buffer): number {
  try {
    return openSync(p, C.O_RDONLY | C.O_NOFOLLOW | C.O_NOATIME);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EPERM') throw err;
    return openSync(p, C.O_RDONLY | C.O_NOFOLLOW);
  }
}

function errnoText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e?.code ?? e?.message ?? String(err);
}
