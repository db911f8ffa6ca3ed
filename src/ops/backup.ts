import os from 'node:os';
import path from 'node:path';
import { crashPoint } from '../crash_point.js';
import {
  type ArchiveOptions,
  type ArchiveProblem,
  type ArchiveProgress,
  Archiver,
  type ArchiveStats,
} from '../engine/archiver.js';
import { chunkFile } from '../engine/chunker.js';
import { poolEncoder } from '../engine/encode_pool.js';
import { goTimeString } from '../engine/fs_node.js';
import { inlineSmallFileReader } from '../engine/small_file.js';
import { ArcaError } from '../errors.js';
import { type BlobEncoder, inlineEncoder } from '../repo/blob_codec.js';
import { BlobSaver, type SaverStats } from '../repo/blob_saver.js';
import type { CompressionMode } from '../repo/compression.js';
import { hashId, type Id } from '../repo/id.js';
import { adoptOrphanPacks, type OrphanReport } from '../repo/orphan_packs.js';
import { parsePolynomial } from '../repo/polynomial.js';
import type { Repository } from '../repo/repository.js';
import { type Snapshot, type SnapshotData, type SnapshotSummary, snapshotTimeMs } from '../repo/snapshot.js';
import { encodeTree, type Node } from '../repo/tree.js';
import { version } from '../version.js';

/** What to back up and how. */
export interface BackupOptions extends Omit<ArchiveOptions, 'parentTree' | 'onProgress'> {
  /** Paths as the user typed them; or a stream with `stdin`. */
  paths: string[];
  stdin?: { stream: AsyncIterable<Uint8Array>; filename: string };
  tags?: string[];
  host?: string;
  /** Snapshot to compare against; default: the newest one with the same host and paths. */
  parent?: Id;
  /** Read every file again, ignoring any parent. */
  force?: boolean;
  dryRun?: boolean;
  compression?: CompressionMode;
  packSize?: number;
  /** Patterns recorded in the snapshot's `excludes`. */
  excludes?: string[];
  /** Use worker threads for compression and encryption (default true). */
  workers?: boolean;
  /** The snapshot's time (default: now). */
  time?: Date;
  onProgress?: (p: ArchiveProgress) => void;
}

/** What a backup did. */
export interface BackupResult {
  snapshot: Snapshot | undefined;
  parent: Id | undefined;
  stats: ArchiveStats;
  saver: SaverStats;
  problems: ArchiveProblem[];
  seconds: number;
  /** Packs of an interrupted earlier run that were indexed and reused. */
  orphans: OrphanReport;
}

/**
 * Backs up paths (or a stream) into the repository: archives them against the parent
 * snapshot, stores new blobs, writes the index and then the snapshot. Nothing is
 * written when `dryRun` is set. The caller holds a shared lock.
 */
export async function backup(repo: Repository, opts: BackupOptions): Promise<BackupResult> {
  const started = Date.now();
  const time = opts.time ?? new Date();
  await repo.loadIndex();
  const orphans = await adoptOrphanPacks(repo, { dryRun: opts.dryRun });
  const host = opts.host ?? os.hostname();
  const absPaths = opts.stdin ? [`/${opts.stdin.filename}`] : opts.paths.map((p) => path.resolve(p));
  if (!opts.stdin && absPaths.length === 0)
    throw new ArcaError('usage', 'nothing to back up: give at least one path');
  const parent =
    opts.force || opts.stdin ? undefined : await findParent(repo, opts.parent, host, absPaths, time);
  const pool = opts.workers === false ? undefined : poolEncoder(repo.key);
  const encoder: BlobEncoder = pool ?? inlineEncoder(repo.key);
  const reader = pool ?? inlineSmallFileReader(repo.key);
  const saver = new BlobSaver(repo, {
    encoder,
    compression: opts.compression,
    packSize: opts.packSize,
    dryRun: opts.dryRun,
  });
  let archived: { tree: Id; stats: ArchiveStats; problems: ArchiveProblem[] };
  try {
    if (opts.stdin) {
      archived = await archiveStream(repo, saver, opts.stdin, time);
    } else {
      const archiver = new Archiver(repo, saver, reader, {
        ...opts,
        parentTree: parent?.tree,
        onProgress: opts.onProgress,
      });
      archived = await archiver.archive(opts.paths);
    }
    await saver.flush();
  } catch (err) {
    await saver.settle();
    throw err;
  } finally {
    await encoder.close();
  }
  const end = new Date();
  const u = os.userInfo();
  const summary: SnapshotSummary = {
    backup_start: time.toISOString(),
    backup_end: end.toISOString(),
    files_new: archived.stats.filesNew,
    files_changed: archived.stats.filesChanged,
    files_unmodified: archived.stats.filesUnmodified,
    dirs_new: archived.stats.dirsNew,
    dirs_changed: archived.stats.dirsChanged,
    dirs_unmodified: archived.stats.dirsUnmodified,
    data_blobs: saver.stats.dataBlobs,
    tree_blobs: saver.stats.treeBlobs,
    data_added: saver.stats.dataAdded,
    data_added_packed: saver.stats.dataAddedPacked,
    total_files_processed: archived.stats.totalFiles,
    total_bytes_processed: archived.stats.totalBytes,
  };
  const data: SnapshotData = {
    time: goTimeString(BigInt(time.getTime()) * 1_000_000n),
    ...(parent ? { parent: parent.id } : {}),
    tree: archived.tree,
    paths: absPaths,
    hostname: host,
    username: u.username,
    uid: u.uid,
    gid: u.gid,
    ...(opts.excludes?.length ? { excludes: opts.excludes } : {}),
    ...(opts.tags?.length ? { tags: opts.tags } : {}),
    program_version: `arca ${version}`,
    summary,
  };
  let snapshot: Snapshot | undefined;
  crashPoint('backup-before-snapshot');
  if (!opts.dryRun) snapshot = { ...data, id: await repo.saveJsonUnpacked('snapshots', data) };
  return {
    snapshot,
    parent: parent?.id,
    stats: archived.stats,
    saver: saver.stats,
    problems: archived.problems,
    seconds: (Date.now() - started) / 1000,
    orphans,
  };
}

/** The parent snapshot: the one given, or the newest with the same host and paths that is not newer than this backup (restic's rule). */
async function findParent(
  repo: Repository,
  given: Id | undefined,
  host: string,
  paths: string[],
  time: Date,
): Promise<Snapshot | undefined> {
  if (given) return repo.findSnapshot(given);
  const want = [...paths].sort().join('\0');
  const candidates = (await repo.listSnapshots({ hosts: [host] })).filter(
    (s) => [...s.paths].sort().join('\0') === want && snapshotTimeMs(s) <= time.getTime(),
  );
  return candidates[candidates.length - 1];
}

/** Stores a stream as a snapshot holding one file, as `restic backup --stdin` does. */
async function archiveStream(
  repo: Repository,
  saver: BlobSaver,
  stdin: { stream: AsyncIterable<Uint8Array>; filename: string },
  time: Date,
): Promise<{ tree: Id; stats: ArchiveStats; problems: ArchiveProblem[] }> {
  if (stdin.filename === '' || stdin.filename.includes('/')) {
    throw new ArcaError(
      'usage',
      `invalid --stdin-filename ${JSON.stringify(stdin.filename)}: a plain file name is needed`,
    );
  }
  const content: Id[] = [];
  let size = 0;
  // Wrapped in a generator so a stream with an fd (process.stdin) is read as a stream.
  const pieces = (async function* () {
    yield* stdin.stream;
  })();
  for await (const chunk of chunkFile(pieces, parsePolynomial(repo.config.chunker_polynomial))) {
    const id = hashId(chunk);
    content.push(id);
    size += chunk.length;
    if (!saver.has('data', id)) await saver.save('data', id, new Uint8Array(chunk));
  }
  const t = goTimeString(BigInt(time.getTime()) * 1_000_000n);
  const u = os.userInfo();
  const node: Node = {
    name: Buffer.from(stdin.filename),
    type: 'file',
    mode: 0o644,
    mtime: t,
    atime: t,
    ctime: t,
    uid: u.uid,
    gid: u.gid,
    size,
    content,
  };
  const tree = encodeTree([node]);
  const treeId = hashId(tree);
  await saver.save('tree', treeId, tree);
  return {
    tree: treeId,
    stats: {
      filesNew: 1,
      filesChanged: 0,
      filesUnmodified: 0,
      dirsNew: 0,
      dirsChanged: 0,
      dirsUnmodified: 0,
      totalFiles: 1,
      totalBytes: size,
    },
    problems: [],
  };
}
