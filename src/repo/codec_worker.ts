import { workerData } from 'node:worker_threads';
import { Piscina } from 'piscina';
import { encodeBlob, ownBuffer } from './blob_codec.js';
import type { CompressionMode } from './compression.js';
import type { MasterKey } from './crypto.js';

/** A blob to compress and encrypt in a worker thread. */
export interface CodecTask {
  plain: Uint8Array;
  mode: CompressionMode | 'none';
}

const k = workerData as { encrypt: Uint8Array; macK: Uint8Array; macR: Uint8Array };
const key: MasterKey = {
  encrypt: Buffer.from(k.encrypt),
  macK: Buffer.from(k.macK),
  macR: Buffer.from(k.macR),
};

/** Compresses and seals one blob; the sealed bytes are moved, not copied, back to the caller. */
export default function encode(task: CodecTask): Uint8Array {
  return Piscina.move(ownBuffer(encodeBlob(key, task.plain, task.mode).sealed)) as Uint8Array;
}
