import { createHash } from 'node:crypto';
import type { FileHandle } from 'node:fs/promises';
import type { Id } from '../repo/id.js';
import { Chunker, chunkMaxSize } from './chunker.js';

/** Chunks cut and hashed elsewhere (on a worker thread): see {@link ChunkFinder.chunk}. */
export interface ChunkFound {
  /** The bytes handed over, back again. */
  data: Buffer;
  /** End of each complete chunk in `data`; the bytes after the last one begin the next chunk. */
  ends: number[];
  ids: Id[];
}

/** Cuts bytes that start at a chunk boundary into restic's chunks and hashes them. */
export interface ChunkFinder {
  /**
   * `data` must own its ArrayBuffer's memory from its offset on (it is moved to a thread);
   * with `eof`, the bytes after the last cut form the file's last chunk.
   */
  chunk(data: Uint8Array, eof: boolean, pol: bigint): Promise<ChunkFound>;
}

/** One chunk of a file: a view valid until the next batch is asked for, and its ID. */
export interface FoundChunk {
  bytes: Buffer;
  id: Id;
}

/** Bytes read per task, besides the unfinished chunk carried over from the one before. */
const blockSize = 8 * 1024 * 1024;

/**
 * Splits a file into restic's chunks with the cutting and hashing done by `finder` (on
 * worker threads), so the calling thread only reads and hands bytes over. Yields the chunks
 * of each block in order. The next block is read while the current one is being cut.
 *
 * Every task starts at a chunk boundary: the unfinished chunk at the end of one block (less
 * than chunkMaxSize bytes) is copied in front of the next, into room kept free for it.
 */
export async function* chunkFileOnThreads(
  fh: FileHandle,
  finder: ChunkFinder,
  pol: bigint,
  sizeHint: number,
): AsyncGenerator<FoundChunk[], void, undefined> {
  let position = 0;
  // +1: the read that finds the end of an unchanged file needs no second buffer.
  let expected = sizeHint + 1;
  const readBlock = async (): Promise<{ buf: Buffer; length: number; eof: boolean }> => {
    const want = Math.max(1, Math.min(blockSize, expected - position));
    const buf = Buffer.allocUnsafeSlow(chunkMaxSize + want);
    let length = 0;
    let eof = false;
    while (length < want) {
      const { bytesRead } = await fh.read(buf, chunkMaxSize + length, want - length, position + length);
      if (bytesRead === 0) {
        eof = true;
        break;
      }
      length += bytesRead;
    }
    position += length;
    // A file that grew past the hint is read on in full blocks.
    if (!eof) expected = Math.max(expected, position + blockSize);
    return { buf, length, eof };
  };
  let tail: Buffer = Buffer.alloc(0);
  let next = readBlock();
  for (;;) {
    const block = await next;
    if (!block.eof) {
      next = readBlock();
      // A read-ahead can fail while this block is being cut; the error surfaces at its await.
      next.catch(() => {});
    }
    const start = chunkMaxSize - tail.length;
    tail.copy(block.buf, start);
    const data = new Uint8Array(block.buf.buffer, start, tail.length + block.length);
    const found = await finder.chunk(data, block.eof, pol);
    let from = 0;
    const chunks = found.ends.map((end, i) => {
      const bytes = found.data.subarray(from, end);
      from = end;
      return { bytes, id: found.ids[i] as Id };
    });
    if (chunks.length > 0) yield chunks;
    if (block.eof) return;
    tail = Buffer.from(found.data.subarray(from));
  }
}

/**
 * Cuts `data`, which starts at a chunk boundary, into restic's chunks with a fresh chunker
 * (each chunk starts from a fresh state, so this gives restic's cuts) and hashes each
 * complete one: chunk `i` ends at `ends[i]`, its SHA-256 is `ids[32i, 32i + 32)`. Without
 * `eof`, the bytes after the last cut are left for the next call. Runs on worker threads.
 */
export function cutAndHash(data: Uint8Array, eof: boolean, pol: bigint): { ends: number[]; ids: Uint8Array } {
  const chunker = new Chunker(pol);
  const ends: number[] = [];
  for (let cut = chunker.next(data, 0, data.length); cut >= 0; cut = chunker.next(data, cut, data.length)) {
    ends.push(cut);
  }
  const last = ends[ends.length - 1] ?? 0;
  if (eof && last < data.length) ends.push(data.length);
  const ids = new Uint8Array(32 * ends.length);
  let start = 0;
  ends.forEach((end, i) => {
    ids.set(createHash('sha256').update(data.subarray(start, end)).digest(), 32 * i);
    start = end;
  });
  return { ends, ids };
}
