import type { FileHandle } from 'node:fs/promises';
import { ArcaError } from '../errors.js';
import { rabinScan } from '../fs/native.js';
import { degree, formatPolynomial, mod } from '../repo/polynomial.js';
import { type SlabPool, slabSize } from './slabs.js';

/**
 * restic's content-defined chunker (`restic/chunker` with the defaults restic uses):
 * a Rabin fingerprint over a sliding 64-byte window, cut where its low 20 bits are zero, with
 * chunks between 512 KiB and 8 MiB. Boundaries must be bit-exact, or nothing deduplicates
 * against data restic wrote.
 *
 * The hot loop (`rabinScan`, native/rabin.c) runs in the C addon: one fingerprint step is a chain
 * of dependent operations, and C can scan several neighbouring blocks at once where JavaScript
 * cannot keep the 64-bit state in registers. This file keeps the streaming logic around it.
 *
 * restic starts every chunk with the byte 1 slid into an all-zero window and does not hash the
 * first MinSize - 64 bytes. The fingerprint is linear over GF(2) and the window slides that 1
 * out exactly at the first position where a cut is allowed, so from there on restic's digest is
 * the plain fingerprint of the last 64 bytes, which is what the scan computes at every position
 * where it looks.
 */

/** Smallest chunk restic cuts (only the last chunk of a file may be shorter). */
export const chunkMinSize = 512 * 1024;
/** Largest chunk restic cuts: at this length it cuts whatever the fingerprint says. */
export const chunkMaxSize = 8 * 1024 * 1024;

const windowSize = 64;
/** The first chunkMinSize - 64 bytes of a chunk are never hashed; they can't end it anyway. */
const hashFrom = chunkMinSize - windowSize;
/**
 * Big reads keep syscalls and per-call overhead negligible next to the hashing; 2 MiB (not 4)
 * keeps a buffer, and a read slab, at 10 MiB.
 */
const defaultReadSize = 2 * 1024 * 1024;
/** Where an input of unknown length starts; the buffer doubles from here up to its full size. */
const initialStreamBuffer = 64 * 1024;

/** A polynomial's tables as the native scan takes them: out[256] then mod[256], and the shift. */
interface _Tables {
  /** out[b] = b·x^(8·63) mod pol (XOR it in to slide byte b out of the window), then
   * mod[t] = (t·x^k mod pol) | t·x^k (one XOR reduces the 8 bits above the degree k). */
  tables: BigUint64Array;
  /** k - 8: digest >> shift is the index into mod. */
  shift: number;
}

const _tableCache = new Map<bigint, _Tables>();

function _tables(pol: bigint): _Tables {
  const cached = _tableCache.get(pol);
  if (cached) return cached;
  const k = degree(pol);
  // The digest shifted left by 8 must fit in 64 bits; restic itself refuses degrees above 53.
  if (k < 40 || k > 53) {
    throw new ArcaError(
      'unsupported',
      `chunker polynomial ${formatPolynomial(pol)} has degree ${k}, not 40..53`,
    );
  }
  const t: _Tables = { tables: new BigUint64Array(512), shift: k - 8 };
  // Both tables are linear in b (reduction mod pol distributes over XOR), so eight BigInt
  // reductions per table, one per bit, give all 256 entries: BigInt division 512 times cost
  // ~0.1 s at the start of every backup.
  for (let bit = 0; bit < 8; bit++) {
    const b = 1 << bit;
    const top = BigInt(b) << BigInt(k);
    t.tables[b] = mod(BigInt(b) << BigInt(8 * (windowSize - 1)), pol);
    t.tables[256 + b] = mod(top, pol) | top;
  }
  for (let b = 3; b < 256; b++) {
    const low = b & -b;
    if (low === b) continue;
    t.tables[b] = t.tables[low]! ^ t.tables[b ^ low]!;
    t.tables[256 + b] = t.tables[256 + low]! ^ t.tables[256 + (b ^ low)]!;
  }
  _tableCache.set(pol, t);
  return t;
}

/**
 * Streaming restic chunker: feed it consecutive pieces of one input and it reports where chunks
 * end. A chunk may span any number of pieces; the chunker keeps the 64 bytes it needs from
 * earlier pieces itself, so a piece may be discarded or reused once `next` has returned -1 for it.
 *
 * @example
 * const c = new Chunker(pol);
 * for (let cut = c.next(buf); cut >= 0; cut = c.next(buf, cut)) chunkEnds.push(cut);
 */
export class Chunker {
  readonly #t: _Tables;
  /** Bytes of the current chunk consumed so far. */
  #count = 0;
  /** [0, 64): the last 64 input bytes before the current piece; [64, 128): its first 64 bytes. */
  readonly #window = Buffer.alloc(2 * windowSize);
  /** Where the native scan leaves the fingerprint of a cut. */
  readonly #cut = new BigUint64Array(1);

  /** A chunker for `pol` (the repository's `chunker_polynomial`); tables are cached per polynomial. */
  constructor(pol: bigint) {
    this.#t = _tables(pol);
  }

  /** Forgets the current chunk: the next byte fed starts a new one (as at the start of every file). */
  reset(): void {
    this.#count = 0;
  }

  /** Fingerprint of the window at the most recent cut, as restic's `Chunk.Cut`. */
  get cutFingerprint(): bigint {
    return this.#cut[0]!;
  }

  /**
   * Consumes `buf[start, end)` and returns the index just after the first cut in it, or -1 if the
   * current chunk goes on past `end`. After a cut the chunker has started the next chunk: call
   * again from the returned index with the rest of the piece.
   */
  next(buf: Uint8Array, start = 0, end: number = buf.length): number {
    let i = start;
    let windowStart = start;
    if (this.#count < hashFrom) {
      const skip = Math.min(hashFrom - this.#count, end - i);
      this.#count += skip;
      i += skip;
      if (this.#count < hashFrom) return -1;
      this.#window.fill(0, 0, windowSize);
      windowStart = i;
    }
    const stop = Math.min(end, i + chunkMaxSize - this.#count);
    // Cuts are allowed from the byte that makes the chunk chunkMinSize long.
    const eligible = i + chunkMinSize - 1 - this.#count;
    let cut = -1;
    let at = i;

    // The first 64 bytes after windowStart slide out bytes from before it, so scan them in the
    // scratch copy, which has the saved window right in front of them.
    const headEnd = Math.min(stop, windowStart + windowSize);
    if (at < headEnd) {
      const w = this.#window;
      const delta = windowSize - windowStart;
      w.set(buf.subarray(windowStart, Math.min(end, windowStart + windowSize)), windowSize);
      const c = this.#scan(w, at + delta, headEnd + delta, eligible + delta);
      cut = c < 0 ? -1 : c - delta;
      at = headEnd;
    }
    if (cut < 0 && at < stop) cut = this.#scan(buf, at, stop, eligible);

    if (cut < 0 && this.#count + (stop - i) === chunkMaxSize) cut = stop;
    if (cut >= 0) {
      this.reset();
      return cut;
    }
    this.#count += end - i;
    this.#keepWindow(buf, windowStart, end);
    return -1;
  }

  /** Saves the last 64 input bytes before `end` for the next piece. */
  #keepWindow(buf: Uint8Array, windowStart: number, end: number): void {
    const n = end - windowStart;
    if (n >= windowSize) this.#window.set(buf.subarray(end - windowSize, end));
    // A short piece: the scratch already holds the old window followed by all of it.
    else this.#window.copyWithin(0, n, n + windowSize);
  }

  /**
   * Hashes buf[from, to), each byte sliding out buf[i - 64]. Returns the index after the first
   * position >= `eligible` whose fingerprint matches the split mask, or -1.
   */
  #scan(buf: Uint8Array, from: number, to: number, eligible: number): number {
    return rabinScan(buf, from, to, eligible, this.#t.tables, this.#t.shift, this.#cut);
  }
}

/** What {@link chunkFile} reads: an open file (from its current position) or a stream of pieces. */
export type ChunkSource = FileHandle | AsyncIterable<Uint8Array>;

/** Tuning for {@link chunkFile}. */
export interface ChunkFileOptions {
  /** Bytes asked for per read (default 4 MiB); the buffer grows to at most chunkMaxSize + readSize (or one slab). */
  readSize?: number;
  /**
   * Read into slabs of this pool (shared memory a worker thread can read without a copy).
   * Then a buffer is never reused in place: when it is full the unfinished chunk moves to a new
   * slab and the generator drops its reference to the old one, so a chunk stays valid for as
   * long as the caller holds a reference ({@link SlabPool.retain}) to its slab.
   */
  slabs?: SlabPool;
}

interface _Reader {
  /** Fills buf[offset, offset + length) partly or fully; 0 means end of input. */
  read(buf: Buffer, offset: number, length: number): Promise<number>;
  close(): Promise<void>;
}

function _isFileHandle(source: ChunkSource): source is FileHandle {
  return typeof (source as FileHandle).fd === 'number' && typeof (source as FileHandle).read === 'function';
}

function _fileReader(fh: FileHandle): _Reader {
  return {
    read: async (buf, offset, length) => (await fh.read(buf, offset, length, null)).bytesRead,
    // The caller opened the file and closes it.
    close: async () => {},
  };
}

function _streamReader(source: AsyncIterable<Uint8Array>): _Reader {
  const it = source[Symbol.asyncIterator]();
  let piece: Uint8Array = new Uint8Array(0);
  let pos = 0;
  let done = false;
  return {
    async read(buf, offset, length) {
      while (pos === piece.length) {
        if (done) return 0;
        const r = await it.next();
        if (r.done) {
          done = true;
          return 0;
        }
        piece = r.value;
        pos = 0;
      }
      const n = Math.min(length, piece.length - pos);
      buf.set(piece.subarray(pos, pos + n), offset);
      pos += n;
      return n;
    },
    // Stops the source when the consumer stops early (e.g. closes a read stream).
    async close() {
      if (!done) await it.return?.();
    },
  };
}

/**
 * Splits an input into restic's chunks, yielding each as one Buffer.
 *
 * Ownership: a yielded Buffer is a view into the generator's own buffer and is valid only until
 * the next chunk is requested; hash, compress or encrypt it before that, or copy it (e.g.
 * `new Uint8Array(chunk)`, which also gives it an ArrayBuffer of its own to transfer to a worker).
 * With `options.slabs` it stays valid while the caller holds a reference to its slab.
 * Memory is bounded by one buffer of at most chunkMaxSize + readSize bytes (one slab with slabs); a chunk is never
 * copied except that, when the buffer is full, the unfinished chunk moves to its front. The next
 * read is already in flight while the caller works on a chunk.
 *
 * @example
 * const fh = await open(path);
 * try {
 *   for await (const chunk of chunkFile(fh, pol)) ids.push(hashId(chunk));
 * } finally {
 *   await fh.close();
 * }
 */
export async function* chunkFile(
  source: ChunkSource,
  pol: bigint,
  options: ChunkFileOptions = {},
): AsyncGenerator<Buffer, void, undefined> {
  const chunker = new Chunker(pol);
  const readSize = options.readSize ?? defaultReadSize;
  // A zero-length read would look like the end of the input.
  if (!Number.isSafeInteger(readSize) || readSize < 1) throw new RangeError(`invalid readSize ${readSize}`);
  const slabs = options.slabs;
  // In slabs a full buffer is a whole slab (never moved within, so no need to leave room).
  const fullSize = Math.max(chunkMaxSize + readSize, slabs ? slabSize : 0);
  let reader: _Reader;
  let size: number;
  if (_isFileHandle(source)) {
    reader = _fileReader(source);
    // A small file gets a small buffer (+1 so the read that sees EOF needs no growth); most files
    // in a backup are small, and a full-size buffer for each would churn memory.
    const st = await source.stat();
    size = Math.min(fullSize, st.isFile() ? st.size + 1 : fullSize);
  } else {
    reader = _streamReader(source);
    size = initialStreamBuffer;
  }
  const allocate = (n: number): Buffer =>
    slabs ? slabs.acquire(n).buf.subarray(0, n) : Buffer.allocUnsafeSlow(n);
  let buf = allocate(size);
  let begin = 0;
  let fill = 0;
  const readNext = () => {
    const p = reader.read(buf, fill, Math.min(readSize, buf.length - fill));
    // A read-ahead can fail while the caller is busy with a chunk; without a handler attached now
    // Node would treat that as an unhandled rejection. The error still surfaces at the await.
    p.catch(() => {});
    return p;
  };
  /** The read into buf[fill, ...), if one is in flight; it never touches bytes already yielded. */
  let reading: Promise<number> | undefined;
  try {
    for (;;) {
      if (reading === undefined) {
        if (fill === buf.length) {
          // The unfinished chunk is shorter than chunkMaxSize, so at full size moving it to the
          // front frees at least readSize bytes; below full size the buffer doubles instead.
          if (buf.length < fullSize || slabs) {
            const next = allocate(Math.min(fullSize, 2 * buf.length));
            buf.copy(next, 0, begin, fill);
            slabs?.release(buf);
            buf = next;
          } else {
            buf.copyWithin(0, begin, fill);
          }
          fill -= begin;
          begin = 0;
        }
        reading = readNext();
      }
      const n = await reading;
      reading = undefined;
      if (n === 0) break;
      const from = fill;
      fill += n;
      // Read on while these bytes are chunked and the caller processes the chunks.
      if (fill < buf.length) reading = readNext();
      for (let cut = chunker.next(buf, from, fill); cut >= 0; cut = chunker.next(buf, cut, fill)) {
        yield buf.subarray(begin, cut);
        begin = cut;
      }
    }
    if (fill > begin) yield buf.subarray(begin, fill);
  } finally {
    // When the caller stops early, let the read-ahead finish: the caller may close the file next.
    await reading?.catch(() => {});
    slabs?.release(buf);
    await reader.close();
  }
}
