import os from 'node:os';
import { Piscina } from 'piscina';
import { type EncodedBlob, encodeBlob, isCompressed, ownBuffer } from './blob_codec.js';
import type { CodecTask } from './codec_worker.js';
import type { CompressionMode } from './compression.js';
import type { MasterKey } from './crypto.js';

/** Compresses and encrypts blobs, on worker threads when that pays off. */
export interface BlobEncoder {
  /** Encodes `plain`; the caller must not touch `plain` afterwards (it may be transferred). */
  encode(plain: Uint8Array, mode: CompressionMode | 'none'): Promise<EncodedBlob>;
  /** Tasks accepted but not finished. */
  readonly pending: number;
  close(): Promise<void>;
}

/** Encodes on the calling thread (small jobs, tests, one-core machines). */
export function inlineEncoder(key: MasterKey): BlobEncoder {
  return {
    pending: 0,
    encode: async (plain, mode) => encodeBlob(key, plain, mode),
    close: async () => {},
  };
}

/** Encodes on a pool of worker threads, one per core by default. */
export function poolEncoder(key: MasterKey, threads = os.availableParallelism()): BlobEncoder {
  const self = new URL(import.meta.url);
  const ext = self.pathname.endsWith('.ts') ? '.ts' : '.js';
  const pool = new Piscina<CodecTask, Uint8Array>({
    filename: new URL(`./codec_worker${ext}`, self).href,
    workerData: { encrypt: key.encrypt, macK: key.macK, macR: key.macR },
    minThreads: threads,
    maxThreads: threads,
    idleTimeout: 60_000,
  });
  return {
    get pending() {
      return pool.queueSize + pool.utilization * threads;
    },
    async encode(plain, mode) {
      const owned = ownBuffer(plain);
      const length = owned.byteLength;
      const sealed = await pool.run({ plain: owned, mode }, { transferList: [owned.buffer as ArrayBuffer] });
      return {
        sealed: Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength),
        uncompressedLength: isCompressed(mode, length) ? length : 0,
      };
    },
    close: () => pool.destroy(),
  };
}
