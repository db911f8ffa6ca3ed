/**
 * What a drill tests, by a recorded rule that the same seed reproduces (R24, R29): the
 * dataset (the one named, else the one drilled least recently), the repository (the copy
 * of the dataset whose last completed drill is oldest, a copy never drilled first, so the
 * offsite copy is tested as often as the nearest one whatever was drilled by hand), the snapshot (the
 * newest of the dataset there, a named one, or one picked at random among those kept), and
 * for a sample the files restored. Every random choice comes from the seed, so a recorded
 * seed and population let anyone check that the choice was not made by hand.
 */
import { createHash, randomBytes } from 'node:crypto';
import { ArcaError } from '../errors.js';
import type { JournalRecord } from '../journal/record.js';
import type { Policy } from '../policy/schema.js';
import type { Snapshot } from '../repo/snapshot.js';
import { isEvidenceDrill } from './record.js';

/** A fresh seed: 16 hex digits. */
export function newSeed(): string {
  return randomBytes(8).toString('hex');
}

/** A number in [0, 1) that depends only on `seed` and `key`. */
export function seededUnit(seed: string, key: string | Buffer): number {
  const h = createHash('sha256').update(seed).update('\0').update(key).digest();
  return h.readUIntBE(0, 6) / 2 ** 48;
}

/**
 * The dataset an unnamed drill tests: one never drilled first, else the one whose last real
 * drill is oldest; ties go to the more critical tier, then the name.
 */
export function pickDataset(policy: Policy, records: readonly JournalRecord[]): string {
  const last = new Map<string, number>();
  for (const r of records) {
    if (!isEvidenceDrill(r) || r.dataset === null) continue;
    const at = Date.parse(r.started_at);
    if (!(last.get(r.dataset)! >= at)) last.set(r.dataset, at);
  }
  const names = Object.keys(policy.datasets);
  if (names.length === 0) throw new ArcaError('usage', 'the policy has no dataset to drill');
  return names.sort(
    (a, b) =>
      (last.get(a) ?? -Infinity) - (last.get(b) ?? -Infinity) ||
      policy.datasets[a]!.tier - policy.datasets[b]!.tier ||
      a.localeCompare(b),
  )[0]!;
}

/**
 * When each copy of `dataset` was last drilled to the end (a real drill, not interrupted or
 * simulated, whatever its result and whether the copy was named or rotated to): the start
 * of that drill in milliseconds, by repository name.
 */
export function copyDrillTimes(records: readonly JournalRecord[], dataset: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const r of records) {
    if (r.dataset !== dataset || !isEvidenceDrill(r)) continue;
    const selection = r.details.selection as { repository_name?: unknown } | undefined;
    const name = selection?.repository_name;
    if (typeof name !== 'string') continue;
    const at = Date.parse(r.started_at);
    if (!(out.get(name)! >= at)) out.set(name, at);
  }
  return out;
}

/** How the repository was chosen: named on the command line, or the copy drilled least recently. */
export type RepositoryMethod = 'least-recently-drilled-copy' | 'named';

/**
 * The repository a drill reads from: `named` when given (it must be one of the copies), else
 * the copy whose last completed drill is oldest (`lastDrilled`, from {@link copyDrillTimes});
 * copies never drilled come first, and ties go to the earlier copy in `copies`.
 */
export function pickRepository(
  copies: readonly string[],
  lastDrilled: ReadonlyMap<string, number>,
  named?: string,
): { name: string; method: RepositoryMethod } {
  if (named !== undefined) {
    if (!copies.includes(named))
      throw new ArcaError(
        'usage',
        `repository ${JSON.stringify(named)} holds no copy of the dataset (its copies: ${copies.join(', ')})`,
      );
    return { name: named, method: 'named' };
  }
  let pick = copies[0]!;
  for (const c of copies)
    if ((lastDrilled.get(c) ?? -Infinity) < (lastDrilled.get(pick) ?? -Infinity)) pick = c;
  return { name: pick, method: 'least-recently-drilled-copy' };
}

/** How the snapshot is chosen: the newest, a random one (seeded), or the one named. */
export type SnapshotRule = 'latest' | 'random' | 'named';

/**
 * The snapshot to restore among `snapshots` (the dataset's, oldest first): the newest, one
 * picked with the seed (every kept snapshot is equally likely), or the one whose ID starts
 * with `id`. Throws ArcaError `not-found` when there is none.
 */
export function pickSnapshot(
  snapshots: readonly Snapshot[],
  rule: SnapshotRule,
  seed: string,
  id?: string,
): Snapshot {
  if (snapshots.length === 0)
    throw new ArcaError('not-found', 'the repository holds no snapshot of the dataset');
  if (rule === 'named') {
    const found = snapshots.filter((s) => id !== undefined && id !== '' && s.id.startsWith(id));
    if (found.length !== 1)
      throw new ArcaError(
        found.length === 0 ? 'not-found' : 'usage',
        found.length === 0
          ? `no snapshot ${id} of the dataset in the repository`
          : `snapshot ID prefix ${id} is ambiguous`,
      );
    return found[0]!;
  }
  if (rule === 'latest') return snapshots[snapshots.length - 1]!;
  return snapshots[Math.floor(seededUnit(seed, 'snapshot') * snapshots.length)]!;
}

/**
 * The files a sample restores: `percent` of `paths` (rounded up, at least one), those that
 * rank first by their seeded hash; the same seed and paths give the same choice in any order.
 */
export function sampleFiles(paths: readonly Buffer[], percent: number, seed: string): Set<string> {
  if (paths.length === 0) return new Set();
  const want = Math.min(paths.length, Math.max(1, Math.ceil((paths.length * percent) / 100)));
  const ranked = paths
    .map((p) => ({ key: p.toString('latin1'), rank: seededUnit(seed, p) }))
    .sort((a, b) => a.rank - b.rank || (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  return new Set(ranked.slice(0, want).map((r) => r.key));
}
