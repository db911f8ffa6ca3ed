import pLimit, { type LimitFunction } from 'p-limit';
import type { Backend, FileInfo, FileType, Handle } from './backend.js';

/** How much of the network a repository may use. */
export interface TransferLimits {
  /** Operations in flight at once. */
  connections: number;
  /** Upload bandwidth in KiB/s; undefined means unlimited. */
  uploadKiBs?: number;
  /** Download bandwidth in KiB/s; undefined means unlimited. */
  downloadKiBs?: number;
}

/**
 * A token bucket over bytes: `take(n)` resolves once `n` bytes fit in the rate. Whole files
 * are charged at once, so the rate holds on average over a file or two, not within one.
 */
export class ByteRate {
  private nextFree = 0;

  constructor(
    private readonly bytesPerSecond: number,
    private readonly now: () => number = () => performance.now(),
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  /** Waits until `bytes` more may pass without exceeding the rate. */
  async take(bytes: number): Promise<void> {
    const now = this.now();
    const start = Math.max(now, this.nextFree);
    this.nextFree = start + (bytes / this.bytesPerSecond) * 1000;
    if (start > now) await this.sleep(start - now);
  }
}

/**
 * Bounds concurrent operations (uploads, downloads, stats, removals; listings run outside
 * the bound, since they hold no connection while the caller consumes them) and, when
 * asked, the upload and download bandwidth.
 */
export class LimitedBackend implements Backend {
  private readonly slots: LimitFunction;
  private readonly up: ByteRate | undefined;
  private readonly down: ByteRate | undefined;

  constructor(
    private readonly inner: Backend,
    limits: TransferLimits,
  ) {
    this.slots = pLimit(Math.max(1, limits.connections));
    this.up = limits.uploadKiBs === undefined ? undefined : new ByteRate(limits.uploadKiBs * 1024);
    this.down = limits.downloadKiBs === undefined ? undefined : new ByteRate(limits.downloadKiBs * 1024);
  }

  get location(): string {
    return this.inner.location;
  }

  create(): Promise<void> {
    return this.slots(() => this.inner.create());
  }

  async load(h: Handle, offset?: number, length?: number): Promise<Buffer> {
    const data = await this.slots(() => this.inner.load(h, offset, length));
    await this.down?.take(data.length);
    return data;
  }

  async save(h: Handle, data: Buffer): Promise<void> {
    await this.up?.take(data.length);
    await this.slots(() => this.inner.save(h, data));
  }

  stat(h: Handle): Promise<FileInfo> {
    return this.slots(() => this.inner.stat(h));
  }

  list(type: FileType): AsyncIterable<FileInfo> {
    return this.inner.list(type);
  }

  remove(h: Handle): Promise<void> {
    return this.slots(() => this.inner.remove(h));
  }

  close(): Promise<void> {
    return this.inner.close();
  }
}
