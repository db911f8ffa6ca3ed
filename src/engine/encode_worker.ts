import { createHash } from 'node:crypto';
import { workerData } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { type CodecTask, encodeBlob, modeCodes, ownBuffer } from '../repo/blob_codec.js';
import type { CompressionMode } from '../repo/compression.js';
import type { MasterKey } from '../repo/crypto.js';
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
 * One blob, a batch of small blobs, or a batch of small files. Blob answers are moved, not
 * copied; a batch is packed as `count × u32 length`, then the sealed blobs.
 */
export default function encode(
  task: CodecTask | FileTask | DecodeTask,
): Uint8Array | FileTaskResult | DecodeTaskResult {
  if ('raw' in task) return decodeRange(task);
  if ('hashOnly' in task) return createHash('sha256').update(task.hashOnly).digest();
  if ('files' in task) {
    // The worker cannot see the index, so it encodes every file; the caller drops duplicates.
    return task.files.map((f) =>
      processSmallFile(
        key,
        Buffer.from(f.path.buffer, f.path.byteOffset, f.path.byteLength),
        f.expect,
        task.mode,
        never,
      ),
    );
  }
  if ('plain' in task && task.hash) {
    // The ID travels in front of the sealed blob: 32 bytes of SHA-256, then the blob.
    const id = createHash('sha256').update(task.plain).digest();
    const sealed = encodeBlob(key, task.plain, task.mode).sealed;
    const out = Buffer.allocUnsafeSlow(32 + sealed.length);
    id.copy(out, 0);
    sealed.copy(out, 32);
    return Piscina.move(new Uint8Array(out.buffer, 0, out.length)) as Uint8Array;
  }
  if ('plain' in task)
    return Piscina.move(ownBuffer(encodeBlob(key, task.plain, task.mode).sealed)) as Uint8Array;
  const src = Buffer.from(task.batch.buffer, task.batch.byteOffset, task.batch.byteLength);
  const sealed: Buffer[] = [];
  let at = task.count * 5;
  for (let i = 0; i < task.count; i++) {
    const len = src.readUInt32LE(i * 5);
    const mode = modeCodes[src[i * 5 + 4]!]!;
    sealed.push(encodeBlob(key, src.subarray(at, at + len), mode).sealed);
    at += len;
  }
  const out = Buffer.allocUnsafeSlow(task.count * 4 + sealed.reduce((a, b) => a + b.length, 0));
  let p = task.count * 4;
  sealed.forEach((s, i) => {
    out.writeUInt32LE(s.length, i * 4);
    s.copy(out, p);
    p += s.length;
  });
  return Piscina.move(new Uint8Array(out.buffer, 0, out.length)) as Uint8Array;
}

function decodeRange(task: DecodeTask): DecodeTaskResult {
  const raw = Buffer.from(task.raw.buffer, task.raw.byteOffset, task.raw.byteLength);
  const plains: Buffer[] = [];
  const lengths: number[] = [];
  const errors: (string | null)[] = [];
  for (const loc of task.blobs) {
    try {
      const p = decodeBlob(
        key,
        loc,
        raw.subarray(loc.offset - task.start, loc.offset - task.start + loc.length),
      );
      plains.push(p);
      lengths.push(p.length);
      errors.push(null);
    } catch (err) {
      lengths.push(-1);
      errors.push((err as Error).message);
    }
  }
  // Not zero-filled: every byte is overwritten below.
  const total = plains.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(Buffer.allocUnsafeSlow(total).buffer, 0, total);
  let at = 0;
  for (const p of plains) {
    out.set(p, at);
    at += p.length;
  }
  const result: DecodeTaskResult = { data: out, lengths, errors };
  // Moved, not copied, back to the caller.
  return Piscina.move({
    get [Piscina.transferableSymbol]() {
      return out.buffer;
    },
    get [Piscina.valueSymbol]() {
      return result;
    },
  } as never) as unknown as DecodeTaskResult;
}
