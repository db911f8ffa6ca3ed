import { Compressor, Decompressor } from 'zstd-napi';
import { ArcaError } from '../errors.js';

/** Compression levels, named as restic's `--compression` names them. */
export type CompressionMode = 'auto' | 'off' | 'max';

let compressors: Partial<Record<CompressionMode, Compressor>> = {};
let decompressor: Decompressor | undefined;

/** zstd-compresses `data` as one frame (restic: level 3 for `auto`, 19 for `max`). */
export function compress(data: Uint8Array, mode: CompressionMode = 'auto'): Buffer {
  let c = compressors[mode];
  if (!c) {
    c = new Compressor();
    // restic disables the content checksum: the blob's SHA-256 and MAC already cover it.
    c.setParameters({
      compressionLevel: mode === 'max' ? 19 : 3,
      checksumFlag: false,
      contentSizeFlag: true,
    });
    compressors = { ...compressors, [mode]: c };
  }
  return c.compress(data);
}

/**
 * Decompresses one or more zstd frames. When `expectedSize` is given the result must
 * have exactly that size (a mismatch means the data is corrupt).
 */
export function decompress(data: Uint8Array, what: string, expectedSize?: number): Buffer {
  let out: Buffer;
  try {
    // One context per thread, reused: zstd-napi's decompress() resets its parameters on every call,
    // which cost more than decompressing a small blob.
    decompressor ??= new Decompressor();
    out = decompressor.decompress(data);
  } catch (err) {
    throw new ArcaError('corrupt', `${what}: zstd decompression failed (${(err as Error).message})`, {
      cause: err,
    });
  }
  if (expectedSize !== undefined && out.length !== expectedSize) {
    throw new ArcaError('corrupt', `${what}: decompressed to ${out.length} bytes, expected ${expectedSize}`);
  }
  return out;
}
