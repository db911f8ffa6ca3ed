import { createHash } from 'node:crypto';
import { workerData } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { type CodecTask, encodeBlob, modeCodes } from '../repo/blob_codec.js';
import type { CompressionMode } from '../repo/compression.js';
import { type MasterKey, sealOverhead } from '../repo/crypto.js';
import type { BlobLocation } from '../repo/index.js';
import { decodeBlob } from '../repo/repository.js';
import { type FileExpectation, processSmallFile, type SmallFileResult } from './small_file.js';

/** Small files to read, hash and encode in a worker thread. */
export interface FileTask {
  files: { path: Uint8Array; expect: FileExpectation }[];
  mode: CompressionMode | 'none';
}

/** A worker's answer for a file task: one result each, sealed blobs copied back with them. */
export type FileTaskResult = SmallFileResult[];

/** Blobs to authenticate, decrypt, decompress and verify: one range of a pack and where each blob lies in it. */
export interface DecodeTask {
  raw: Uint8Array;
  start: number;
  blobs: BlobLocation[];
}

/** Plaintexts back to back in `data`; a blob that failed has length -1 and its error message. */
export interface DecodeTaskResult {
  data: Uint8Array;
  lengths: number[];
  errors: (string | null)[];
}

const k = workerData as { encrypt: Uint8Array; macK: Uint8Array; macR: Uint8Array };
const key: MasterKey = {
  encrypt: Buffer.from(k.encrypt),
  macK: Buffer.from(k.macK),
  macR: Buffer.from(k.macR),
};
const never = (): boolean => false;

/**
 * One blob, a batch of small blobs, or a batch of small files. Answers are moved, not copied:
 * a blob as one buffer (with `hash`, 32 bytes of SHA-256 in front of the sealed blob); a batch
 * packed as `count × u32 length`, then the sealed blobs; files with their sealed blobs in one
 * buffer moved along with them. One allocation per task, for the answer.
 */
export default function encode(
  task: CodecTask | FileTask | DecodeTask,
): Uint8Array | FileTaskResult | DecodeTaskResult {
  if ('raw' in task) return decodeRange(task);
  if ('hashOnly' in task) return createHash('sha256').update(task.hashOnly).digest();
  if ('files' in task) return encodeFiles(task);
  if ('plain' in task) {
    const front = task.hash ? 32 : 0;
    let out: Buffer | undefined;
    encodeBlob(key, task.plain, task.mode, (n) => {
      out = Buffer.allocUnsafeSlow(front + n);
      return out.subarray(front);
    });
    if (task.hash) createHash('sha256').update(task.plain).digest().copy(out!, 0);
    return Piscina.move(new Uint8Array(out!.buffer, 0, out!.length)) as Uint8Array;
  }
  const src = Buffer.from(task.batch.buffer, task.batch.byteOffset, task.batch.byteLength);
  const staged = new Staging();
  const lengths: number[] = [];
  let at = task.count * 5;
  for (let i = 0; i < task.count; i++) {
    const len = src.readUInt32LE(i * 5);
    const mode = modeCodes[src[i * 5 + 4]!]!;
    lengths.push(encodeBlob(key, src.subarray(at, at + len), mode, staged.room).sealed.length);
    at += len;
  }
  const out = staged.copyOut(task.count * 4);
  lengths.forEach((n, i) => {
    out.writeUInt32LE(n, i * 4);
  });
  return Piscina.move(new Uint8Array(out.buffer, 0, out.length)) as Uint8Array;
}

function encodeFiles(task: FileTask): FileTaskResult {
  const staged = new Staging();
  // The worker cannot see the index, so it encodes every file; the caller drops duplicates.
  const results = task.files.map((f) =>
    processSmallFile(
      key,
      Buffer.from(f.path.buffer, f.path.byteOffset, f.path.byteLength),
      f.expect,
      task.mode,
      never,
      staged.room,
    ),
  );
  const out = staged.copyOut(0);
  let at = 0;
  for (const r of results) {
    if (r.kind !== 'ok' || !r.blob) continue;
    const n = r.blob.sealed.length;
    // Views of the buffer that moves: cloning them copies nothing.
    r.blob.sealed = out.subarray(at, at + n);
    at += n;
  }
  return movingAlong(results, out.buffer);
}

let staging = Buffer.alloc(0);

/**
 * Sealed blobs of one task, back to back in this thread's staging buffer (reused from task to
 * task), then copied once into the buffer that moves to the caller: one allocation per task
 * instead of one per blob (and per compression), so far less garbage for the thread's heap.
 */
class Staging {
  private used = 0;

  /** A place for the next sealed blob of `n` bytes (for {@link encodeBlob}). */
  readonly room = (n: number): Buffer => {
    if (staging.length < this.used + n) {
      const grown = Buffer.allocUnsafeSlow(Math.max(this.used + n, 2 * staging.length));
      staging.copy(grown, 0, 0, this.used);
      staging = grown;
    }
    this.used += n;
    return staging.subarray(this.used - n, this.used);
  };

  /** A buffer of its own with `front` bytes free, then everything staged. */
  copyOut(front: number): Buffer {
    const out = Buffer.allocUnsafeSlow(front + this.used);
    staging.copy(out, front, 0, this.used);
    return out;
  }
}

function decodeRange(task: DecodeTask): DecodeTaskResult {
  const raw = Buffer.from(task.raw.buffer, task.raw.byteOffset, task.raw.byteLength);
  // Each plaintext is decoded straight into its place in the answer (its length is known from
  // the index); a blob that fails leaves no gap.
  const plainLength = (loc: BlobLocation) =>
    loc.uncompressedLength > 0 ? loc.uncompressedLength : Math.max(0, loc.length - sealOverhead);
  const whole = Buffer.allocUnsafeSlow(task.blobs.reduce((a, loc) => a + plainLength(loc), 0));
  const lengths: number[] = [];
  const errors: (string | null)[] = [];
  let at = 0;
  for (const loc of task.blobs) {
    try {
      const p = decodeBlob(
        key,
        loc,
        raw.subarray(loc.offset - task.start, loc.offset - task.start + loc.length),
        whole.subarray(at, at + plainLength(loc)),
      );
      lengths.push(p.length);
      errors.push(null);
      at += p.length;
    } catch (err) {
      lengths.push(-1);
      errors.push((err as Error).message);
    }
  }
  const out = new Uint8Array(whole.buffer, 0, at);
  const result: DecodeTaskResult = { data: out, lengths, errors };
  return movingAlong(result, out.buffer);
}

/** `value` as an answer with `buffer` (which views in `value` lie in) moved, not copied, to the caller. */
function movingAlong<T>(value: T, buffer: ArrayBufferLike): T {
  return Piscina.move({
    get [Piscina.transferableSymbol]() {
      return buffer;
    },
    get [Piscina.valueSymbol]() {
      return value;
    },
  } as never) as unknown as T;
}
