import { ArcaError } from '../errors.js';
import { type Id, isId } from './id.js';
import type { BlobType, PackedBlob } from './pack.js';

/** One pack as an index file lists it. */
export interface IndexPack {
  id: Id;
  blobs: PackedBlob[];
}

/** A decoded index file. */
export interface IndexFile {
  supersedes: Id[];
  packs: IndexPack[];
}

/** Where a blob is stored: its pack and its place in it. */
export interface BlobLocation extends PackedBlob {
  packId: Id;
}

interface JsonBlob {
  id: string;
  type: string;
  offset: number;
  length: number;
  uncompressed_length?: number;
}

/** Parses a decrypted index file; `repoVersion` 1 forbids compressed blobs. */
export function parseIndexFile(plain: Buffer, name: Id, repoVersion: number): IndexFile {
  let j: { supersedes?: string[]; packs?: { id: string; blobs: JsonBlob[] }[] };
  try {
    j = JSON.parse(plain.toString('utf8'));
  } catch {
    throw new ArcaError('corrupt', `index ${name.slice(0, 8)} is not valid JSON`);
  }
  if (!j || !Array.isArray(j.packs))
    throw new ArcaError('corrupt', `index ${name.slice(0, 8)} has no pack list`);
  const packs: IndexPack[] = [];
  for (const p of j.packs) {
    if (!p || typeof p.id !== 'string' || !isId(p.id) || !Array.isArray(p.blobs)) {
      throw new ArcaError('corrupt', `index ${name.slice(0, 8)} has a malformed pack entry`);
    }
    const blobs: PackedBlob[] = p.blobs.map((b) => {
      const ok =
        b &&
        typeof b.id === 'string' &&
        isId(b.id) &&
        (b.type === 'data' || b.type === 'tree') &&
        Number.isSafeInteger(b.offset) &&
        Number.isSafeInteger(b.length) &&
        b.offset >= 0 &&
        b.length >= 0 &&
        (b.uncompressed_length === undefined ||
          // A 32-bit field in a pack header, as everything in a pack: larger is nonsense (and
          // would be allocated before decompressing).
          (Number.isSafeInteger(b.uncompressed_length) &&
            b.uncompressed_length >= 0 &&
            b.uncompressed_length <= 0xffffffff));
      if (!ok)
        throw new ArcaError(
          'corrupt',
          `index ${name.slice(0, 8)} has a malformed blob in pack ${p.id.slice(0, 8)}`,
        );
      const ul = b.uncompressed_length ?? 0;
      if (ul !== 0 && repoVersion < 2) {
        throw new ArcaError(
          'corrupt',
          `index ${name.slice(0, 8)} uses compression, which repository version 1 does not support`,
        );
      }
      return {
        id: b.id,
        type: b.type as BlobType,
        offset: b.offset,
        length: b.length,
        uncompressedLength: ul,
      };
    });
    packs.push({ id: p.id, blobs });
  }
  return { supersedes: Array.isArray(j.supersedes) ? j.supersedes : [], packs };
}

/** Serialises an index file as restic does (one JSON document and a newline). */
export function encodeIndexFile(packs: readonly IndexPack[]): Buffer {
  const out = {
    packs: packs.map((p) => ({
      id: p.id,
      blobs: p.blobs.map((b) =>
        b.uncompressedLength > 0
          ? {
              id: b.id,
              type: b.type,
              offset: b.offset,
              length: b.length,
              uncompressed_length: b.uncompressedLength,
            }
          : { id: b.id, type: b.type, offset: b.offset, length: b.length },
      ),
    })),
  };
  return Buffer.from(`${JSON.stringify(out)}\n`);
}

/**
 * All index files merged: blob ID → location. A blob stored in several packs keeps every
 * location, so a reader can fall back to another copy.
 */
export class MasterIndex {
  private readonly blobs = new Map<Id, BlobLocation | BlobLocation[]>();
  private readonly packBlobs = new Map<Id, BlobLocation[]>();

  /** Adds every pack of an index file. */
  addFile(file: IndexFile): void {
    for (const p of file.packs) this.addPack(p.id, p.blobs);
  }

  /** Adds one pack and its blobs. */
  addPack(packId: Id, blobs: readonly PackedBlob[]): void {
    let list = this.packBlobs.get(packId);
    if (!list) {
      list = [];
      this.packBlobs.set(packId, list);
    }
    for (const b of blobs) {
      const loc: BlobLocation = { ...b, packId };
      const prev = this.blobs.get(b.id);
      if (prev === undefined) this.blobs.set(b.id, loc);
      else if (Array.isArray(prev)) {
        if (!prev.some((x) => x.packId === packId && x.offset === b.offset)) prev.push(loc);
        else continue;
      } else if (prev.packId === packId && prev.offset === b.offset) continue;
      else this.blobs.set(b.id, [prev, loc]);
      list.push(loc);
    }
  }

  /** The first known location of a blob of the given type. */
  lookup(id: Id, type?: BlobType): BlobLocation | undefined {
    const e = this.blobs.get(id);
    if (e === undefined) return undefined;
    if (!Array.isArray(e)) return type === undefined || e.type === type ? e : undefined;
    return e.find((x) => type === undefined || x.type === type);
  }

  /** Every known location of a blob. */
  lookupAll(id: Id): readonly BlobLocation[] {
    const e = this.blobs.get(id);
    if (e === undefined) return [];
    return Array.isArray(e) ? e : [e];
  }

  /** True when the index knows the blob. */
  has(id: Id, type?: BlobType): boolean {
    return this.lookup(id, type) !== undefined;
  }

  /** Packs and the blobs the index places in them. */
  packs(): ReadonlyMap<Id, readonly BlobLocation[]> {
    return this.packBlobs;
  }

  /** Number of distinct blobs. */
  get blobCount(): number {
    return this.blobs.size;
  }

  /** Every distinct blob ID. */
  blobIds(): IterableIterator<Id> {
    return this.blobs.keys();
  }
}
