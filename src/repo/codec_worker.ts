import { workerData } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { type CodecTask, encodeBlob, modeCodes, ownBuffer } from './blob_codec.js';
import type { MasterKey } from './crypto.js';

const k = workerData as { encrypt: Uint8Array; macK: Uint8Array; macR: Uint8Array };
const key: MasterKey = {
  encrypt: Buffer.from(k.encrypt),
  macK: Buffer.from(k.macK),
  macR: Buffer.from(k.macR),
};

/**
 * Compresses and seals one blob, or every blob of a batch. A batch answer is packed the
 * same way: `count × u32 length`, then the sealed blobs. The answer is moved, not copied.
 */
export default function encode(task: CodecTask): Uint8Array {
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
