import os from 'node:os';
import { Piscina } from 'piscina';
import { ArcaError } from '../errors.js';
import {
  type BlobEncoder,
  type CodecTask,
  type EncodedBlob,
  encodeBlob,
  forThread,
  isCompressed,
  modeCodes,
  ownBuffer,
} from '../repo/blob_codec.js';
import type { CompressionMode } from '../repo/compression.js';
import type { MasterKey } from '../repo/crypto.js';
import { hashId } from '../repo/id.js';
import type { BlobLocation } from '../repo/index.js';
import type { DecodeTask, DecodeTaskResult, FileTask, FileTaskResult } from './encode_worker.js';
import {
  type FileExpectation,
  processSmallFile,
  type SmallFileReader,
  type SmallFileResult,
} from './small_file.js';

// Blobs at least this big travel alone (moved, not copied); smaller ones are batched, since
// a thread round trip costs as much as compressing a few kilobytes.
const aloneFrom = 128 * 1024;
const batchBytes = 1024 * 1024;
const batchItems = 256;
const fileBatchBytes = 2 * 1024 * 1024;
const fileBatchItems = 128;
// Files handed to workers and not yet answered: beyond this the walk waits (bounds memory).
const filesInFlightMax = 1024;
const fileBytesInFlightMax = 16 * 1024 * 1024;
// A partly filled batch is sent after this long, so workers never wait on a quiet producer.
const batchDelayMs = 25;
// While no thread runs yet, a batch smaller than this is encoded on the calling thread.
const inlineBelow = 256 * 1024;
// Work (files read, blobs encoded or hashed) up to this many bytes in all is done on the calling
// thread before any thread starts.
const inlineWorkBelow = 16 * 1024 * 1024;

/** Collects items and sends them as one task when full, when asked, or after a short delay. */
class Batcher<T> {
  private items: T[] = [];
  private bytes = 0;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly maxBytes: number,
    private readonly maxItems: number,
    private readonly send: (items: T[]) => void,
  ) {}

  add(item: T, bytes: number): void {
    this.items.push(item);
    this.bytes += bytes;
    if (this.bytes >= this.maxBytes || this.items.length >= this.maxItems) this.flush();
    else this.timer ??= setTimeout(() => this.flush(), batchDelayMs);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    if (this.items.length === 0) return;
    const items = this.items;
    this.items = [];
    this.bytes = 0;
    this.send(items);
  }
}

interface WaitingBlob {
  plain: Uint8Array;
  mode: CompressionMode | 'none';
  resolve: (b: EncodedBlob) => void;
  reject: (e: unknown) => void;
}

interface WaitingFile {
  path: Buffer;
  expect: FileExpectation;
  resolve: (r: SmallFileResult) => void;
  reject: (e: unknown) => void;
}

/** Decodes blobs read from a pack: on worker threads, or on the calling thread. */
export interface BlobDecoder {
  /** The verified plaintext of each blob in `raw` (pack bytes from `start`), or the Error it failed with. */
  decode(raw: Buffer, start: number, blobs: BlobLocation[]): Promise<(Buffer | Error)[]>;
}

/** A worker pool that encodes blobs, reads small files and decodes blobs, batching small work. */
export interface EncodePool extends BlobEncoder, SmallFileReader, BlobDecoder {}

/**
 * Starts the worker threads (one per core by default) that compress and encrypt blobs and
 * read, hash and encode small files, so the main thread only walks and deduplicates.
 */
export function poolEncoder(key: MasterKey, threads = os.availableParallelism()): EncodePool {
  const self = new URL(import.meta.url);
  const ext = self.pathname.endsWith('.ts') ? '.ts' : '.js';
  // Threads start on first use: a backup with nothing new to store never pays for them.
  let started:
    | Piscina<CodecTask | FileTask | DecodeTask, Uint8Array | FileTaskResult | DecodeTaskResult>
    | undefined;
  const pool = (): NonNullable<typeof started> =>
    (started ??= new Piscina({
      filename: new URL(`./encode_worker${ext}`, self).href,
      workerData: { encrypt: key.encrypt, macK: key.macK, macR: key.macR },
      minThreads: threads,
      maxThreads: threads,
      idleTimeout: 60_000,
    }));

  const blobs = new Batcher<WaitingBlob>(batchBytes, batchItems, (items) => {
    const total = items.reduce((a, w) => a + w.plain.byteLength, 0);
    if ((!started && total < inlineBelow) || inlineAllowed(total)) {
      // A few small blobs (the trees of a backup with few changes): cheaper here than starting threads.
      for (const w of items) {
        try {
          w.resolve(encodeBlob(key, w.plain, w.mode));
        } catch (err) {
          w.reject(err);
        }
      }
      return;
    }
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
    pool()
      .run({ batch, count: items.length }, { transferList: [batch.buffer as ArrayBuffer] })
      .then(
        (res) => {
          const r = res as Uint8Array;
          const out = Buffer.from(r.buffer, r.byteOffset, r.byteLength);
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
  });

  // The first few megabytes of work (all there is after a small change) are done on the calling
  // thread: starting the threads would cost more CPU than they save.
  let inlineBytes = 0;
  const inlineAllowed = (bytes: number): boolean => {
    if (started || inlineBytes + bytes > inlineWorkBelow) return false;
    inlineBytes += bytes;
    return true;
  };
  /** `work()` done here as a promise when the budget allows, else undefined. */
  const inline = <T>(bytes: number, work: () => T): Promise<T> | undefined => {
    if (!inlineAllowed(bytes)) return undefined;
    try {
      return Promise.resolve(work());
    } catch (err) {
      return Promise.reject(err);
    }
  };
  let filesInFlight = 0;
  let fileBytesInFlight = 0;
  let roomWaiters: (() => void)[] = [];
  const fileMode = new Map<CompressionMode | 'none', Batcher<WaitingFile>>();
  const fileBatcher = (mode: CompressionMode | 'none'): Batcher<WaitingFile> => {
    let b = fileMode.get(mode);
    if (!b) {
      b = new Batcher<WaitingFile>(fileBatchBytes, fileBatchItems, (items) => {
        const task: FileTask = { files: items.map((w) => ({ path: w.path, expect: w.expect })), mode };
        pool()
          .run(task)
          .then(
            (res) => {
              (res as FileTaskResult).forEach((r, i) => {
                items[i]!.resolve(reviveBlob(r));
              });
            },
            (err: unknown) => {
              for (const w of items) w.reject(err);
            },
          );
      });
      fileMode.set(mode, b);
    }
    return b;
  };

  const flushAll = (): void => {
    blobs.flush();
    for (const b of fileMode.values()) b.flush();
  };

  return {
    offThread: true,
    encodeHashed(plain, mode) {
      const here = inline(plain.byteLength, () => ({
        id: hashId(plain),
        blob: encodeBlob(key, plain, mode),
      }));
      if (here) return here;
      const { view, transfer } = forThread(plain);
      const length = view.byteLength;
      return pool()
        .run({ plain: view, mode, hash: true }, { transferList: transfer })
        .then((res) => {
          const r = res as Uint8Array;
          const out = Buffer.from(r.buffer, r.byteOffset, r.byteLength);
          return {
            id: out.subarray(0, 32).toString('hex'),
            blob: { sealed: out.subarray(32), uncompressedLength: isCompressed(mode, length) ? length : 0 },
          };
        });
    },
    encode(plain, mode) {
      if (plain.byteLength >= aloneFrom) {
        const here = inline(plain.byteLength, () => encodeBlob(key, plain, mode));
        if (here) return here;
        const { view, transfer } = forThread(plain);
        const length = view.byteLength;
        return pool()
          .run({ plain: view, mode }, { transferList: transfer })
          .then((res) => {
            const sealed = res as Uint8Array;
            return {
              sealed: Buffer.from(sealed.buffer, sealed.byteOffset, sealed.byteLength),
              uncompressedLength: isCompressed(mode, length) ? length : 0,
            };
          });
      }
      return new Promise<EncodedBlob>((resolve, reject) => {
        blobs.add({ plain, mode, resolve, reject }, plain.byteLength);
      });
    },
    async hash(plain) {
      const here = inline(plain.byteLength, () => hashId(plain));
      if (here) return here;
      const { view, transfer } = forThread(plain);
      const id = (await pool().run({ hashOnly: view }, { transferList: transfer })) as Uint8Array;
      return Buffer.from(id.buffer, id.byteOffset, id.byteLength).toString('hex');
    },
    async room(size) {
      while (
        filesInFlight > 0 &&
        (filesInFlight >= filesInFlightMax || fileBytesInFlight + size > fileBytesInFlightMax)
      ) {
        flushAll();
        await new Promise<void>((resolve) => roomWaiters.push(resolve));
      }
    },
    read(path, expect, mode, known) {
      const bytes = Number(expect.size);
      const here = inline(bytes, () => processSmallFile(key, path, expect, mode, known));
      if (here) return here;
      filesInFlight++;
      fileBytesInFlight += bytes;
      return new Promise<SmallFileResult>((resolve, reject) => {
        fileBatcher(mode).add({ path, expect, resolve, reject }, bytes);
      }).finally(() => {
        filesInFlight--;
        fileBytesInFlight -= bytes;
        const waiting = roomWaiters;
        roomWaiters = [];
        for (const w of waiting) w();
      });
    },
    async decode(raw, start, locs) {
      const owned = ownBuffer(raw);
      const r = (await pool().run(
        { raw: owned, start, blobs: locs },
        { transferList: [owned.buffer as ArrayBuffer] },
      )) as DecodeTaskResult;
      const data = Buffer.from(r.data.buffer, r.data.byteOffset, r.data.byteLength);
      let at = 0;
      return r.lengths.map((len, i) => {
        if (len < 0) return new ArcaError('corrupt', r.errors[i] ?? 'blob cannot be decoded');
        const p = data.subarray(at, at + len);
        at += len;
        return p;
      });
    },
    flush: flushAll,
    close: async () => {
      flushAll();
      await started?.destroy();
    },
  };
}

/** Structured cloning turns the sealed Buffer into a plain Uint8Array; make it a Buffer again. */
function reviveBlob(r: SmallFileResult): SmallFileResult {
  if (r.kind !== 'ok' || !r.blob) return r;
  const s = r.blob.sealed as Uint8Array;
  return {
    ...r,
    blob: {
      sealed: Buffer.from(s.buffer, s.byteOffset, s.byteLength),
      uncompressedLength: r.blob.uncompressedLength,
    },
  };
}
