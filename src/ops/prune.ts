/**
 * `prune`: removes data that no snapshot needs, deciding exactly as restic 0.14 decides
 * (`cmd/restic/cmd_prune.go`, `internal/repository/repack.go`) and writing in restic's order,
 * so that an interruption at any point leaves every snapshot restorable:
 *
 * 1. Load the index, then every snapshot, and walk every tree reachable from them. A snapshot
 *    or tree that cannot be loaded, a referenced blob the index does not know, a needed pack
 *    that is missing or a pack whose size does not match the index stops prune before it
 *    changes anything.
 * 2. Classify the packs ({@link planPrune}).
 * 3. Delete packs that no index names. They hold nothing a snapshot can reach (every reached
 *    blob was found in the index), and no backup can be writing them: the caller holds an
 *    exclusive lock.
 * 4. Repack: read the still-needed blobs of the chosen packs, authenticate and hash-check
 *    them, and store them in new packs, which get their own index file.
 * 5. Write a complete new index naming every remaining pack, then delete every old index file.
 * 6. Delete the packs that no index names any more.
 *
 * The interruption tests kill the process (`crashPoint`, test-only) at `prune-after-repack`
 * (step 4 done), `prune-after-index` (new index written), `prune-after-index-delete` (old
 * index files gone) and `prune-after-pack-delete` (first old pack gone).
 *
 * Until step 5 has finished, every old pack is still indexed; after it, every needed blob is
 * indexed in a pack that prune does not delete (checked before the index is written). A crash
 * in between leaves duplicates or unreferenced packs, which restic and arca accept.
 */
import pLimit from 'p-limit';
import { crashPoint } from '../crash_point.js';
import { poolEncoder } from '../engine/encode_pool.js';
import { ArcaError } from '../errors.js';
import { type BlobEncoder, inlineEncoder } from '../repo/blob_codec.js';
import { BlobSaver, defaultPackSize } from '../repo/blob_saver.js';
import { type Id, shortId } from '../repo/id.js';
import { encodeIndexFile, type IndexPack } from '../repo/index.js';
import { type BlobType, expectedPackSize, type PackedBlob } from '../repo/pack.js';
import { Repository } from '../repo/repository.js';
import type { Snapshot } from '../repo/snapshot.js';
import { saveUnpacked } from '../repo/unpacked.js';
import { type BlobKey, blobKey, fromBlobKey, repackBlobs } from './repack.js';
import { walkTrees } from './tree_walk.js';

/** How much unused space `--max-unused` tolerates after prune. */
export type MaxUnused =
  | { kind: 'unlimited' }
  | { kind: 'percent'; percent: number }
  | { kind: 'bytes'; bytes: number };

/** restic's default `--max-unused 5%`. */
export const defaultMaxUnused: MaxUnused = Object.freeze({ kind: 'percent', percent: 5 });

const sizeUnits: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3, t: 1024 ** 4 };

/** Parses restic's size syntax: whole bytes with an optional suffix b, k, m, g or t (binary multiples). */
export function parseSize(text: string, option: string): number {
  const m = /^(\d+)([bkmgt]?)$/i.exec(text);
  const bytes = m ? Number(m[1]) * (sizeUnits[(m[2] ?? '').toLowerCase()] ?? 1) : Number.NaN;
  if (!Number.isSafeInteger(bytes)) {
    throw new ArcaError(
      'usage',
      `invalid size ${JSON.stringify(text)} for ${option}: use whole bytes with an optional suffix k, m, g or t`,
    );
  }
  return bytes;
}

/** Parses `--max-unused`: `unlimited`, a percentage below 100 (`5%`, `2.5%`) or a size (`100M`). */
export function parseMaxUnused(text: string): MaxUnused {
  const t = text.trim();
  if (t === '') throw new ArcaError('usage', `invalid value for --max-unused: ${JSON.stringify(text)}`);
  if (t === 'unlimited') return { kind: 'unlimited' };
  if (t.endsWith('%')) {
    const digits = t.slice(0, -1);
    const percent = Number(digits);
    if (digits.trim() === '' || !Number.isFinite(percent)) {
      throw new ArcaError('usage', `invalid percentage ${JSON.stringify(text)} passed for --max-unused`);
    }
    if (percent < 0) throw new ArcaError('usage', 'percentage for --max-unused must be positive');
    if (percent >= 100) throw new ArcaError('usage', 'percentage for --max-unused must be below 100%');
    return { kind: 'percent', percent };
  }
  return { kind: 'bytes', bytes: parseSize(t, '--max-unused') };
}

/**
 * The unused bytes tolerated after prune when `used` bytes are in use (restic's
 * `maxUnusedBytes`): a percentage p of the repository is p/(100-p) of the used part.
 */
export function maxUnusedBytes(m: MaxUnused, used: number): number {
  switch (m.kind) {
    case 'unlimited':
      return Number.POSITIVE_INFINITY;
    case 'percent':
      return Math.floor((m.percent / (100 - m.percent)) * used);
    case 'bytes':
      return m.bytes;
  }
}

/** How prune decides, and what it may do. */
export interface PruneOptions {
  maxUnused?: MaxUnused;
  /** Stop choosing packs to repack once this many bytes are chosen (`--max-repack-size`). */
  maxRepackBytes?: number;
  /** Repack only tree packs (`--repack-cacheable-only`). */
  repackCacheableOnly?: boolean;
  /** Also repack packs below 80% of the target pack size (`--repack-small`). */
  repackSmall?: boolean;
  /** Repack packs holding uncompressed data blobs (`--repack-uncompressed`, repository v2). */
  repackUncompressed?: boolean;
  /** Plan and report, change nothing. */
  dryRun?: boolean;
  /** Target size of new packs (restic's `--pack-size`). */
  packSize?: number;
  /** Snapshots to treat as already gone (`forget --prune --dry-run`). */
  ignoreSnapshots?: ReadonlySet<Id>;
  onEvent?: (e: PruneEvent) => void;
}

/** What prune reports while it runs. */
export type PruneEvent =
  | { type: 'step'; message: string }
  | { type: 'warning'; message: string }
  | { type: 'planned'; plan: PrunePlan };

/** restic's prune statistics: blob counts, bytes (stored blob lengths; pack headers count as used) and pack counts. */
export interface PruneStats {
  blobs: {
    used: number;
    duplicate: number;
    unused: number;
    remove: number;
    repack: number;
    repackrm: number;
  };
  size: {
    used: number;
    duplicate: number;
    unused: number;
    remove: number;
    repack: number;
    repackrm: number;
    /** Bytes of pack files that no index names. */
    unref: number;
  };
  packs: {
    used: number;
    unused: number;
    partlyUsed: number;
    unref: number;
    keep: number;
    repack: number;
    remove: number;
  };
}

/** What prune will do. */
export interface PrunePlan {
  stats: PruneStats;
  /** Pack files no index names: deleted first. */
  removePacksFirst: Set<Id>;
  /** Packs whose needed blobs are copied to new packs before they are deleted. */
  repackPacks: Set<Id>;
  /** Packs holding no needed blob: deleted once the new index is written. */
  removePacks: Set<Id>;
  /** Packs the index names but the repository lacks, needed by nothing: left out of the new index. */
  ignorePacks: Set<Id>;
  /** Needed blobs that exist only in packs being repacked or removed: exactly what repacking copies. */
  keepBlobs: Set<BlobKey>;
}

/** What planning needs to know about the repository. */
export interface PruneInput {
  /** Every pack the index names, and its blobs. */
  index: ReadonlyMap<Id, readonly PackedBlob[]>;
  /** Every pack file in the repository and its size. */
  listed: ReadonlyMap<Id, number>;
  /** Every blob reachable from a snapshot. */
  used: ReadonlySet<BlobKey>;
  repoVersion: number;
}

interface _PackInfo {
  id: Id;
  usedBlobs: number;
  unusedBlobs: number;
  usedSize: number;
  unusedSize: number;
  type: BlobType | 'mixed' | undefined;
  /** Holds an uncompressed blob; after classification: must be repacked to compress it. */
  uncompressed: boolean;
}

/** Small packs below this share of the pack size are repack candidates (restic: 1/25, or 4/5 with `--repack-small`). */
function _targetPackSize(packSize: number, repackSmall: boolean): number {
  return repackSmall ? Math.floor(packSize / 5) * 4 : Math.floor(packSize / 25);
}

/** Packs below the target size are repacked only when there are at least this many (restic's rule). */
const minSmallPacks = 10;

/**
 * Decides, as restic 0.14 does, which packs to keep, delete and repack:
 * - every reached blob must be in the index, else prune refuses (the index is incomplete);
 * - of a blob stored several times one copy counts as used, preferably one in a pack that
 *   holds other used blobs; the others count as unused;
 * - packs no index names are deleted; packs with no used blob are deleted; a listed pack
 *   whose size differs from what the index implies and that holds used blobs is an error;
 *   indexed packs that are missing are an error when needed and are dropped from the index otherwise;
 * - fully used, unmixed packs (not needing compression) are kept, unless below the target
 *   size and at least 10 such small packs exist;
 * - the other packs are repack candidates, taken tree and mixed packs first, then small
 *   ones, then by falling unused/used ratio: tree, mixed and must-compress packs are always
 *   repacked, data packs until the unused bytes left drop below `--max-unused`; nothing more
 *   once `--max-repack-size` would be exceeded. `--repack-cacheable-only` keeps all data packs.
 * Iteration is by pack ID, so the outcome is deterministic (restic's map order is not).
 * Throws ArcaError `corrupt` when the repository is not safe to prune.
 */
export function planPrune(input: PruneInput, opts: PruneOptions = {}): PrunePlan {
  const stats: PruneStats = {
    blobs: { used: 0, duplicate: 0, unused: 0, remove: 0, repack: 0, repackrm: 0 },
    size: { used: 0, duplicate: 0, unused: 0, remove: 0, repack: 0, repackrm: 0, unref: 0 },
    packs: { used: 0, unused: 0, partlyUsed: 0, unref: 0, keep: 0, repack: 0, remove: 0 },
  };
  const packIds = [...input.index.keys()].filter((id) => input.index.get(id)!.length > 0).sort();
  const each = (fn: (packId: Id, b: PackedBlob, key: BlobKey) => void): void => {
    for (const packId of packIds)
      for (const b of input.index.get(packId)!) fn(packId, b, blobKey(b.type, b.id));
  };

  // The first copy of each needed blob is "used", further copies are duplicates.
  const notFound = new Set(input.used);
  const keepBlobs = new Set<BlobKey>();
  const duplicates = new Map<BlobKey, number>();
  each((_packId, b, key) => {
    if (notFound.delete(key)) {
      keepBlobs.add(key);
      stats.size.used += b.length;
      stats.blobs.used++;
    } else if (keepBlobs.has(key)) {
      duplicates.set(key, Math.min(255, (duplicates.get(key) ?? 1) + 1));
      stats.size.duplicate += b.length;
      stats.blobs.duplicate++;
    } else {
      stats.size.unused += b.length;
      stats.blobs.unused++;
    }
  });
  if (notFound.size > 0) {
    const examples = [...notFound].slice(0, 3).map((k) => {
      const { type, id } = fromBlobKey(k);
      return `${type} blob ${shortId(id)}`;
    });
    throw new ArcaError(
      'corrupt',
      `${notFound.size} blobs that snapshots reference are not in the index (${examples.join(', ')}${notFound.size > 3 ? ', …' : ''}): ` +
        'data seems to be missing. prune will not run, to prevent (additional) data loss; nothing was changed. ' +
        "Run 'arca check' to find out more.",
    );
  }

  const info = new Map<Id, _PackInfo>();
  for (const id of packIds) {
    const blobs = input.index.get(id)!;
    let lengths = 0;
    for (const b of blobs) lengths += b.length;
    info.set(id, {
      id,
      usedBlobs: 0,
      unusedBlobs: 0,
      usedSize: expectedPackSize(blobs) - lengths,
      unusedSize: 0,
      type: undefined,
      uncompressed: false,
    });
  }
  each((packId, b, key) => {
    const p = info.get(packId)!;
    p.type ??= b.type;
    if (p.type !== b.type) p.type = 'mixed';
    if (!duplicates.has(key)) {
      if (keepBlobs.has(key)) {
        p.usedSize += b.length;
        p.usedBlobs++;
      } else {
        p.unusedSize += b.length;
        p.unusedBlobs++;
      }
    }
    if (b.uncompressedLength === 0) p.uncompressed = true;
  });
  // One copy of each duplicate counts as used: the first found in a pack that already holds
  // used blobs, else the last copy.
  if (duplicates.size > 0) {
    each((packId, b, key) => {
      const count = duplicates.get(key);
      if (count === undefined) return;
      const p = info.get(packId)!;
      if (count !== 0 && (p.usedBlobs > 0 || count === 1)) {
        p.usedSize += b.length;
        p.usedBlobs++;
        duplicates.set(key, 0);
      } else {
        p.unusedSize += b.length;
        p.unusedBlobs++;
        if (count !== 0) duplicates.set(key, count - 1);
      }
    });
  }

  const packSize = opts.packSize ?? defaultPackSize;
  const target = _targetPackSize(packSize, opts.repackSmall === true);
  const total = (p: _PackInfo): number => p.usedSize + p.unusedSize;
  const removePacksFirst = new Set<Id>();
  const removePacks = new Set<Id>();
  const repackPacks = new Set<Id>();
  const candidates: _PackInfo[] = [];
  const smallCandidates: _PackInfo[] = [];
  for (const [id, size] of [...input.listed].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    const p = info.get(id);
    if (p === undefined) {
      removePacksFirst.add(id);
      stats.size.unref += size;
      continue;
    }
    info.delete(id);
    if (total(p) !== size && p.usedBlobs !== 0) {
      throw new ArcaError(
        'corrupt',
        `pack ${shortId(id)}: calculated size ${total(p)} does not match real size ${size}; ` +
          'prune will not run, nothing was changed. Rebuild the index (restic rebuild-index) first.',
      );
    }
    if (p.usedBlobs === 0) stats.packs.unused++;
    else if (p.unusedBlobs === 0) stats.packs.used++;
    else stats.packs.partlyUsed++;
    // In v2, uncompressed tree packs (and with --repack-uncompressed any pack) get compressed.
    p.uncompressed =
      input.repoVersion >= 2 && (p.type === 'tree' || opts.repackUncompressed === true) && p.uncompressed;
    if (p.usedBlobs === 0) {
      removePacks.add(id);
      stats.blobs.remove += p.unusedBlobs;
      stats.size.remove += p.unusedSize;
    } else if (opts.repackCacheableOnly && p.type === 'data') {
      stats.packs.keep++;
    } else if (p.unusedBlobs === 0 && p.type !== 'mixed' && !p.uncompressed) {
      if (size >= target) stats.packs.keep++;
      else smallCandidates.push(p);
    } else {
      candidates.push(p);
    }
  }

  // What is left in `info` is indexed but missing from the repository.
  const ignorePacks = new Set<Id>();
  const missingNeeded: Id[] = [];
  for (const p of info.values()) {
    if (p.usedBlobs === 0) {
      ignorePacks.add(p.id);
      stats.blobs.remove += p.unusedBlobs;
      stats.size.remove += p.unusedSize;
    } else {
      missingNeeded.push(p.id);
    }
  }
  if (missingNeeded.length > 0) {
    throw new ArcaError(
      'corrupt',
      `the index references ${missingNeeded.length} needed pack files which are missing from the repository ` +
        `(${missingNeeded.map(shortId).join(', ')}); prune will not run, nothing was changed`,
    );
  }

  // Too few small packs are not worth the trouble (and one small pack would be repacked forever).
  if (smallCandidates.length < minSmallPacks) stats.packs.keep += smallCandidates.length;
  else candidates.push(...smallCandidates);
  candidates.sort((a, b) => {
    if ((a.type === 'data') !== (b.type === 'data')) return a.type === 'data' ? 1 : -1;
    const aSmall = total(a) < target;
    if (aSmall !== total(b) < target) return aSmall ? -1 : 1;
    // Highest unused/used ratio first, compared without division (and exactly, in BigInt).
    const left = BigInt(a.unusedSize) * BigInt(b.usedSize);
    const right = BigInt(b.unusedSize) * BigInt(a.usedSize);
    if (left !== right) return left > right ? -1 : 1;
    return a.id < b.id ? -1 : 1;
  });

  const maxRepack = opts.maxRepackBytes ?? Number.POSITIVE_INFINITY;
  const maxUnusedAfter = maxUnusedBytes(opts.maxUnused ?? defaultMaxUnused, stats.size.used);
  for (const p of candidates) {
    // restic subtracts in uint64: a negative result wraps around and counts as huge.
    const unusedAfter = stats.size.unused - stats.size.remove - stats.size.repackrm;
    const reachedUnusedSizeAfter =
      maxUnusedAfter === Number.POSITIVE_INFINITY || (unusedAfter >= 0 && unusedAfter < maxUnusedAfter);
    if (stats.size.repack + total(p) >= maxRepack) {
      stats.packs.keep++;
    } else if (p.type !== 'data' || p.uncompressed || !(reachedUnusedSizeAfter && total(p) >= target)) {
      repackPacks.add(p.id);
      stats.blobs.repack += p.unusedBlobs + p.usedBlobs;
      stats.size.repack += total(p);
      stats.blobs.repackrm += p.unusedBlobs;
      stats.size.repackrm += p.unusedSize;
    } else {
      stats.packs.keep++;
    }
  }
  stats.packs.unref = removePacksFirst.size;
  stats.packs.repack = repackPacks.size;
  stats.packs.remove = removePacks.size;

  // Repacking copies only the needed blobs that no kept pack holds.
  if (repackPacks.size === 0) keepBlobs.clear();
  for (const id of packIds) {
    if (keepBlobs.size === 0) break;
    if (removePacks.has(id) || repackPacks.has(id) || ignorePacks.has(id)) continue;
    for (const b of input.index.get(id)!) keepBlobs.delete(blobKey(b.type, b.id));
  }
  return { stats, removePacksFirst, repackPacks, removePacks, ignorePacks, keepBlobs };
}

/**
 * Every blob reachable from `snapshots`: their trees, all subtrees and all file contents
 * (restic's `FindUsedBlobs`), each tree loaded (and verified) once. Throws ArcaError
 * `corrupt` naming the snapshot when a tree cannot be loaded.
 */
export async function findUsedBlobs(repo: Repository, snapshots: readonly Snapshot[]): Promise<Set<BlobKey>> {
  const used = new Set<BlobKey>();
  const snapshotOf = new Map<Id, Snapshot>();
  for (const s of snapshots) if (!snapshotOf.has(s.tree)) snapshotOf.set(s.tree, s);
  await walkTrees(
    repo,
    [...snapshotOf.keys()],
    (tree) => !used.has(blobKey('tree', tree)),
    (tree, nodes) => {
      used.add(blobKey('tree', tree));
      for (const node of nodes) {
        if (node.type === 'file') for (const id of node.content ?? []) used.add(blobKey('data', id));
      }
    },
    (err, tree, root) => {
      if (!(err instanceof ArcaError)) throw err;
      throw new ArcaError(
        'corrupt',
        `snapshot ${shortId((snapshotOf.get(root) as Snapshot).id)} cannot be read completely: tree ${shortId(tree)}: ${err.message}. ` +
          'prune will not run while a snapshot references missing or damaged data; nothing was changed. ' +
          "Run 'arca check' to find out more.",
        { cause: err },
      );
    },
  );
  return used;
}

/** What prune did. */
export interface PruneResult {
  plan: PrunePlan;
  packsWritten: number;
  indexFilesWritten: number;
  indexFilesDeleted: number;
  packsDeleted: number;
}

/**
 * Prunes the repository (see the module comment for the order of steps). The caller must
 * hold an exclusive lock. With `dryRun`, only plans. Throws ArcaError `corrupt`, before
 * deleting anything, when the snapshots or the index are incomplete.
 */
export async function prune(repo: Repository, opts: PruneOptions = {}): Promise<PruneResult> {
  const step = (message: string): void => opts.onEvent?.({ type: 'step', message });
  step('loading indexes...');
  await repo.loadIndex();
  step('loading all snapshots...');
  const snapshots = (await _loadSnapshots(repo)).filter((s) => !opts.ignoreSnapshots?.has(s.id));
  step(`finding data that is still in use for ${snapshots.length} snapshots`);
  const used = await findUsedBlobs(repo, snapshots);
  step('searching used packs...');
  const listed = new Map<Id, number>();
  for await (const fi of repo.backend.list('data')) listed.set(fi.name, fi.size);
  step('collecting packs for deletion and repacking');
  const plan = planPrune({ index: repo.index.packs(), listed, used, repoVersion: repo.version }, opts);
  if (plan.ignorePacks.size > 0) {
    const warn = (message: string): void => opts.onEvent?.({ type: 'warning', message });
    warn('Missing but unneeded pack files are referenced in the index, will be repaired');
    for (const id of plan.ignorePacks) warn(`will forget missing pack file ${id}`);
  }
  opts.onEvent?.({ type: 'planned', plan });
  const result: PruneResult = {
    plan,
    packsWritten: 0,
    indexFilesWritten: 0,
    indexFilesDeleted: 0,
    packsDeleted: 0,
  };
  if (opts.dryRun) return result;

  if (plan.removePacksFirst.size > 0) {
    step('deleting unreferenced packs');
    result.packsDeleted += await _deletePacks(repo, plan.removePacksFirst, opts);
  }
  let newPacks: ReadonlyMap<Id, readonly PackedBlob[]> = new Map();
  if (plan.repackPacks.size > 0) {
    step('repacking packs');
    newPacks = await _repack(repo, plan, opts);
    result.packsWritten = newPacks.size;
    crashPoint('prune-after-repack');
  }
  const dropped = new Set([...plan.removePacks, ...plan.repackPacks, ...plan.ignorePacks]);
  if (dropped.size > 0) {
    step('rebuilding index');
    const obsolete = await repo.listIds('index');
    const remaining: IndexPack[] = [];
    for (const [id, blobs] of repo.index.packs()) {
      if (!dropped.has(id) && blobs.length > 0) remaining.push({ id, blobs: blobs.map(_packed) });
    }
    for (const [id, blobs] of newPacks) remaining.push({ id, blobs: blobs.map(_packed) });
    _assertComplete(remaining, used);
    result.indexFilesWritten = await _writeIndex(repo, remaining);
    crashPoint('prune-after-index');
    step('deleting obsolete index files');
    for (const id of obsolete) {
      await repo.backend.remove({ type: 'index', name: id });
      result.indexFilesDeleted++;
    }
    crashPoint('prune-after-index-delete');
  }
  const old = new Set([...plan.removePacks, ...plan.repackPacks]);
  if (old.size > 0) {
    step(`removing ${old.size} old packs`);
    result.packsDeleted += await _deletePacks(repo, old, opts, () => crashPoint('prune-after-pack-delete'));
  }
  step('done');
  return result;
}

/** Every snapshot; one that cannot be read stops prune, since what it references is unknown. */
async function _loadSnapshots(repo: Repository): Promise<Snapshot[]> {
  try {
    return await repo.listSnapshots();
  } catch (err) {
    if (!(err instanceof ArcaError)) throw err;
    throw new ArcaError(
      'corrupt',
      `failed loading snapshot: ${err.message}; prune will not run, nothing was changed`,
      { cause: err },
    );
  }
}

function _packed(b: PackedBlob): PackedBlob {
  return {
    id: b.id,
    type: b.type,
    offset: b.offset,
    length: b.length,
    uncompressedLength: b.uncompressedLength,
  };
}

/** Last line of defence: the new index must name a copy of every needed blob. */
function _assertComplete(packs: readonly IndexPack[], used: ReadonlySet<BlobKey>): void {
  const indexed = new Set<BlobKey>();
  for (const p of packs) for (const b of p.blobs) indexed.add(blobKey(b.type, b.id));
  const lost = [...used].filter((k) => !indexed.has(k));
  if (lost.length === 0) return;
  const { type, id } = fromBlobKey(lost[0]!);
  throw new ArcaError(
    'corrupt',
    `internal error: ${lost.length} needed blobs (e.g. ${type} blob ${shortId(id)}) would not be in the new index; ` +
      'prune stopped before changing the index, nothing was deleted',
  );
}

/** restic starts a new index file after this many blobs. */
const indexMaxBlobs = 50_000;

/** Writes index files naming `packs`, whole packs per file; returns how many files. */
async function _writeIndex(repo: Repository, packs: readonly IndexPack[]): Promise<number> {
  let files = 0;
  let batch: IndexPack[] = [];
  let blobs = 0;
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    await saveUnpacked(repo.backend, repo.key, repo.version, 'index', encodeIndexFile(batch));
    files++;
    batch = [];
    blobs = 0;
  };
  for (const p of packs) {
    if (blobs > 0 && blobs + p.blobs.length > indexMaxBlobs) await flush();
    batch.push(p);
    blobs += p.blobs.length;
  }
  await flush();
  return files;
}

/** Pack deletions at once. */
const deleteConcurrency = 8;

/** Deletes packs; a failure is reported and skipped (the pack is merely left over, as restic does). */
async function _deletePacks(
  repo: Repository,
  ids: ReadonlySet<Id>,
  opts: PruneOptions,
  afterEach?: () => void,
): Promise<number> {
  const limit = pLimit(deleteConcurrency);
  let deleted = 0;
  await Promise.all(
    [...ids].sort().map((id) =>
      limit(async () => {
        try {
          await repo.backend.remove({ type: 'data', name: id });
          deleted++;
          afterEach?.();
        } catch (err) {
          opts.onEvent?.({
            type: 'warning',
            message: `unable to remove pack ${shortId(id)}: ${(err as Error).message ?? String(err)}`,
          });
        }
      }),
    ),
  );
  return deleted;
}

/** Below this many bytes to repack, blobs are encoded on the calling thread (workers take ~0.5 s to start). */
const poolMinBytes = 64 * 1024 * 1024;

/**
 * Copies `plan.keepBlobs` out of the packs being repacked into new packs (restic's `Repack`):
 * each blob is authenticated and hash-checked, then compressed and encrypted anew. A blob
 * that cannot be read where the plan found it is read from any other copy; if none is
 * readable, prune stops before touching the index. Returns the new packs (already indexed
 * by their own index file).
 */
async function _repack(
  repo: Repository,
  plan: PrunePlan,
  opts: PruneOptions,
): Promise<ReadonlyMap<Id, readonly PackedBlob[]>> {
  // A repository object with an empty index, so the saver does not skip blobs the old packs hold.
  const target = Repository.fromParts(repo.backend, repo.key, repo.keyId, repo.config);
  const encoder: BlobEncoder =
    plan.stats.size.repack >= poolMinBytes ? poolEncoder(repo.key) : inlineEncoder(repo.key);
  const saver = new BlobSaver(target, { encoder, packSize: opts.packSize });
  let failures: string[];
  try {
    failures = await repackBlobs(repo, [...plan.repackPacks].sort(), plan.keepBlobs, saver);
    await saver.flush();
  } catch (err) {
    await saver.settle();
    throw err;
  } finally {
    await encoder.close();
  }
  if (failures.length > 0) {
    throw new ArcaError(
      'corrupt',
      `cannot repack: ${failures.length} blobs that snapshots need cannot be read from any copy (${failures.slice(0, 3).join('; ')}); ` +
        "prune stopped before changing the index, nothing was deleted. Run 'arca check --read-data'.",
    );
  }
  return target.index.packs();
}
