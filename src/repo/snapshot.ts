import { ArcaError } from '../errors.js';
import type { Id } from './id.js';

/** What a backup run counted (restic ≥ 0.17 stores it in the snapshot). */
export interface SnapshotSummary {
  backup_start: string;
  backup_end: string;
  files_new: number;
  files_changed: number;
  files_unmodified: number;
  dirs_new: number;
  dirs_changed: number;
  dirs_unmodified: number;
  data_blobs: number;
  tree_blobs: number;
  data_added: number;
  data_added_packed: number;
  total_files_processed: number;
  total_bytes_processed: number;
}

/** A snapshot file's JSON, in restic's field order. */
export interface SnapshotData {
  time: string;
  parent?: Id;
  tree: Id;
  paths: string[];
  hostname?: string;
  username?: string;
  uid?: number;
  gid?: number;
  excludes?: string[];
  tags?: string[];
  original?: Id;
  program_version?: string;
  summary?: SnapshotSummary;
}

/** A snapshot and its ID (the storage ID of its file). */
export interface Snapshot extends SnapshotData {
  id: Id;
}

/** Parses a decrypted snapshot file. */
export function parseSnapshot(plain: Buffer, id: Id): Snapshot {
  let j: SnapshotData;
  try {
    j = JSON.parse(plain.toString('utf8')) as SnapshotData;
  } catch {
    throw new ArcaError('corrupt', `snapshot ${id.slice(0, 8)} is not valid JSON`);
  }
  if (!j || typeof j.tree !== 'string' || typeof j.time !== 'string') {
    throw new ArcaError('corrupt', `snapshot ${id.slice(0, 8)} has no tree or time`);
  }
  return { ...j, paths: Array.isArray(j.paths) ? j.paths : [], id };
}

/** Milliseconds since the epoch of a snapshot's time (for sorting and age). */
export function snapshotTimeMs(s: Pick<SnapshotData, 'time'>): number {
  return Date.parse(s.time);
}

/** Sorts snapshots oldest first, ties broken by ID so the order is stable. */
export function sortSnapshots<T extends Snapshot>(list: T[]): T[] {
  return list.sort(
    (a, b) => snapshotTimeMs(a) - snapshotTimeMs(b) || (a.id < b.id ? -1 : a.id > b.id ? 1 : 0),
  );
}

/** Filters as restic's `--host`, `--tag`, `--path` understand them. */
export interface SnapshotFilter {
  hosts?: string[];
  /** Each entry is a comma-separated list that must all be present; any entry may match. */
  tags?: string[];
  paths?: string[];
}

/** True when the snapshot passes the filter (restic semantics: OR over entries, AND within a tag list). */
export function matchesFilter(s: Snapshot, f: SnapshotFilter): boolean {
  if (f.hosts?.length && !f.hosts.includes(s.hostname ?? '')) return false;
  if (f.tags?.length) {
    const have = new Set(s.tags ?? []);
    const any = f.tags.some((list) =>
      list
        .split(',')
        .filter((t) => t !== '')
        .every((t) => have.has(t)),
    );
    if (!any) return false;
  }
  if (f.paths?.length) {
    const have = new Set(s.paths);
    if (!f.paths.every((p) => have.has(p))) return false;
  }
  return true;
}
