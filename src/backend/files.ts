/** Small file-system and hashing helpers shared by the local backend and the cache. */
import { createHash } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import { isErrno } from '../errors.js';

/** The SHA-256 of `data` in hex: the name of every repository file but the config. */
export function sha256Hex(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** Reads up to `length` bytes at `offset`; fewer only at the end of the file. */
export async function readAt(fh: fsp.FileHandle, offset: number, length: number): Promise<Buffer> {
  const buf = Buffer.allocUnsafe(length);
  let got = 0;
  while (got < length) {
    const { bytesRead } = await fh.read(buf, got, length - got, offset + got);
    if (bytesRead === 0) break;
    got += bytesRead;
  }
  return buf.subarray(0, got);
}

/** The names in `dir`, sorted; none when it does not exist (or is not a directory). */
export async function readdirOrEmpty(dir: string): Promise<string[]> {
  try {
    return (await fsp.readdir(dir)).sort();
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ENOTDIR')) return [];
    throw err;
  }
}
