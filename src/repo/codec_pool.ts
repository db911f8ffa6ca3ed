import os from 'node:os';
import { Piscina } from 'piscina';
import {
  type CodecTask,
  type EncodedBlob,
  encodeBlob,
  isCompressed,
  modeCodes,
  ownBuffer,
} from './blob_codec.js';
import type { CompressionMode } from './compression.js';
import type { MasterKey } from './crypto.js';

/** Compresses and encrypts blobs, on worker threads when that pays off. */
export interface BlobEncoder {
  /** Encodes `plain`; the caller must not touch `plain` afterwards (it may be transferred). */
  encode(plain: Uint8Array, mode: CompressionMode | 'none'): Promise<EncodedBlob>;
  /** Sends blobs waiting to be batched now; call before waiting for results. */
  flush(): void;
  close(): Promise<void>;
}

/** Encodes on the calling thread (small jobs, tests, one-core machines). */
export function inlineEncoder(key: MasterKey): BlobEncoder {
  return {
    encode: async (plain, mode) => encodeBlob(key, plain, mode),
    flush: () => {},
    close: async () => {},
  };
}

// Blobs at least this big travel alone (moved, not copied); smaller ones are batched, since
// a worker round trip costs as much as compressing a few kilobytes.
const aloneFrom = 128 * 1024;
const batchBytes = 1024 * 1024;
const batchItems = 256;
// A partly filled batch is sent after this long, so workers never wait on a quiet producer.
const batchDelayMs = 25;

interface Waiting {
  plain: Uint8Array;
  mode: CompressionMode | 'none';
  resolve: (b: EncodedBlob) => void;
  reject: (e: unknown) => void;
}

/** Encodes on a pool of worker threads, one per core by default, batching small blobs. */
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
  let waiting: Waiting[] = [];
  let waitingBytes = 0;
  let timer: NodeJS.Timeout | undefined;

  const sendBatch = (): void => {
    if (timer) clearTimeout(timer);
    timer = undefined;
    if (waiting.length === 0) return;
    const items = waiting;
    waiting = [];
    waitingBytes = 0;
    const header = items.length * 5;
    const buf = Buffer.allocUnsafeSlow(header + items.reduce((a, w) => a + w.plain.byteLength, 0));
    let at = header;
    items.forEach((w, i) => {
      buf.writeUInt32LE(w.plain.byteLength, i * 5);
      buf[i * 5 + 4] = modeCodes.indexOf(w.mode);
      buf.set(w.plain, at);
      at += w.plain.byteLength;
    });
    const batch = new Uint8Array(buf.buffer, 0, buf.length);
    pool.run({ batch, count: items.length }, { transferList: [batch.buffer as ArrayBuffer] }).then(
      (res) => {
        const out = Buffer.from(res.buffer, res.byteOffset, res.byteLength);
        let p = items.length * 4;
        items.forEach((w, i) => {
          const len = out.readUInt32LE(i * 4);
          w.resolve({
            sealed: out.subarray(p, p + len),
            uncompressedLength: isCompressed(w.mode, w.plain.byteLength) ? w.plain.byteLength : 0,
          });
          p += len;
        });
      },
      (err: unknown) => {
        for (const w of items) w.reject(err);
      },
    );
  };

  return {
    encode(plain, mode) {
      if (plain.byteLength >= aloneFrom) {
        const owned = ownBuffer(plain);
        const length = owned.byteLength;
        return pool
          .run({ plain: owned, mode }, { transferList: [owned.buffer as ArrayBuffer] })
          .then((sealed) => ({
            sealed: Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength),
            uncompressedLength: isCompressed(mode, length) ? length : 0,
          }));
      }
      return new Promise<EncodedBlob>((resolve, reject) => {
        waiting.push({ plain, mode, resolve, reject });
        waitingBytes += plain.byteLength;
        if (waitingBytes >= batchBytes || waiting.length >= batchItems) sendBatch();
        else timer ??= setTimeout(sendBatch, batchDelayMs);
      });
    },
    flush: sendBatch,
    close: async () => {
      sendBatch();
      await pool.destroy();
    },
  };
}
