import { type CompressionMode, compressToScratch } from './compression.js';
import { type MasterKey, sealInto, sealOverhead } from './crypto.js';
import { hashId, type Id } from './id.js';

/** A blob ready to be packed: its sealed bytes, and its plaintext length when compressed. */
export interface EncodedBlob {
  sealed: Buffer;
  /** Plaintext length when the blob was compressed; 0 when stored as is. */
  uncompressedLength: number;
}

/**
 * Compresses (in a v2 repository, unless compression is off) and encrypts one blob into the
 * buffer `room` returns for the sealed length (a new one by default). An empty blob is never
 * marked compressed: restic reads `uncompressed_length` 0 as "stored as is".
 */
export function encodeBlob(
  key: MasterKey,
  plain: Uint8Array,
  mode: CompressionMode | 'none',
  room: (sealedLength: number) => Buffer = (n) => Buffer.allocUnsafe(n),
): EncodedBlob {
  const compressed = isCompressed(mode, plain.length);
  // Compressed into this thread's scratch space and sealed from there: one allocation per blob
  // (`room`, which a worker makes the buffer it sends back), not three.
  const body = compressed ? compressToScratch(plain, mode as CompressionMode) : plain;
  const sealed = room(body.length + sealOverhead);
  sealInto(key, body, sealed);
  return { sealed, uncompressedLength: compressed ? plain.length : 0 };
}

/** Whether a blob of this length is stored compressed under `mode`. */
export function isCompressed(mode: CompressionMode | 'none', length: number): boolean {
  return mode !== 'none' && mode !== 'off' && length > 0;
}

/**
 * How to send `b` to a worker thread: a view of shared memory as it is (the worker sees the
 * same bytes), anything else as a view that owns its whole ArrayBuffer, moved rather than copied.
 */
export function forThread(b: Uint8Array): { view: Uint8Array; transfer: ArrayBuffer[] } {
  if (b.buffer instanceof SharedArrayBuffer) return { view: b, transfer: [] };
  const view = ownBuffer(b);
  return { view, transfer: [view.buffer as ArrayBuffer] };
}

/** A view that owns its whole ArrayBuffer, so it can be transferred to another thread (small Buffers share Node's pool, which cannot). */
export function ownBuffer(b: Uint8Array): Uint8Array {
  return b.byteOffset === 0 &&
    b.byteLength === b.buffer.byteLength &&
    !(b.buffer instanceof SharedArrayBuffer)
    ? b
    : new Uint8Array(b);
}

/** Encoding modes as they travel in a batch to a worker thread (one byte each). */
export const modeCodes: readonly (CompressionMode | 'none')[] = ['none', 'off', 'auto', 'max'];

/**
 * Work for an encoding thread: one blob, or many small blobs packed into one buffer so a
 * thread round trip is paid once per batch (`count × (u32 length, u8 mode)`, then the blobs).
 */
export type CodecTask =
  | { plain: Uint8Array; mode: CompressionMode | 'none'; hash?: boolean }
  | { hashOnly: Uint8Array }
  | { batch: Uint8Array; count: number };

/** A blob encoded by a thread that also computed its ID (the SHA-256 of the plaintext). */
export interface HashedBlob {
  id: Id;
  blob: EncodedBlob;
}

/** Compresses and encrypts blobs, on worker threads when that pays off. */
export interface BlobEncoder {
  /** True when encoding runs on other threads, so hashing there too relieves the caller's. */
  readonly offThread: boolean;
  /** Encodes `plain`; the caller must not touch `plain` afterwards (it may be transferred). */
  encode(plain: Uint8Array, mode: CompressionMode | 'none'): Promise<EncodedBlob>;
  /** Computes the ID of `plain` and encodes it, in one trip to a thread. Same ownership rule. */
  encodeHashed(plain: Uint8Array, mode: CompressionMode | 'none'): Promise<HashedBlob>;
  /** Computes the ID of `plain` (on another thread when encoding runs there). Same ownership rule. */
  hash(plain: Uint8Array): Promise<Id>;
  /** Sends blobs waiting to be batched now; call before waiting for results. */
  flush(): void;
  close(): Promise<void>;
}

/** Encodes on the calling thread (small jobs, tests, one-core machines). */
export function inlineEncoder(key: MasterKey): BlobEncoder {
  return {
    offThread: false,
    encode: async (plain, mode) => encodeBlob(key, plain, mode),
    encodeHashed: async (plain, mode) => ({ id: hashId(plain), blob: encodeBlob(key, plain, mode) }),
    hash: async (plain) => hashId(plain),
    flush: () => {},
    close: async () => {},
  };
}
