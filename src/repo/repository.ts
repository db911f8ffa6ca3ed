import pLimit from 'p-limit';
import type { Backend } from '../backend/backend.js';
import { CachedBackend } from '../backend/cache.js';
import { ArcaError } from '../errors.js';
import { decompressInto } from './compression.js';
import { parseConfig, type RepoConfig } from './config.js';
import { type MasterKey, open } from './crypto.js';
import { hashId, type Id, resolvePrefix, shortId } from './id.js';
import { type BlobLocation, MasterIndex, parseIndexFile } from './index.js';
import { openKey } from './key.js';
import { Lock, type LockData } from './lock.js';
import type { BlobType } from './pack.js';
import {
  matchesFilter,
  parseSnapshot,
  type Snapshot,
  type SnapshotFilter,
  sortSnapshots,
} from './snapshot.js';
import { type Node, parseTree } from './tree.js';
import { loadUnpacked, saveUnpacked, type UnpackedType } from './unpacked.js';

/** How many files are fetched at once when loading many small files (index, snapshots). */
const loadConcurrency = 8;

/** Something that went wrong with one file while loading many; the rest still loaded. */
export interface LoadProblem {
  what: string;
  error: Error;
}

/** An opened repository: its config, master key and (once loaded) index. */
/** Memory for whole tree packs kept by a repository (restic's are at most 16 MiB each by default). */
const treePacksMaxBytes = 64 * 1024 * 1024;

/** A tree pack kept in memory: its load, and its size once loaded. */
interface _TreePack {
  loaded: Promise<Buffer>;
  bytes?: number;
}

export class Repository {
  readonly index = new MasterIndex();
  private indexLoading: Promise<void> | undefined;
  /** Whole packs of tree blobs, least recently used first ({@link treeBlobBytes}). */
  private readonly treePacks = new Map<Id, _TreePack>();

  private constructor(
    readonly backend: Backend,
    readonly key: MasterKey,
    readonly keyId: Id,
    readonly config: RepoConfig,
  ) {}

  /**
   * Opens the repository at `backend` with `password`: finds a key that fits and reads
   * the config. Throws `no-repository` when there is none there.
   */
  static async open(
    backend: Backend,
    password: string,
    opts: { keyHint?: string } = {},
  ): Promise<Repository> {
    try {
      await backend.stat({ type: 'config', name: '' });
    } catch (err) {
      if (err instanceof ArcaError && err.code === 'not-found') {
        throw new ArcaError(
          'no-repository',
          `there is no repository at ${backend.location} (no config file)`,
        );
      }
      throw err;
    }
    const k = await openKey(backend, password, opts.keyHint);
    return Repository.openUnlocked(backend, { master: k.master, id: k.id });
  }

  /**
   * Opens the repository at `backend` with a key unlocked before (from {@link unlockedKey}),
   * skipping the key derivation: for a process that opens the same repository many times.
   * The config is read again, so a key of another repository is refused.
   */
  static async openUnlocked(backend: Backend, key: { master: MasterKey; id: Id }): Promise<Repository> {
    const plain = await loadUnpacked(backend, key.master, 2, 'config', '');
    const repo = new Repository(backend, key.master, key.id, parseConfig(plain));
    if (backend instanceof CachedBackend) {
      await backend.attach(repo.config.id);
      // Packs of tree blobs are what ls, restore and the next backup read again and again.
      backend.setMetadataPacks((pack) => repo.index.packs().get(pack)?.[0]?.type === 'tree');
    }
    return repo;
  }

  /** The unlocked key, for {@link openUnlocked}. Keep it in memory only. */
  unlockedKey(): { master: MasterKey; id: Id } {
    return { master: this.key, id: this.keyId };
  }

  /** Wraps an already-known key and config (used by `init`). */
  static fromParts(backend: Backend, key: MasterKey, keyId: Id, config: RepoConfig): Repository {
    return new Repository(backend, key, keyId, config);
  }

  /** The repository format version. */
  get version(): number {
    return this.config.version;
  }

  /** Loads and decrypts an index, snapshot or lock file. */
  loadUnpacked(type: UnpackedType, id: Id): Promise<Buffer> {
    return loadUnpacked(this.backend, this.key, this.version, type, id);
  }

  /** Stores a JSON document as an unpacked file (compressed in v2); returns its ID. */
  saveJsonUnpacked(type: UnpackedType, doc: unknown): Promise<Id> {
    return saveUnpacked(this.backend, this.key, this.version, type, Buffer.from(JSON.stringify(doc)));
  }

  /** Every file ID of one type. */
  async listIds(type: 'keys' | 'locks' | 'snapshots' | 'index' | 'data'): Promise<Id[]> {
    const ids: Id[] = [];
    for await (const fi of this.backend.list(type)) ids.push(fi.name);
    return ids.sort();
  }

  /**
   * Loads and merges every index file. Index files named in another's `supersedes` are
   * skipped. Problems are thrown, unless `onProblem` collects them (as `check` does).
   */
  loadIndex(onProblem?: (p: LoadProblem) => void): Promise<void> {
    this.indexLoading ??= this.readIndexFiles(onProblem);
    return this.indexLoading;
  }

  private async readIndexFiles(onProblem?: (p: LoadProblem) => void): Promise<void> {
    const files = await this.loadEach('index', 'index', onProblem, async (id) => ({
      id,
      file: parseIndexFile(await this.loadUnpacked('index', id), id, this.version),
    }));
    const superseded = new Set<Id>();
    for (const f of files) for (const s of f?.file.supersedes ?? []) superseded.add(s);
    for (const f of files) if (f && !superseded.has(f.id)) this.index.addFile(f.file);
  }

  /**
   * Reads one blob: fetches it from its pack, authenticates, decrypts, decompresses and
   * checks its SHA-256. Falls back to other copies when one is damaged.
   */
  async loadBlob(id: Id, type: BlobType): Promise<Buffer> {
    await this.loadIndex();
    const locations = this.index.lookupAll(id).filter((l) => l.type === type);
    if (locations.length === 0)
      throw new ArcaError('not-found', `${type} blob ${shortId(id)} is not in the index`);
    let firstError: unknown;
    for (const loc of locations) {
      try {
        const raw =
          type === 'tree'
            ? await this.treeBlobBytes(loc)
            : await this.backend.load({ type: 'data', name: loc.packId }, loc.offset, loc.length);
        return this.decodeBlob(loc, raw);
      } catch (err) {
        // A damaged download must not stay in memory for the trees after this one.
        if (type === 'tree') this.dropTreePack(loc.packId);
        firstError ??= err;
      }
    }
    throw firstError;
  }

  /**
   * A tree blob's stored bytes, from its whole pack kept in memory: walking a snapshot (check,
   * restore, the next backup's parent) reads most trees of a pack one after the other, and one
   * read per pack instead of an open, read and close per tree made those walks much faster.
   * At most {@link treePacksMaxBytes} of packs are kept, least recently used dropped first.
   */
  private async treeBlobBytes(loc: BlobLocation): Promise<Buffer> {
    let entry = this.treePacks.get(loc.packId);
    if (entry) {
      this.treePacks.delete(loc.packId);
      this.treePacks.set(loc.packId, entry);
    } else {
      const loaded = this.backend.load({ type: 'data', name: loc.packId });
      const fresh: _TreePack = { loaded };
      entry = fresh;
      this.treePacks.set(loc.packId, fresh);
      loaded.then(
        (buf) => {
          // Dropped meanwhile (evicted, or its load failed elsewhere): nothing to count.
          if (this.treePacks.get(loc.packId) !== fresh) return;
          fresh.bytes = buf.length;
          this.evictTreePacks(fresh);
        },
        () => this.dropTreePack(loc.packId, fresh),
      );
    }
    const buf = await entry.loaded;
    if (loc.offset + loc.length > buf.length) {
      throw new ArcaError('corrupt', `pack ${shortId(loc.packId)} ends before tree blob ${shortId(loc.id)}`);
    }
    return buf.subarray(loc.offset, loc.offset + loc.length);
  }

  /** Drops the least recently used loaded packs (never `keep`) while more than the limit is kept. */
  private evictTreePacks(keep: _TreePack): void {
    let total = 0;
    for (const e of this.treePacks.values()) total += e.bytes ?? 0;
    for (const [id, e] of this.treePacks) {
      if (total <= treePacksMaxBytes) break;
      // Packs still loading are counted once they arrive.
      if (e === keep || e.bytes === undefined) continue;
      total -= e.bytes;
      this.treePacks.delete(id);
    }
  }

  /** Forgets a kept pack (a failed load, or bytes that did not decode: the next read fetches it again). */
  private dropTreePack(packId: Id, entry?: _TreePack): void {
    if (entry === undefined || this.treePacks.get(packId) === entry) this.treePacks.delete(packId);
  }

  /** Turns a blob's stored bytes into its verified plaintext. */
  decodeBlob(loc: BlobLocation, raw: Buffer): Buffer {
    return decodeBlob(this.key, loc, raw);
  }

  /** Loads and decodes a tree. */
  async loadTree(id: Id): Promise<Node[]> {
    return parseTree(await this.loadBlob(id, 'tree'), id);
  }

  /** Loads one snapshot by full ID. */
  async loadSnapshot(id: Id): Promise<Snapshot> {
    return parseSnapshot(await this.loadUnpacked('snapshots', id), id);
  }

  /**
   * Loads every file of one type a few at a time. A damaged one (an ArcaError) is reported
   * through `onProblem` and skipped, or thrown when there is no `onProblem`.
   */
  private async loadEach<T>(
    type: 'index' | 'snapshots',
    what: string,
    onProblem: ((p: LoadProblem) => void) | undefined,
    load: (id: Id) => Promise<T>,
  ): Promise<(T | undefined)[]> {
    const limit = pLimit(loadConcurrency);
    return Promise.all(
      (await this.listIds(type)).map((id) =>
        limit(async () => {
          try {
            return await load(id);
          } catch (err) {
            if (!onProblem || !(err instanceof ArcaError)) throw err;
            onProblem({ what: `${what} ${shortId(id)}`, error: err });
            return undefined;
          }
        }),
      ),
    );
  }

  /** Every snapshot, oldest first; damaged ones are reported through `onProblem` or thrown. */
  async listSnapshots(
    filter: SnapshotFilter = {},
    onProblem?: (p: LoadProblem) => void,
  ): Promise<Snapshot[]> {
    const loaded = await this.loadEach('snapshots', 'snapshot', onProblem, (id) => this.loadSnapshot(id));
    return sortSnapshots(loaded.filter((s): s is Snapshot => s !== undefined && matchesFilter(s, filter)));
  }

  /** Finds a snapshot by ID, unique prefix or `latest` (the newest that passes the filter). */
  async findSnapshot(ref: string, filter: SnapshotFilter = {}): Promise<Snapshot> {
    if (ref === 'latest') {
      const all = await this.listSnapshots(filter);
      const newest = all[all.length - 1];
      if (!newest) throw new ArcaError('not-found', 'no snapshot found (for "latest")');
      return newest;
    }
    return this.loadSnapshot(resolvePrefix(ref, await this.listIds('snapshots'), 'snapshot'));
  }

  /** Every lock file, decoded; unreadable ones are skipped (restic does the same). */
  async listLocks(): Promise<{ id: Id; lock: LockData }[]> {
    const out: { id: Id; lock: LockData }[] = [];
    for (const id of await this.listIds('locks')) {
      try {
        out.push({
          id,
          lock: JSON.parse((await this.loadUnpacked('locks', id)).toString('utf8')) as LockData,
        });
      } catch (err) {
        if (!(err instanceof ArcaError)) throw err;
      }
    }
    return out;
  }

  /**
   * Takes a shared or exclusive lock on the repository (restic-compatible). With `loadIndex`
   * the index is loaded during the wait that taking a lock involves (~0.2 s), instead of after
   * it; its problems surface at the next {@link loadIndex} call.
   */
  lock(exclusive: boolean, opts: { loadIndex?: boolean } = {}): Promise<Lock> {
    return Lock.acquire(
      this,
      exclusive,
      opts.loadIndex
        ? () => {
            this.loadIndex().catch(() => {});
          }
        : undefined,
    );
  }
}

/**
 * Turns a blob's stored bytes into its verified plaintext: authenticates and decrypts,
 * decompresses when the index says so, and checks the SHA-256 against the blob ID.
 * A free function so that worker threads, which have a key but no repository, can use it.
 * The plaintext goes into `into` when that is large enough, else into a new buffer.
 */
export function decodeBlob(key: MasterKey, loc: BlobLocation, raw: Buffer, into?: Buffer): Buffer {
  const what = `${loc.type} blob ${shortId(loc.id)} in pack ${shortId(loc.packId)}`;
  let plain: Buffer;
  if (loc.uncompressedLength > 0) {
    // The compressed bytes live only until decompressed: decrypt them into this thread's scratch
    // buffer instead of a new one per blob.
    if (_sealedScratch.length < raw.length) _sealedScratch = grown(_sealedScratch, raw.length);
    const n = loc.uncompressedLength;
    plain = into && into.length >= n ? into.subarray(0, n) : Buffer.allocUnsafe(n);
    decompressInto(open(key, raw, what, _sealedScratch), what, plain);
  } else {
    plain = open(key, raw, what, into);
  }
  if (hashId(plain) !== loc.id) throw new ArcaError('corrupt', `${what}: content does not match its ID`);
  return plain;
}

/**
 * {@link decodeBlob} into this thread's scratch buffer, for a caller that is done with the
 * plaintext before it decodes the next blob (verifying, writing it out at once): no allocation
 * per blob. The result is valid only until the next call on this thread.
 */
export function decodeBlobToScratch(key: MasterKey, loc: BlobLocation, raw: Buffer): Buffer {
  const need = Math.max(loc.uncompressedLength, raw.length);
  // An odd huge blob (a tree of a vast directory) gets a buffer of its own, not a scratch buffer kept for good.
  if (need > scratchKeptBytes) return decodeBlob(key, loc, raw);
  if (_plainScratch.length < need) _plainScratch = grown(_plainScratch, need);
  return decodeBlob(key, loc, raw, _plainScratch);
}

/** Scratch buffers grow to this size at most (data chunks are at most 8 MiB). */
const scratchKeptBytes = 16 * 1024 * 1024;

/** A buffer of at least `need` bytes, up to twice `old`'s size (so a thread reallocates rarely). */
function grown(old: Buffer, need: number): Buffer {
  return Buffer.allocUnsafeSlow(Math.max(need, Math.min(2 * old.length, scratchKeptBytes)));
}

let _sealedScratch: Buffer = Buffer.alloc(0);
let _plainScratch: Buffer = Buffer.alloc(0);
