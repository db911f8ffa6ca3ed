import type { Backend, FileType } from '../backend/backend.js';
import { ArcaError } from '../errors.js';
import { compress, decompress } from './compression.js';
import { type MasterKey, open, seal } from './crypto.js';
import { hashId, type Id } from './id.js';

/** Files stored whole and encrypted (not in packs). */
export type UnpackedType = Extract<FileType, 'config' | 'index' | 'snapshots' | 'locks'>;

const singular: Record<UnpackedType, string> = {
  config: 'config',
  index: 'index',
  snapshots: 'snapshot',
  locks: 'lock',
};

/**
 * Loads, authenticates and decrypts an unpacked file; in a v2 repository also undoes the
 * compression prefix. The file's name must equal the SHA-256 of its bytes.
 */
export async function loadUnpacked(
  backend: Backend,
  key: MasterKey,
  repoVersion: number,
  type: UnpackedType,
  id: Id,
): Promise<Buffer> {
  const what = type === 'config' ? 'config' : `${singular[type]} ${id.slice(0, 8)}`;
  const raw = await backend.load({ type, name: id });
  if (type !== 'config' && hashId(raw) !== id) {
    throw new ArcaError('corrupt', `${what}: file content does not match its name (SHA-256 mismatch)`);
  }
  const plain = open(key, raw, what);
  return type === 'config' || repoVersion < 2 ? plain : decodeV2(plain, what);
}

function decodeV2(plain: Buffer, what: string): Buffer {
  if (plain.length === 0) return plain;
  const first = plain[0]!;
  if (first === 0x7b || first === 0x5b) return plain;
  if (first === 2) return decompress(plain.subarray(1), what);
  throw new ArcaError('corrupt', `${what}: unsupported encoding format ${first}`);
}

/** Encrypts (and in v2 compresses) `plain`, stores it under its hash, returns the ID. */
export async function saveUnpacked(
  backend: Backend,
  key: MasterKey,
  repoVersion: number,
  type: UnpackedType,
  plain: Buffer,
): Promise<Id> {
  let body = plain;
  if (type !== 'config' && repoVersion >= 2) {
    const z = compress(plain);
    body = Buffer.concat([Buffer.from([2]), z]);
  }
  const sealed = seal(key, body);
  const id = type === 'config' ? '' : hashId(sealed);
  await backend.save({ type, name: id }, sealed);
  return id;
}
