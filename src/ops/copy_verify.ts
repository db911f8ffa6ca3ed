import { type PackSelection, selectPacks, verifyPack } from '../engine/checker.js';
import { ArcaError } from '../errors.js';
import { type Id, shortId } from '../repo/id.js';
import type { Repository } from '../repo/repository.js';
import { walkTrees } from './tree_walk.js';

/** What verifying a copy found. */
export interface CopyVerification {
  trees: number;
  dataBlobs: number;
  /** Packs read back whole and verified blob by blob. */
  packsRead: number;
  /** One line per problem; empty when the copy is sound. */
  problems: string[];
}

/**
 * Verifies what a copy wrote, reading only from the destination: every tree under `roots`
 * loads there (authenticated, decrypted, hash-checked) and every file blob it names is in
 * the destination's index; then the `sample` of the packs the copy wrote (`newPacks`, ID →
 * size) is read back whole and each blob in it decoded and hash-checked.
 */
export async function verifyCopy(
  dst: Repository,
  roots: readonly Id[],
  newPacks: ReadonlyMap<Id, number>,
  sample?: PackSelection,
): Promise<CopyVerification> {
  const result: CopyVerification = { trees: 0, dataBlobs: 0, packsRead: 0, problems: [] };
  const blobs = new Set<Id>();
  await walkTrees(
    dst,
    roots,
    () => true,
    (_tree, nodes) => {
      result.trees++;
      for (const n of nodes) {
        if (n.type !== 'file') continue;
        for (const id of n.content ?? []) {
          if (blobs.has(id)) continue;
          blobs.add(id);
          if (!dst.index.has(id, 'data'))
            result.problems.push(`data blob ${shortId(id)} is not in the destination's index`);
        }
      }
    },
    (err, tree) => {
      if (!(err instanceof ArcaError)) throw err;
      throw new ArcaError(
        'corrupt',
        `copy verification: tree ${shortId(tree)} cannot be read from the destination: ${err.message}`,
        {
          cause: err,
        },
      );
    },
  );
  result.dataBlobs = blobs.size;
  if (sample === undefined) return result;
  const packs = dst.index.packs();
  for (const id of [...selectPacks(newPacks, sample).keys()].sort()) {
    let raw: Buffer;
    try {
      raw = await dst.backend.load({ type: 'data', name: id });
    } catch (err) {
      if (!(err instanceof ArcaError)) throw err;
      result.problems.push(`pack ${shortId(id)}: ${err.message}`);
      continue;
    }
    const verdict = verifyPack(dst.key, id, raw, packs.get(id) ?? []);
    for (const f of verdict.findings) result.problems.push(f.message);
    result.packsRead++;
  }
  return result;
}
