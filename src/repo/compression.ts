import { Decompressor } from 'zstd-napi';
import type * as Zstd from 'zstd-napi/binding.js';
import zstdBinding from 'zstd-napi/binding.js';
import { ArcaError } from '../errors.js';

// The native binding is CommonJS whose exports only exist at run time: no named imports.
const zstd = zstdBinding as unknown as typeof Zstd;

/** Compression levels, named as restic's `--compression` names them. */
export type CompressionMode = 'auto' | 'off' | 'max';

// Contexts and scratch space are per thread (module state is per worker): a backup compresses
// every chunk here, and a fresh output buffer per chunk was garbage that the threads' heaps
// collected late, so their memory grew by tens of megabytes each.
let contexts: Partial<Record<CompressionMode, Zstd.CCtx>> = {};
let scratch = Buffer.alloc(0);
let decompressor: Decompressor | undefined;
let dctx: Zstd.DCtx | undefined;

function context(mode: CompressionMode): Zstd.CCtx {
  let c = contexts[mode];
  if (!c) {
    c = new zstd.CCtx();
    // restic: level 3 for `auto`, 19 for `max`; no content checksum (the blob's SHA-256 and MAC
    // already cover it); the content size in the frame header.
    c.setParameter(zstd.CParameter.compressionLevel, mode === 'max' ? 19 : 3);
    c.setParameter(zstd.CParameter.checksumFlag, 0);
    c.setParameter(zstd.CParameter.contentSizeFlag, 1);
    contexts = { ...contexts, [mode]: c };
  }
  return c;
}

/**
 * zstd-compresses `data` as one frame into this thread's scratch buffer. The result is valid
 * only until the next call on this thread: seal or copy it before compressing anything else.
 */
export function compressToScratch(data: Uint8Array, mode: CompressionMode = 'auto'): Buffer {
  const bound = zstd.compressBound(data.length);
  // Grown in whole mebibytes: chunks vary in size, and the largest one sets the size for good.
  if (scratch.length < bound) scratch = Buffer.allocUnsafeSlow(Math.ceil(bound / 2 ** 20) * 2 ** 20);
  return scratch.subarray(0, context(mode).compress2(scratch, data));
}

/** zstd-compresses `data` as one frame into a buffer of its own. */
export function compress(data: Uint8Array, mode: CompressionMode = 'auto'): Buffer {
  return Buffer.from(compressToScratch(data, mode));
}

function corrupt(what: string, err: unknown): ArcaError {
  return new ArcaError('corrupt', `${what}: zstd decompression failed (${(err as Error).message})`, {
    cause: err,
  });
}

/** Decompresses one or more zstd frames of unknown total size into a new buffer. */
export function decompress(data: Uint8Array, what: string): Buffer {
  try {
    // One context per thread, reused: zstd-napi's decompress() resets its parameters on every call,
    // which cost more than decompressing a small blob.
    decompressor ??= new Decompressor();
    return decompressor.decompress(data);
  } catch (err) {
    throw corrupt(what, err);
  }
}

/**
 * Decompresses one or more zstd frames that must come to exactly `into.length` bytes (the
 * length the index records), writing them into `into`. Any other length means corrupt data.
 */
export function decompressInto(data: Uint8Array, what: string, into: Uint8Array): void {
  let n: number;
  try {
    dctx ??= new zstd.DCtx();
    n = dctx.decompress(into, data);
  } catch (err) {
    // zstd reports output that would not fit as an error of its own.
    if (/too small/i.test((err as Error).message)) {
      throw new ArcaError('corrupt', `${what}: decompresses to more than the ${into.length} bytes expected`);
    }
    throw corrupt(what, err);
  }
  if (n !== into.length) {
    throw new ArcaError('corrupt', `${what}: decompressed to ${n} bytes, expected ${into.length}`);
  }
}
