/**
 * Moving blobs from packs into new packs (restic's `Repack`): prune uses it to rewrite
 * partly used packs, copy to carry blobs into another repository under that repository's
 * key. Each blob is authenticated and hash-checked on the way, then compressed and
 * encrypted anew by the receiving {@link BlobSaver}.
 */
import { ArcaError } from '../errors.js';
import type { BlobSaver } from '../repo/blob_saver.js';
import { type Id, shortId } from '../repo/id.js';
import type { BlobType } from '../repo/pack.js';
import type { Repository } from '../repo/repository.js';

/** A blob's type and ID in one string (restic's `BlobHandle`): `t<id>` or `d<id>`. */
export type BlobKey = string;

/** The key of a blob. */
export function blobKey(type: BlobType, id: Id): BlobKey {
  return (type === 'tree' ? 't' : 'd') + id;
}

/** The type and ID a key stands for. */
export function fromBlobKey(key: BlobKey): { type: BlobType; id: Id } {
  return { type: key[0] === 't' ? 'tree' : 'data', id: key.slice(1) };
}

/** Whole packs fetched ahead while earlier ones are decoded (each up to a pack size in memory). */
const packsAhead = 3;

/**
 * Reads every blob in `wanted` out of `packIds` of `src` (each pack fetched whole, a few
 * ahead) and saves it through `saver`. A blob that cannot be read where expected is read
 * from any other copy `src` knows. Returns one message per blob that no copy could give;
 * the caller decides whether that is fatal. Does not flush `saver`.
 */
export async function repackBlobs(
  src: Repository,
  packIds: readonly Id[],
  wanted: ReadonlySet<BlobKey>,
  saver: BlobSaver,
): Promise<string[]> {
  const pending = new Set(wanted);
  const packs = src.index.packs();
  const fetches: Promise<Buffer | undefined>[] = [];
  const fetch = (i: number): void => {
    const id = packIds[i];
    if (id === undefined) return;
    fetches[i] = src.backend.load({ type: 'data', name: id }).catch((err: unknown) => {
      if (err instanceof ArcaError) return undefined;
      throw err;
    });
  };
  for (let i = 0; i < packsAhead; i++) fetch(i);
  for (let i = 0; i < packIds.length; i++) {
    const raw = await fetches[i];
    delete fetches[i];
    fetch(i + packsAhead);
    if (raw === undefined) continue;
    const blobs = (packs.get(packIds[i] as Id) ?? [])
      .filter((b) => pending.has(blobKey(b.type, b.id)))
      .sort((a, b) => a.offset - b.offset);
    for (const b of blobs) {
      const key = blobKey(b.type, b.id);
      if (!pending.has(key)) continue;
      let plain: Buffer;
      try {
        plain = src.decodeBlob(b, raw.subarray(b.offset, b.offset + b.length));
      } catch (err) {
        if (!(err instanceof ArcaError)) throw err;
        continue;
      }
      await saver.save(b.type, b.id, plain);
      pending.delete(key);
    }
  }
  const failures: string[] = [];
  for (const key of pending) {
    const { type, id } = fromBlobKey(key);
    try {
      await saver.save(type, id, await src.loadBlob(id, type));
    } catch (err) {
      if (!(err instanceof ArcaError)) throw err;
      failures.push(`${type} blob ${shortId(id)}: ${err.message}`);
    }
  }
  return failures;
}
