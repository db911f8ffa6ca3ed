import { type MasterKey, seal, sealOverhead } from './crypto.js';
import { hashId, type Id } from './id.js';
import { type BlobType, encodeHeader, type PackedBlob } from './pack.js';

/** A finished pack: its ID (SHA-256 of the bytes), its bytes, and the blobs in it. */
export interface FinishedPack {
  id: Id;
  data: Buffer;
  blobs: PackedBlob[];
}

/** Collects sealed blobs of one type into a pack file (blobs, encrypted header, header length). */
export class Packer {
  private readonly parts: Buffer[] = [];
  private readonly blobs: PackedBlob[] = [];
  private bytes = 0;

  constructor(readonly type: BlobType) {}

  /** Appends a sealed blob. */
  add(id: Id, sealed: Buffer, uncompressedLength: number): void {
    this.blobs.push({ id, type: this.type, offset: this.bytes, length: sealed.length, uncompressedLength });
    this.parts.push(sealed);
    this.bytes += sealed.length;
  }

  /** Bytes of blob data so far. */
  get size(): number {
    return this.bytes;
  }

  /** Number of blobs so far. */
  get count(): number {
    return this.blobs.length;
  }

  /** Writes the encrypted header and its length, and names the pack. */
  finish(key: MasterKey): FinishedPack {
    const header = seal(key, encodeHeader(this.blobs));
    const len = Buffer.allocUnsafe(4);
    len.writeUInt32LE(header.length, 0);
    const data = Buffer.concat([...this.parts, header, len], this.bytes + header.length + 4);
    return { id: hashId(data), data, blobs: this.blobs };
  }
}

/** Bytes a pack adds on top of its blobs for a header of `n` entries (at most). */
export function packOverhead(n: number): number {
  return n * 41 + sealOverhead + 4;
}
