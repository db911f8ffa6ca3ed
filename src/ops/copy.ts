/**
 * `copy`: carries snapshots into another repository, as restic's `copy` does, so that a
 * copy kept at a remote site is a full, independent repository.
 *
 * For each selected source snapshot that the destination does not already hold (same
 * original ID and the same time, tree, host, user, paths, tags and excludes), every tree
 * and data blob it reaches that the destination lacks is read from the source (verified),
 * re-encrypted under the destination's key and packed there; the destination's index is
 * written, and only then the snapshot, with `original` naming the first snapshot of the
 * chain and without `parent`. A copy interrupted at any point leaves the destination valid:
 * at worst packs that no snapshot uses yet, which the next run indexes and reuses.
 *
 * Blob IDs are plaintext hashes, so trees and file contents keep their IDs; deduplication
 * against data already in the destination works as long as both repositories chunk alike
 * (`init --copy-chunker-params`).
 */
import { poolEncoder } from '../engine/encode_pool.js';
import { ArcaError } from '../errors.js';
import { type BlobEncoder, inlineEncoder } from '../repo/blob_codec.js';
import { BlobSaver, type SaverStats } from '../repo/blob_saver.js';
import { type Id, resolvePrefix, shortId } from '../repo/id.js';
import { adoptOrphanPacks, type OrphanReport } from '../repo/orphan_packs.js';
import { expectedPackSize } from '../repo/pack.js';
import type { Repository } from '../repo/repository.js';
import { type Snapshot, type SnapshotData, type SnapshotFilter, sortSnapshots } from '../repo/snapshot.js';
import { type BlobKey, blobKey, repackBlobs } from './repack.js';
import { walkTrees } from './tree_walk.js';

/** What to copy. */
export interface CopyOptions {
  /** Snapshot IDs or prefixes (or `latest`); all snapshots passing `filter` when empty. */
  snapshots?: readonly string[];
  filter?: SnapshotFilter;
  /** Count what would be copied, store nothing. */
  dryRun?: boolean;
  /** Encode on worker threads (the default); false keeps everything on the calling thread. */
  workers?: boolean;
  onEvent?: (e: CopyEvent) => void;
}

/** Progress of a copy, one event per snapshot. */
export type CopyEvent =
  | { type: 'skipped'; source: Snapshot; existing: Snapshot }
  | { type: 'copying'; source: Snapshot; blobs: number; packs: number }
  | { type: 'copied'; source: Snapshot; id: Id | undefined };

/** One copied snapshot: where it came from and its ID in the destination. */
export interface CopiedSnapshot {
  source: Snapshot;
  /** Undefined in a dry run. */
  id: Id | undefined;
}

/** What a copy did. */
export interface CopyResult {
  copied: CopiedSnapshot[];
  skipped: { source: Snapshot; existing: Snapshot }[];
  /** Blobs and bytes added to the destination (stored size after compression and encryption). */
  stats: SaverStats;
  /** The packs this copy wrote to the destination, with their sizes. */
  newPacks: Map<Id, number>;
  /** Packs an interrupted run had left unindexed in the destination, indexed before copying. */
  orphans: OrphanReport;
}

/** Copies below this many stored bytes encode on the calling thread: starting workers costs more. */
const poolMinBytes = 64 * 1024 * 1024;

/** Copies the selected snapshots of `src` into `dst`. Both indexes are loaded here. */
export async function copySnapshots(
  src: Repository,
  dst: Repository,
  opts: CopyOptions = {},
): Promise<CopyResult> {
  const selected = await selectSnapshots(src, opts);
  const byOriginal = new Map<Id, Snapshot[]>();
  for (const s of await dst.listSnapshots(opts.filter ?? {})) {
    for (const key of new Set([s.original, s.id])) {
      if (key === undefined) continue;
      byOriginal.set(key, [...(byOriginal.get(key) ?? []), s]);
    }
  }
  await Promise.all([src.loadIndex(), dst.loadIndex()]);
  // Packs an interrupted copy (or backup) uploaded but did not index yet are indexed now, so
  // their blobs count as present instead of being copied again.
  const orphans = await adoptOrphanPacks(dst, { dryRun: opts.dryRun });

  const result: CopyResult = {
    copied: [],
    skipped: [],
    stats: { dataBlobs: 0, treeBlobs: 0, dataAdded: 0, dataAddedPacked: 0, packs: 0, indexFiles: 0 },
    newPacks: new Map(),
    orphans,
  };
  const todo: Snapshot[] = [];
  for (const s of selected) {
    const existing = (byOriginal.get(s.original ?? s.id) ?? []).find((d) => similarSnapshots(d, s));
    if (existing) {
      result.skipped.push({ source: s, existing });
      opts.onEvent?.({ type: 'skipped', source: s, existing });
    } else todo.push(s);
  }
  if (todo.length === 0) return result;

  const visited = new Set<Id>();
  const plans = [];
  let totalBytes = 0;
  for (const s of todo) {
    const plan = await missingBlobs(src, dst, s.tree, visited);
    totalBytes += plan.bytes;
    plans.push({ snapshot: s, ...plan });
  }
  const encoder: BlobEncoder =
    opts.workers !== false && totalBytes >= poolMinBytes ? poolEncoder(dst.key) : inlineEncoder(dst.key);
  const saver = new BlobSaver(dst, { encoder, dryRun: opts.dryRun });
  const packsBefore = new Set(dst.index.packs().keys());
  try {
    for (const p of plans) {
      opts.onEvent?.({ type: 'copying', source: p.snapshot, blobs: p.blobs.size, packs: p.packs.length });
      const failures = await repackBlobs(src, p.packs, p.blobs, saver);
      if (failures.length > 0) {
        throw new ArcaError(
          'corrupt',
          `snapshot ${shortId(p.snapshot.id)} cannot be copied: ${failures.length} blobs cannot be read from the source ` +
            `(${failures.slice(0, 3).join('; ')}). Snapshots copied before it are complete in the destination; ` +
            "run 'arca check --read-data' on the source.",
        );
      }
      // Packs and their index reach the destination before the snapshot that needs them.
      await saver.flush();
      const id = opts.dryRun
        ? undefined
        : await dst.saveJsonUnpacked('snapshots', copiedSnapshotData(p.snapshot));
      result.copied.push({ source: p.snapshot, id });
      opts.onEvent?.({ type: 'copied', source: p.snapshot, id });
    }
  } catch (err) {
    await saver.settle();
    throw err;
  } finally {
    await encoder.close();
  }
  result.stats = saver.stats;
  for (const [id, blobs] of dst.index.packs()) {
    if (!packsBefore.has(id)) result.newPacks.set(id, expectedPackSize(blobs));
  }
  return result;
}

/** The snapshots named, or all that pass the filter, oldest first and each once. */
async function selectSnapshots(src: Repository, opts: CopyOptions): Promise<Snapshot[]> {
  const filter = opts.filter ?? {};
  if (!opts.snapshots || opts.snapshots.length === 0) return src.listSnapshots(filter);
  const ids = await src.listIds('snapshots');
  const chosen = new Map<Id, Snapshot>();
  for (const ref of opts.snapshots) {
    const s =
      ref === 'latest'
        ? await src.findSnapshot('latest', filter)
        : await src.loadSnapshot(resolvePrefix(ref, ids, 'snapshot'));
    chosen.set(s.id, s);
  }
  return sortSnapshots([...chosen.values()]);
}

/**
 * The blobs under `root` that `dst` lacks, and the source packs holding them (each blob
 * from its first indexed copy). Trees seen for an earlier snapshot are not walked again.
 */
async function missingBlobs(
  src: Repository,
  dst: Repository,
  root: Id,
  visited: Set<Id>,
): Promise<{ blobs: Set<BlobKey>; packs: Id[]; bytes: number }> {
  const blobs = new Set<BlobKey>();
  const packs = new Set<Id>();
  let bytes = 0;
  const want = (type: 'tree' | 'data', id: Id): void => {
    const key = blobKey(type, id);
    if (blobs.has(key) || dst.index.has(id, type)) return;
    const loc = src.index.lookup(id, type);
    if (loc === undefined) {
      throw new ArcaError(
        'corrupt',
        `the source index does not know ${type} blob ${shortId(id)}: run 'arca check' on the source`,
      );
    }
    blobs.add(key);
    packs.add(loc.packId);
    bytes += loc.length;
  };
  await walkTrees(
    src,
    [root],
    (tree) => {
      if (visited.has(tree)) return false;
      visited.add(tree);
      return true;
    },
    (tree, nodes) => {
      want('tree', tree);
      for (const n of nodes) if (n.type === 'file') for (const id of n.content ?? []) want('data', id);
    },
  );
  return { blobs, packs: [...packs].sort(), bytes };
}

/** restic's `similarSnapshots`: everything but `parent` and `original` matches. */
export function similarSnapshots(a: SnapshotData, b: SnapshotData): boolean {
  const sameSet = (x: readonly string[] = [], y: readonly string[] = []): boolean =>
    x.length === y.length && y.every((v) => x.includes(v));
  const sameList = (x: readonly string[] = [], y: readonly string[] = []): boolean =>
    x.length === y.length && x.every((v, i) => v === y[i]);
  return (
    Date.parse(a.time) === Date.parse(b.time) &&
    sameNanos(a.time, b.time) &&
    a.tree === b.tree &&
    (a.hostname ?? '') === (b.hostname ?? '') &&
    (a.username ?? '') === (b.username ?? '') &&
    (a.uid ?? 0) === (b.uid ?? 0) &&
    (a.gid ?? 0) === (b.gid ?? 0) &&
    sameSet(a.paths, b.paths) &&
    sameSet(a.tags, b.tags) &&
    sameList(a.excludes, b.excludes)
  );
}

/** Compares the sub-millisecond digits, which Date.parse drops. */
function sameNanos(a: string, b: string): boolean {
  const frac = (t: string): string => (/\.(\d+)/.exec(t)?.[1] ?? '').padEnd(9, '0').slice(3, 9);
  return frac(a) === frac(b);
}

/** The snapshot as stored in the destination: no parent, `original` set, restic's field order. */
function copiedSnapshotData(s: Snapshot): SnapshotData {
  const { id, parent: _parent, ...rest } = s;
  const ordered: SnapshotData = {
    time: rest.time,
    tree: rest.tree,
    paths: rest.paths,
    hostname: rest.hostname,
    username: rest.username,
    uid: rest.uid,
    gid: rest.gid,
    excludes: rest.excludes,
    tags: rest.tags,
    original: rest.original ?? id,
    program_version: rest.program_version,
    summary: rest.summary,
  };
  // Fields restic does not know (none today) are kept rather than dropped.
  return { ...ordered, ...rest, original: ordered.original };
}
