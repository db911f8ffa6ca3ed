import { crashPoint } from '../crash_point.js';
import { ArcaError } from '../errors.js';
import type { BlobEncoder, EncodedBlob } from './blob_codec.js';
import type { CompressionMode } from './compression.js';
import type { Id } from './id.js';
import { encodeIndexFile, type IndexPack } from './index.js';
import type { BlobType } from './pack.js';
import { type FinishedPack, Packer } from './packer.js';
import type { Repository } from './repository.js';
import { saveUnpacked } from './unpacked.js';

/** restic's default target pack size. */
export const defaultPackSize = 16 * 1024 * 1024;

/** Counters of what was added to the repository. */
export interface SaverStats {
  dataBlobs: number;
  treeBlobs: number;
  /** Plaintext bytes of new blobs. */
  dataAdded: number;
  /** Stored (compressed, encrypted) bytes of new blobs. */
  dataAddedPacked: number;
  packs: number;
  indexFiles: number;
}

/** Tuning and modes of a {@link BlobSaver}. */
export interface BlobSaverOptions {
  encoder: BlobEncoder;
  packSize?: number;
  compression?: CompressionMode;
  /** Do everything but store: count what would be added. */
  dryRun?: boolean;
  /** Packs uploaded at once. */
  uploads?: number;
  /** Plaintext bytes being encoded at once (bounds memory; default 12 MiB, a few chunks per thread). */
  inFlightBytes?: number;
  /** Write an index file after this many packs, so an interrupted run leaves reusable data behind. */
  indexEveryPacks?: number;
}

/**
 * Adds blobs to a repository: deduplicates against the index and against blobs already
 * queued, compresses and encrypts them (on worker threads), packs data and tree blobs
 * into separate packs, uploads full packs, and writes index files for them. Packs are
 * always stored before the index that names them, which is stored before any snapshot.
 */
export class BlobSaver {
  readonly stats: SaverStats = {
    dataBlobs: 0,
    treeBlobs: 0,
    dataAdded: 0,
    dataAddedPacked: 0,
    packs: 0,
    indexFiles: 0,
  };
  private readonly packers: Record<BlobType, Packer> = { data: new Packer('data'), tree: new Packer('tree') };
  private readonly queued = new Set<string>();
  private readonly encoding = new Set<Promise<void>>();
  private encodingBytes = 0;
  private waiters: (() => void)[] = [];
  private readonly uploading = new Set<Promise<void>>();
  private unindexed: IndexPack[] = [];
  private failure: unknown;
  private readonly packSize: number;
  private readonly compression: CompressionMode | 'none';

  constructor(
    private readonly repo: Repository,
    private readonly opts: BlobSaverOptions,
  ) {
    this.packSize = opts.packSize ?? defaultPackSize;
    this.compression = repo.version >= 2 ? (opts.compression ?? 'auto') : 'none';
  }

  /** How blobs of `type` are encoded in this repository. */
  compressionFor(type: BlobType): CompressionMode | 'none' {
    return type === 'tree' && this.compression !== 'none' ? 'auto' : this.compression;
  }

  /** True when blobs are encoded on other threads, which can hash them too ({@link saveUnhashed}). */
  get encodesOffThread(): boolean {
    return this.opts.encoder.offThread;
  }

  /** True when the repository (or this run) already has the blob. */
  has(type: BlobType, id: Id): boolean {
    return this.repo.index.has(id, type) || this.queued.has(type + id);
  }

  /**
   * Queues a blob whose ID the caller computed. Returns whether it was new. `plain` must not
   * be modified afterwards (it may be handed to a worker thread). Waits only when too much
   * work is already in flight. `done` is called once nothing reads `plain` any more (at once
   * when the blob is known or saving fails; else when it has been encoded).
   */
  async save(type: BlobType, id: Id, plain: Uint8Array, done?: () => void): Promise<boolean> {
    let started = false;
    try {
      this.throwIfFailed();
      if (this.has(type, id)) return false;
      this.queued.add(type + id);
      // Read the length now: handing `plain` to a worker detaches its buffer.
      const plainLength = plain.byteLength;
      await this.makeRoom(plainLength);
      const encoding = this.opts.encoder.encode(plain, this.compressionFor(type));
      started = true;
      if (done) encoding.then(done, done);
      this.track(
        plainLength,
        encoding.then(async (enc) => {
          this.record(type, id, enc, plainLength);
          if (this.packers[type].size >= this.packSize) await this.ship(type);
        }),
      );
      return true;
    } finally {
      if (!started) done?.();
    }
  }

  /** Computes the ID of `plain`, on an encoding thread when there is one. Same ownership rule as {@link save}. */
  hash(plain: Uint8Array): Promise<Id> {
    return this.opts.encoder.hash(plain);
  }

  /**
   * Queues a blob whose ID is not known yet: the encoding thread computes it along the way
   * (relieving the caller's thread of hashing), and a blob that turns out to be known is
   * dropped then. Meant for data that is most likely new (a file the parent snapshot does
   * not have). Resolves, once there is room, to the promise of its ID and whether it was new.
   */
  async saveUnhashed(
    type: BlobType,
    plain: Uint8Array,
  ): Promise<{ id: Promise<{ id: Id; stored: boolean }> }> {
    this.throwIfFailed();
    const plainLength = plain.byteLength;
    await this.makeRoom(plainLength);
    const result = this.opts.encoder
      .encodeHashed(plain, this.compressionFor(type))
      .then(async ({ id, blob }) => {
        if (this.has(type, id)) return { id, stored: false };
        this.queued.add(type + id);
        this.record(type, id, blob, plainLength);
        if (this.packers[type].size >= this.packSize) await this.ship(type);
        return { id, stored: true };
      });
    this.track(plainLength, result);
    return { id: result };
  }

  /** Waits while too many plaintext bytes are being encoded. */
  private async makeRoom(plainLength: number): Promise<void> {
    while (
      this.encoding.size > 0 &&
      this.encodingBytes + plainLength > (this.opts.inFlightBytes ?? 12 * 1024 * 1024)
    ) {
      this.opts.encoder.flush();
      // Thousands of small blobs may be in flight: wait for any one to finish without
      // racing all their promises (which would cost time proportional to their number).
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
    this.throwIfFailed();
  }

  /** Counts an encoding in flight until it settles; its failure fails the saver. */
  private track(plainLength: number, work: Promise<unknown>): void {
    this.encodingBytes += plainLength;
    const p: Promise<void> = work
      .then(
        () => {},
        (err: unknown) => {
          this.failure ??= err;
        },
      )
      .finally(() => {
        this.encoding.delete(p);
        this.encodingBytes -= plainLength;
        const waiting = this.waiters;
        this.waiters = [];
        for (const w of waiting) w();
      });
    this.encoding.add(p);
  }

  /**
   * Adds a blob that was already encoded elsewhere (a worker that read a small file).
   * Returns false, dropping it, when the repository or this run already has the blob.
   */
  async addEncoded(type: BlobType, id: Id, blob: EncodedBlob, plainLength: number): Promise<boolean> {
    this.throwIfFailed();
    if (this.has(type, id)) return false;
    this.queued.add(type + id);
    this.record(type, id, blob, plainLength);
    const packer = this.packers[type];
    if (packer.size >= this.packSize) await this.ship(type);
    this.throwIfFailed();
    return true;
  }

  private record(type: BlobType, id: Id, enc: EncodedBlob, plainLength: number): void {
    this.packers[type].add(id, enc.sealed, enc.uncompressedLength);
    if (type === 'data') this.stats.dataBlobs++;
    else this.stats.treeBlobs++;
    this.stats.dataAdded += plainLength;
    this.stats.dataAddedPacked += enc.sealed.length;
  }

  /** Finishes the open packer of `type` and starts its upload (bounded concurrency). */
  private async ship(type: BlobType): Promise<void> {
    const packer = this.packers[type];
    if (packer.count === 0) return;
    this.packers[type] = new Packer(type);
    const pack = packer.finish(this.repo.key);
    while (this.uploading.size >= (this.opts.uploads ?? 2)) await Promise.race(this.uploading);
    const u = this.upload(pack)
      .catch((err: unknown) => {
        this.failure ??= err;
      })
      .finally(() => this.uploading.delete(u));
    this.uploading.add(u);
  }

  private async upload(pack: FinishedPack): Promise<void> {
    if (!this.opts.dryRun) await this.repo.backend.save({ type: 'data', name: pack.id }, pack.data);
    if (this.stats.packs === 0) crashPoint('backup-after-first-pack');
    this.stats.packs++;
    this.repo.index.addPack(pack.id, pack.blobs);
    for (const b of pack.blobs) this.queued.delete(b.type + b.id);
    this.unindexed.push({ id: pack.id, blobs: pack.blobs });
    if (this.unindexed.length >= (this.opts.indexEveryPacks ?? 64)) await this.writeIndex();
  }

  /** Stores an index file for the packs uploaded since the last one. */
  private async writeIndex(): Promise<void> {
    if (this.unindexed.length === 0) return;
    const packs = this.unindexed;
    this.unindexed = [];
    if (!this.opts.dryRun) {
      await saveUnpacked(
        this.repo.backend,
        this.repo.key,
        this.repo.version,
        'index',
        encodeIndexFile(packs),
      );
    }
    this.stats.indexFiles++;
  }

  /**
   * Waits for every queued blob, uploads the last packs and writes their index. After it
   * returns, everything saved so far is durable and indexed.
   */
  async flush(): Promise<void> {
    this.opts.encoder.flush();
    while (this.encoding.size > 0) await Promise.all(this.encoding);
    this.throwIfFailed();
    await this.ship('data');
    await this.ship('tree');
    while (this.uploading.size > 0) await Promise.all(this.uploading);
    this.throwIfFailed();
    crashPoint('backup-before-index');
    await this.writeIndex();
  }

  /**
   * After a failure elsewhere: waits until nothing this saver started is still encoding or
   * uploading (their errors are dropped), so no pack is written after the caller gives up
   * its lock and closes the backend. Stores no index and starts no new pack.
   */
  async settle(): Promise<void> {
    this.failure ??= new ArcaError('interrupted', 'saving was abandoned');
    this.opts.encoder.flush();
    while (this.encoding.size > 0 || this.uploading.size > 0) {
      await Promise.allSettled([...this.encoding, ...this.uploading]);
    }
  }

  private throwIfFailed(): void {
    if (this.failure === undefined) return;
    const err = this.failure;
    if (err instanceof ArcaError) throw err;
    throw new ArcaError('io', `saving to the repository failed: ${(err as Error).message ?? String(err)}`, {
      cause: err,
    });
  }
}
