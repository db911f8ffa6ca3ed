import { ArcaError } from '../errors.js';
import { type MasterKey, open, sealOverhead } from './crypto.js';
import type { Id } from './id.js';

/** Blob kinds. */
export type BlobType = 'data' | 'tree';

/** One blob's place in a pack, as a pack header or an index states it. */
export interface PackedBlob {
  id: Id;
  type: BlobType;
  offset: number;
  /** Length of the encrypted blob in the pack. */
  length: number;
  /** Plaintext length when the blob is zstd-compressed; 0 when it is stored as is. */
  uncompressedLength: number;
}

const plainEntrySize = 37;
const compressedEntrySize = 41;
/** Bytes read from a pack's end first, enough for the header of a small pack (as restic does). */
export const eagerHeaderBytes = 15 * compressedEntrySize + sealOverhead + 4;
/** Packs with headers larger than this are refused (restic's limit). */
export const maxHeaderSize = 16 * 1024 * 1024 + 4;

/** Size of a header entry for a blob. */
export function headerEntrySize(b: Pick<PackedBlob, 'uncompressedLength'>): number {
  return b.uncompressedLength > 0 ? compressedEntrySize : plainEntrySize;
}

/** The size a pack holding exactly `blobs` must have: blobs, encrypted header, 4-byte length. */
export function expectedPackSize(
  blobs: readonly Pick<PackedBlob, 'length' | 'uncompressedLength'>[],
): number {
  let size = sealOverhead + 4;
  for (const b of blobs) size += b.length + headerEntrySize(b);
  return size;
}

/** Reads the header length from a pack's trailing 4 bytes and checks it is plausible. */
export function headerLength(tail: Buffer, packSize: number, packId: Id): number {
  if (packSize < sealOverhead + 4 || tail.length < 4) {
    throw new ArcaError('corrupt', `pack ${packId.slice(0, 8)} is too short (${packSize} bytes)`);
  }
  const hlen = tail.readUInt32LE(tail.length - 4);
  if (hlen < sealOverhead || hlen + 4 > packSize || hlen > maxHeaderSize) {
    throw new ArcaError('corrupt', `pack ${packId.slice(0, 8)} has an invalid header length ${hlen}`);
  }
  return hlen;
}

/** Decrypts and parses an encrypted pack header. */
export function parseHeader(key: MasterKey, encHeader: Buffer, packSize: number, packId: Id): PackedBlob[] {
  const what = `pack ${packId.slice(0, 8)} header`;
  const plain = open(key, encHeader, what);
  const blobs: PackedBlob[] = [];
  let offset = 0;
  let p = 0;
  while (p < plain.length) {
    const t = plain[p]!;
    const size = t === 2 || t === 3 ? compressedEntrySize : t === 0 || t === 1 ? plainEntrySize : 0;
    if (size === 0) throw new ArcaError('corrupt', `${what}: invalid blob type ${t}`);
    if (p + size > plain.length) throw new ArcaError('corrupt', `${what}: truncated entry`);
    const length = plain.readUInt32LE(p + 1);
    const uncompressedLength = size === compressedEntrySize ? plain.readUInt32LE(p + 5) : 0;
    const id = plain.subarray(p + size - 32, p + size).toString('hex');
    blobs.push({ id, type: t === 0 || t === 2 ? 'data' : 'tree', offset, length, uncompressedLength });
    offset += length;
    p += size;
  }
  const hlen = encHeader.length;
  if (offset + hlen + 4 !== packSize) {
    throw new ArcaError(
      'corrupt',
      `pack ${packId.slice(0, 8)}: blobs (${offset} bytes) plus header (${hlen + 4}) do not add up to the pack size ${packSize}`,
    );
  }
  return blobs;
}

/** Serialises a pack header's plaintext for `blobs` (in file order). */
export function encodeHeader(blobs: readonly PackedBlob[]): Buffer {
  let size = 0;
  for (const b of blobs) size += headerEntrySize(b);
  const out = Buffer.allocUnsafe(size);
  let p = 0;
  for (const b of blobs) {
    const compressed = b.uncompressedLength > 0;
    out[p] = (b.type === 'data' ? 0 : 1) + (compressed ? 2 : 0);
    out.writeUInt32LE(b.length, p + 1);
    if (compressed) out.writeUInt32LE(b.uncompressedLength, p + 5);
    Buffer.from(b.id, 'hex').copy(out, p + headerEntrySize(b) - 32);
    p += headerEntrySize(b);
  }
  return out;
}
