import { randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { arcaDirs } from '../dirs.js';
import { isErrno } from '../errors.js';
import type { Backend, FileInfo, FileType, Handle } from './backend.js';
import { readAt, readdirOrEmpty, sha256Hex } from './files.js';

/** The types whose files are cached whole: small, read by almost every command. */
const cachedTypes = new Set<FileType>(['snapshots', 'index']);

/** Marks the cache directory so that backup tools (arca included) skip it. */
const cacheDirTag =
  'Signature: 8a477f597d28d172789f06886806bc55\n# This file is a cache directory tag created by arca.\n';

/**
 * A local copy of a remote repository's metadata, as restic keeps one: snapshot and index
 * files, and the packs that hold trees, under `<root>/<repository ID>/`. A second command
 * against the same repository reads them from disk instead of the network.
 *
 * The cache is never trusted blindly: every cached file is named by its SHA-256 and is
 * hashed before its first use in a process; a file that does not match is deleted and
 * fetched again. The remote stays the authority on what exists: a listing removes cached
 * files the remote no longer has.
 *
 * Until {@link attach} names the repository (its ID is in the config, which must be read
 * through this backend first), everything passes straight through.
 */
export class CachedBackend implements Backend {
  private dir: string | undefined;
  private isMetadataPack: (name: string) => boolean = () => false;
  private readonly verified = new Set<string>();
  private readonly fetching = new Map<string, Promise<boolean>>();

  constructor(
    private readonly inner: Backend,
    /** The cache's root directory, holding one directory per repository. */
    readonly root: string,
  ) {}

  get location(): string {
    return this.inner.location;
  }

  /**
   * Starts caching for the repository with this ID. A cache directory that cannot be made
   * (read-only home, a file in the way) leaves the backend uncached, as restic does: the
   * cache only saves downloads, it is never needed.
   */
  async attach(repositoryId: string): Promise<void> {
    if (!/^[0-9a-f]{64}$/.test(repositoryId)) return;
    const dir = path.join(this.root, repositoryId);
    try {
      await fsp.mkdir(this.root, { recursive: true, mode: 0o700 });
      await writeIfMissing(path.join(this.root, 'CACHEDIR.TAG'), cacheDirTag);
      await fsp.mkdir(dir, { recursive: true, mode: 0o700 });
      this.dir = dir;
    } catch (err) {
      if (!isSystemError(err)) throw err;
    }
  }

  /** Says which packs hold metadata (trees) and are worth keeping whole in the cache. */
  setMetadataPacks(isMetadataPack: (name: string) => boolean): void {
    this.isMetadataPack = isMetadataPack;
  }

  create(): Promise<void> {
    return this.inner.create();
  }

  async load(h: Handle, offset = 0, length?: number): Promise<Buffer> {
    const file = this.cachedPath(h);
    if (file === undefined) return this.inner.load(h, offset, length);
    const whole = offset === 0 && length === undefined;
    if (h.type !== 'data' && !whole) return this.inner.load(h, offset, length);
    if (await this.ensureCached(h, file)) {
      try {
        return await readRange(file, offset, length);
      } catch (err) {
        if (!isSystemError(err)) throw err;
      }
    }
    return this.inner.load(h, offset, length);
  }

  async save(h: Handle, data: Buffer): Promise<void> {
    await this.inner.save(h, data);
    const file = this.cachedPath(h);
    if (file !== undefined && cachedTypes.has(h.type) && (await storeAtomically(file, data))) {
      this.verified.add(file);
    }
  }

  stat(h: Handle): Promise<FileInfo> {
    return this.inner.stat(h);
  }

  async *list(type: FileType): AsyncIterable<FileInfo> {
    const present = new Set<string>();
    for await (const fi of this.inner.list(type)) {
      present.add(fi.name);
      yield fi;
    }
    // Only a complete listing may evict: files the remote no longer has are gone from here too.
    if (this.dir !== undefined && (cachedTypes.has(type) || type === 'data')) await this.evict(type, present);
  }

  async remove(h: Handle): Promise<void> {
    await this.inner.remove(h);
    const file = this.cachedPath(h);
    if (file !== undefined) await fsp.rm(file, { force: true });
  }

  close(): Promise<void> {
    return this.inner.close();
  }

  /** The cache file for `h`, when `h` is something the cache keeps. */
  private cachedPath(h: Handle): string | undefined {
    if (this.dir === undefined || !/^[0-9a-f]{64}$/.test(h.name)) return undefined;
    if (!cachedTypes.has(h.type) && !(h.type === 'data' && this.isMetadataPack(h.name))) return undefined;
    return path.join(this.dir, h.type, h.name.slice(0, 2), h.name);
  }

  /**
   * Makes sure a verified copy of the whole file is on disk (fetching it at most once at a
   * time); false when there is none (a damaged download, a cache that cannot be written).
   */
  private async ensureCached(h: Handle, file: string): Promise<boolean> {
    if (this.verified.has(file)) return true;
    let pending = this.fetching.get(file);
    if (pending === undefined) {
      pending = this.verifyOrFetch(h, file).finally(() => this.fetching.delete(file));
      this.fetching.set(file, pending);
    }
    return pending;
  }

  private async verifyOrFetch(h: Handle, file: string): Promise<boolean> {
    try {
      if (sha256Hex(await fsp.readFile(file)) === h.name) {
        this.verified.add(file);
        return true;
      }
      await fsp.rm(file, { force: true });
    } catch (err) {
      if (!isSystemError(err)) throw err;
    }
    const data = await this.inner.load(h);
    // A damaged download is not cached; the caller's own checks report it.
    if (sha256Hex(data) !== h.name || !(await storeAtomically(file, data))) return false;
    this.verified.add(file);
    return true;
  }

  private async evict(type: FileType, present: ReadonlySet<string>): Promise<void> {
    const base = path.join(this.dir as string, type);
    for (const sub of await readdirOrEmpty(base)) {
      for (const name of await readdirOrEmpty(path.join(base, sub))) {
        if (present.has(name) || name.startsWith('.tmp-')) continue;
        const file = path.join(base, sub, name);
        await fsp.rm(file, { force: true });
        this.verified.delete(file);
      }
    }
  }
}

/** The default cache root: `$ARCA_CACHE_DIR`, else `$XDG_CACHE_HOME/arca`, else `~/.cache/arca`. */
export function defaultCacheDir(env: NodeJS.ProcessEnv, home: string): string {
  return env.ARCA_CACHE_DIR || arcaDirs(env, home).cache;
}

async function readRange(file: string, offset: number, length: number | undefined): Promise<Buffer> {
  const fh = await fsp.open(file, 'r');
  try {
    const size = (await fh.stat()).size;
    const want = length ?? Math.max(0, size - offset);
    // A range past the end goes to the remote, which reports it as the backend contract says.
    if (offset + want > size) {
      throw Object.assign(new Error('range beyond the cached file'), { code: 'ENOENT' });
    }
    return await readAt(fh, offset, want);
  } finally {
    await fh.close();
  }
}

/** Writes a cache file; false when the cache cannot take it (full disk, permissions), which is no error. */
async function storeAtomically(file: string, data: Buffer): Promise<boolean> {
  const tmp = path.join(path.dirname(file), `.tmp-${randomBytes(8).toString('hex')}`);
  try {
    await fsp.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
    await fsp.writeFile(tmp, data, { mode: 0o600 });
    await fsp.rename(tmp, file);
    return true;
  } catch (err) {
    if (!isSystemError(err)) throw err;
    await fsp.rm(tmp, { force: true }).catch(() => {});
    return false;
  }
}

/** A failure of the filesystem under the cache (ENOENT, EACCES, ENOSPC…), as opposed to a bug. */
function isSystemError(err: unknown): boolean {
  return typeof err === 'object' && err !== null && typeof (err as NodeJS.ErrnoException).code === 'string';
}

async function writeIfMissing(file: string, text: string): Promise<void> {
  try {
    await fsp.writeFile(file, text, { flag: 'wx' });
  } catch (err) {
    if (!isErrno(err, 'EEXIST')) throw err;
  }
}
