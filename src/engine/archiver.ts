import {
  type BigIntStats,
  constants as C,
  promises as fsp,
  lstatSync,
  readdirSync,
  readlinkSync,
} from 'node:fs';
import path from 'node:path';
import pLimit from 'p-limit';
import { ArcaError, isErrno } from '../errors.js';
import type { BlobSaver } from '../repo/blob_saver.js';
import { hashId, type Id } from '../repo/id.js';
import { parsePolynomial } from '../repo/polynomial.js';
import type { Repository } from '../repo/repository.js';
import { displayName, encodeTree, type Node } from '../repo/tree.js';
import { Accounts } from './accounts.js';
import { chunkFile, chunkMinSize } from './chunker.js';
import { nodeFromStat } from './fs_node.js';
import { SlabPool } from './slabs.js';
import type { SmallFileReader } from './small_file.js';

/** Counters restic reports for a backup. */
export interface ArchiveStats {
  filesNew: number;
  filesChanged: number;
  filesUnmodified: number;
  dirsNew: number;
  dirsChanged: number;
  dirsUnmodified: number;
  totalFiles: number;
  totalBytes: number;
}

/** A file or directory that could not be backed up completely. */
export interface ArchiveProblem {
  path: string;
  message: string;
}

/** Progress of a running backup. */
export interface ArchiveProgress {
  filesDone: number;
  bytesDone: number;
  currentFiles: string[];
}

/** How to walk and what to leave out. */
export interface ArchiveOptions {
  /** True when an absolute filesystem path must be left out (exclude patterns). */
  exclude?: (absPath: Buffer, isDir: boolean) => boolean;
  /** Leave out directories holding a valid CACHEDIR.TAG. */
  excludeCaches?: boolean;
  /** Record access times (restic's `--with-atime`); otherwise the mtime is stored there. */
  withAtime?: boolean;
  /** Do not descend into other filesystems (their mount points are kept, empty). */
  oneFileSystem?: boolean;
  /** Tree of the parent snapshot: unchanged files are taken from it without reading them. */
  parentTree?: Id;
  /**
   * Large files (a chunk or more) read at once; default 1. The next read is always in flight
   * while a chunk is cut, so a second file adds little speed, but its slabs and chunks in flight
   * cost ~100 MiB on a first backup of large files.
   */
  readConcurrency?: number;
  onProgress?: (p: ArchiveProgress) => void;
}

/** What archiving produced: the root tree and what happened on the way. */
export interface ArchiveResult {
  tree: Id;
  stats: ArchiveStats;
  problems: ArchiveProblem[];
}

/** Chunks hashed on threads or waiting for the saver at once (each holds its slab, 10 MiB). */
const hashesInFlight = 8;

/**
 * A promise awaited only later (when a file's chunks are all sent): marks its rejection as
 * handled meanwhile, so Node does not report it as unhandled; the later await still sees it.
 */
function _settledLater<T>(p: Promise<T>): Promise<T> {
  p.catch(() => {});
  return p;
}

const cacheTagSignature = 'Signature: 8a477f597d28d172789f06886806bc55';

interface Target {
  /** Absolute path on disk. */
  abs: string;
  /** Components under which it appears in the snapshot tree (empty for "." or "/"). */
  components: string[];
}

/** A directory of the snapshot tree being assembled from the targets. */
interface VirtualDir {
  /** Real path whose metadata the node carries (undefined for the root). */
  abs?: string;
  children: Map<string, VirtualDir>;
  /** A target to archive completely at this point. */
  target?: string;
}

/**
 * Walks files and directories, splits files into restic's chunks, stores new blobs
 * through the saver, and builds trees bottom-up. The snapshot's tree mirrors each path as
 * given (`/srv/data` → `srv/data`, `data` → `data`), like restic's.
 */
export class Archiver {
  readonly stats: ArchiveStats = {
    filesNew: 0,
    filesChanged: 0,
    filesUnmodified: 0,
    dirsNew: 0,
    dirsChanged: 0,
    dirsUnmodified: 0,
    totalFiles: 0,
    totalBytes: 0,
  };
  readonly problems: ArchiveProblem[] = [];
  private readonly accounts = new Accounts();
  private readonly limit: ReturnType<typeof pLimit>;
  /** Chunks sent to the encoding threads unhashed, and how many of them were known already. */
  private readonly unhashed = { seen: 0, known: 0 };
  private readonly pol: bigint;
  private readonly current = new Set<string>();
  /** Read buffers shared with the encoding threads. */
  private readonly slabs = new SlabPool();
  /** Chunks being hashed on a thread by {@link sendHashed}, and who waits for one to finish. */
  private hashing = 0;
  private hashWaiters: (() => void)[] = [];
  private bytesDone = 0;

  constructor(
    private readonly repo: Repository,
    private readonly saver: BlobSaver,
    private readonly reader: SmallFileReader,
    private readonly opts: ArchiveOptions = {},
  ) {
    this.limit = pLimit(opts.readConcurrency ?? 1);
    this.pol = parsePolynomial(repo.config.chunker_polynomial);
  }

  /** Archives `paths` (as the user gave them) into one tree. */
  async archive(paths: string[]): Promise<ArchiveResult> {
    const root: VirtualDir = { children: new Map() };
    for (const p of paths) addTarget(root, resolveTarget(p));
    const parent = this.opts.parentTree ? await this.parentNodes(this.opts.parentTree) : undefined;
    const tree = await this.saveVirtual(root, parent);
    return { tree, stats: this.stats, problems: this.problems };
  }

  private problem(p: string | Buffer, message: string): void {
    this.problems.push({ path: typeof p === 'string' ? p : displayName(p), message });
  }

  private async parentNodes(tree: Id | undefined): Promise<Map<string, Node> | undefined> {
    if (!tree) return undefined;
    try {
      const nodes = await this.repo.loadTree(tree);
      return new Map(nodes.map((n) => [n.name.toString('latin1'), n]));
    } catch {
      // A damaged parent only costs speed: everything is read again.
      return undefined;
    }
  }

  private async saveVirtual(dir: VirtualDir, parent: Map<string, Node> | undefined): Promise<Id> {
    if (dir.target !== undefined)
      return (
        await this.walkDirectory(Buffer.from(dir.target), parent, lstatSync(dir.target, { bigint: true }).dev)
      ).tree;
    const nodes: Node[] = [];
    for (const [name, child] of [...dir.children].sort((a, b) =>
      Buffer.compare(Buffer.from(a[0]), Buffer.from(b[0])),
    )) {
      const abs = child.abs!;
      const nameBuf = Buffer.from(name);
      const prev = parent?.get(nameBuf.toString('latin1'));
      if (child.target !== undefined) {
        // The target itself: archived like any entry of a directory.
        const entry = await this.dispatchEntry(Buffer.from(abs), nameBuf, prev, undefined);
        const n = await entry?.node;
        if (n) nodes.push(n);
        continue;
      }
      let st: BigIntStats;
      try {
        st = lstatSync(abs, { bigint: true });
      } catch (err) {
        throw new ArcaError(
          'not-found',
          `cannot back up ${abs}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
        );
      }
      const node = nodeFromStat(nameBuf, st, this.accounts, {
        xattrsOf: Buffer.from(abs),
        withAtime: this.opts.withAtime,
      });
      node.subtree = await this.saveVirtual(
        child,
        prev?.type === 'dir' ? await this.parentNodes(prev.subtree) : undefined,
      );
      nodes.push(node);
    }
    return this.saveTree(nodes);
  }

  private async saveTree(nodes: Node[]): Promise<Id> {
    const buf = encodeTree(nodes);
    const id = hashId(buf);
    await this.saver.save('tree', id, buf);
    return id;
  }

  /**
   * Walks a directory: stats every entry and hands its work out now (files to the readers,
   * subdirectories walked in turn), and returns its tree ID as a promise that settles once
   * every entry is stored. The walk itself is sequential and waits only when the readers
   * are full, so memory stays bounded while reading, hashing and encoding run in parallel
   * with it. Metadata calls are synchronous: answered from the kernel's caches in
   * microseconds, less than a promise and thread-pool round trip each.
   */
  private async walkDirectory(
    dir: Buffer,
    parent: Map<string, Node> | undefined,
    dev: bigint,
  ): Promise<{ tree: Promise<Id> }> {
    let names: Buffer[];
    try {
      names = readdirSync(dir, { encoding: 'buffer' });
    } catch (err) {
      this.problem(dir, `cannot read directory: ${errText(err)}`);
      names = [];
    }
    names.sort(Buffer.compare);
    const sep = dir[dir.length - 1] === 0x2f ? Buffer.alloc(0) : Buffer.from('/');
    const pending: Promise<Node | undefined>[] = [];
    for (const name of names) {
      const full = Buffer.concat([dir, sep, name]);
      const entry = await this.dispatchEntry(full, name, parent?.get(name.toString('latin1')), dev);
      if (!entry) continue;
      // Settled only at the end of the directory: keep a rejection from counting as unhandled meanwhile.
      entry.node.catch(() => {});
      pending.push(entry.node);
    }
    return {
      tree: Promise.all(pending).then((nodes) =>
        this.saveTree(nodes.filter((n): n is Node => n !== undefined)),
      ),
    };
  }

  /**
   * Stats one entry and starts its work. Returns its node as a promise (settled when its
   * content or subtree is stored), or undefined when it is excluded or unreadable.
   */
  private async dispatchEntry(
    full: Buffer,
    name: Buffer,
    prev: Node | undefined,
    parentDev: bigint | undefined,
  ): Promise<{ node: Promise<Node | undefined> } | undefined> {
    let st: BigIntStats;
    try {
      st = lstatSync(full, { bigint: true });
    } catch (err) {
      this.problem(full, `cannot stat: ${errText(err)}`);
      return undefined;
    }
    const isDir = (Number(st.mode) & C.S_IFMT) === C.S_IFDIR;
    if (this.opts.exclude?.(full, isDir)) return undefined;
    if (isDir && this.opts.excludeCaches && (await hasCacheTag(full))) return undefined;
    let linktarget: Buffer | undefined;
    if ((Number(st.mode) & C.S_IFMT) === C.S_IFLNK) {
      try {
        linktarget = readlinkSync(full, { encoding: 'buffer' });
      } catch (err) {
        this.problem(full, `cannot read link: ${errText(err)}`);
        return undefined;
      }
    }
    let node: Node;
    try {
      // restic (≤ 0.16) sets a symlink's xattrs through the link onto its target when it
      // restores, so recording them would make restic damage the target: leave them out.
      node = nodeFromStat(name, st, this.accounts, {
        linktarget,
        xattrsOf: linktarget ? undefined : full,
        withAtime: this.opts.withAtime,
      });
    } catch (err) {
      this.problem(full, `cannot read metadata: ${errText(err)}`);
      return undefined;
    }
    if (node.type === 'dir') {
      const otherFs = this.opts.oneFileSystem && parentDev !== undefined && st.dev !== parentDev;
      const subParent = prev?.type === 'dir' ? await this.parentNodes(prev.subtree) : undefined;
      const subtree = otherFs ? this.saveTree([]) : (await this.walkDirectory(full, subParent, st.dev)).tree;
      return {
        node: subtree.then((id) => {
          node.subtree = id;
          if (prev?.type !== 'dir') this.stats.dirsNew++;
          else if (prev.subtree === id) this.stats.dirsUnmodified++;
          else this.stats.dirsChanged++;
          return node;
        }),
      };
    }
    if (node.type !== 'file') return { node: Promise.resolve(node) };
    return this.dispatchFile(full, node, st, prev);
  }

  /**
   * Starts storing a file: unchanged ones take the parent's content, small ones go to the
   * small-file reader (waiting here while it is full), large ones are chunked on this thread.
   */
  private async dispatchFile(
    full: Buffer,
    node: Node,
    st: BigIntStats,
    prev: Node | undefined,
  ): Promise<{ node: Promise<Node | undefined> }> {
    this.stats.totalFiles++;
    this.stats.totalBytes += node.size ?? 0;
    if (prev && !fileChanged(node, prev) && prev.content?.every((id) => this.saver.has('data', id))) {
      node.content = prev.content;
      this.stats.filesUnmodified++;
      this.progress(node.size ?? 0);
      return { node: Promise.resolve(node) };
    }
    if ((node.size ?? 0) < chunkMinSize) {
      const expect = { ino: st.ino, dev: st.dev, size: st.size, mtimeNs: st.mtimeNs };
      await this.reader.room(node.size ?? 0);
      const result = this.reader.read(full, expect, this.saver.compressionFor('data'), (id) =>
        this.saver.has('data', id),
      );
      const stored = result.then(async (r): Promise<Node | undefined> => {
        if (r.kind === 'grew') return this.archiveFile(full, node, st, prev);
        if (r.kind === 'failed') {
          this.problem(full, r.message);
          return undefined;
        }
        if (r.changed)
          this.problem(full, 'file changed while it was being read; the snapshot holds what was read');
        node.content = r.id ? [r.id] : [];
        node.size = r.size;
        if (r.id && r.blob) await this.saver.addEncoded('data', r.id, r.blob, r.size);
        if (prev) this.stats.filesChanged++;
        else this.stats.filesNew++;
        this.progress(r.size);
        return node;
      });
      return { node: stored };
    }
    return { node: this.limit(() => this.archiveFile(full, node, st, prev)) };
  }

  /** Streams a file through the chunker and stores its new chunks. */
  private async archiveFile(
    full: Buffer,
    node: Node,
    st: BigIntStats,
    prev: Node | undefined,
  ): Promise<Node | undefined> {
    const label = displayName(full);
    this.current.add(label);
    let fh: fsp.FileHandle | undefined;
    try {
      fh = await openNoAtime(full);
      const before = await fh.stat({ bigint: true });
      if (before.ino !== st.ino || before.dev !== st.dev) {
        this.problem(full, 'file was replaced while it was being read');
        return undefined;
      }
      const content: (Id | Promise<Id>)[] = [];
      let size = 0;
      // With encoding threads, files are read into shared slabs: the threads hash and encode
      // chunks where they were read, and this thread only reads and cuts.
      const slabs = this.saver.encodesOffThread ? this.slabs : undefined;
      const hashElsewhere = prev === undefined && slabs !== undefined && this.newDataLikely();
      for await (const chunk of chunkFile(fh, this.pol, { slabs })) {
        size += chunk.length;
        if (slabs && hashElsewhere) {
          // A file the parent does not have is most likely new data: its chunks go to the
          // encoding threads unhashed, which hash them there and drop the known ones.
          content.push((await this.sendUnhashed(slabs, chunk)).id);
        } else if (slabs) {
          // Most likely known data (a changed file mostly keeps its chunks): hashed on a thread,
          // encoded only if new.
          content.push((await this.sendHashed(slabs, chunk)).id);
        } else {
          const id = hashId(chunk);
          content.push(id);
          if (!this.saver.has('data', id)) await this.saver.save('data', id, new Uint8Array(chunk));
        }
        this.progress(chunk.length);
      }
      const after = await fh.stat({ bigint: true });
      if (after.mtimeNs !== st.mtimeNs || after.size !== st.size || BigInt(size) !== st.size) {
        this.problem(full, 'file changed while it was being read; the snapshot holds what was read');
      }
      node.content = await Promise.all(content);
      node.size = size;
      if (prev) this.stats.filesChanged++;
      else this.stats.filesNew++;
      return node;
    } catch (err) {
      if (err instanceof ArcaError && err.code === 'io') throw err;
      this.problem(full, `cannot read: ${errText(err)}`);
      return undefined;
    } finally {
      this.current.delete(label);
      await fh?.close();
    }
  }

  /** Sends a chunk to be hashed and encoded on a thread; resolves, once there is room, to the promise of its ID. */
  private async sendUnhashed(slabs: SlabPool, chunk: Buffer): Promise<{ id: Promise<Id> }> {
    slabs.retain(chunk);
    let sent: { id: Promise<{ id: Id; stored: boolean }> };
    try {
      sent = await this.saver.saveUnhashed('data', chunk);
    } catch (err) {
      slabs.release(chunk);
      throw err;
    }
    return {
      id: _settledLater(
        sent.id.then(
          (r) => {
            slabs.release(chunk);
            this.noteUnhashed(r.stored);
            return r.id;
          },
          (err: unknown) => {
            slabs.release(chunk);
            throw err;
          },
        ),
      ),
    };
  }

  /**
   * Sends a chunk to be hashed on a thread, then saved if new; resolves, once there is room, to
   * the promise of its ID. A chunk counts against {@link hashesInFlight} until the saver has
   * taken it (it waits there while the encoders are busy), so reading never runs far ahead.
   */
  private async sendHashed(slabs: SlabPool, chunk: Buffer): Promise<{ id: Promise<Id> }> {
    while (this.hashing >= hashesInFlight) await new Promise<void>((r) => this.hashWaiters.push(r));
    this.hashing++;
    slabs.retain(chunk);
    const release = () => slabs.release(chunk);
    const id = this.saver.hash(chunk).then(
      async (id) => {
        await this.saver.save('data', id, chunk, release);
        return id;
      },
      (err: unknown) => {
        release();
        throw err;
      },
    );
    return {
      id: _settledLater(
        id.finally(() => {
          this.hashing--;
          for (const w of this.hashWaiters.splice(0)) w();
        }),
      ),
    };
  }

  /**
   * Whether chunks sent unhashed have mostly been new so far. Known data sent that way is
   * compressed and encrypted for nothing (a directory that was renamed, say), so when more
   * than half of the recent ones were known, files are hashed here again first.
   */
  private newDataLikely(): boolean {
    return this.unhashed.seen < 32 || this.unhashed.known * 2 <= this.unhashed.seen;
  }

  /** Counts one chunk sent unhashed, and whether it was new; old counts fade by halves. */
  private noteUnhashed(stored: boolean): void {
    if (this.unhashed.seen >= 1024) {
      this.unhashed.seen /= 2;
      this.unhashed.known /= 2;
    }
    this.unhashed.seen++;
    if (!stored) this.unhashed.known++;
  }

  private progress(bytes: number): void {
    this.bytesDone += bytes;
    this.opts.onProgress?.({
      filesDone: this.stats.filesNew + this.stats.filesChanged + this.stats.filesUnmodified,
      bytesDone: this.bytesDone,
      currentFiles: [...this.current],
    });
  }
}

/** restic's change test: a file is re-read unless type, mtime, ctime, size and inode are all unchanged. */
export function fileChanged(cur: Node, prev: Node): boolean {
  return (
    prev.type !== 'file' ||
    cur.mtime !== prev.mtime ||
    cur.ctime !== prev.ctime ||
    (cur.size ?? 0) !== (prev.size ?? 0) ||
    cur.inode !== prev.inode
  );
}

/** Opens a file for reading without updating its access time where the kernel allows it (only the owner or root may). */
async function openNoAtime(p: Buffer): Promise<fsp.FileHandle> {
  try {
    return await fsp.open(p, C.O_RDONLY | C.O_NOFOLLOW | C.O_NOATIME);
  } catch (err) {
    if (!isErrno(err, 'EPERM')) throw err;
    return fsp.open(p, C.O_RDONLY | C.O_NOFOLLOW);
  }
}

async function hasCacheTag(dir: Buffer): Promise<boolean> {
  try {
    const fh = await fsp.open(Buffer.concat([dir, Buffer.from('/CACHEDIR.TAG')]), C.O_RDONLY | C.O_NOFOLLOW);
    try {
      const buf = Buffer.alloc(cacheTagSignature.length);
      const { bytesRead } = await fh.read(buf, 0, buf.length, 0);
      return bytesRead === buf.length && buf.toString('latin1') === cacheTagSignature;
    } finally {
      await fh.close();
    }
  } catch (err) {
    if (isErrno(err, 'ENOENT') || isErrno(err, 'ELOOP') || isErrno(err, 'ENOTDIR')) return false;
    return false;
  }
}

/** Where a target path appears in the snapshot tree: absolute paths keep all components, relative ones their own. */
export function resolveTarget(p: string): Target {
  const abs = path.resolve(p);
  const given = path.normalize(p);
  let components: string[];
  if (path.isAbsolute(given)) components = abs.split('/').filter(Boolean);
  else {
    const parts = given.split('/').filter((c) => c !== '' && c !== '.');
    while (parts[0] === '..') parts.shift();
    components = parts;
  }
  return { abs, components };
}

function addTarget(root: VirtualDir, t: Target): void {
  if (t.components.length === 0) {
    root.target = t.abs;
    return;
  }
  let dir = root;
  const base = t.abs.split('/').slice(0, -t.components.length).join('/') || '/';
  let real = base;
  for (const c of t.components) {
    real = path.join(real, c);
    let child = dir.children.get(c);
    if (!child) {
      child = { abs: real, children: new Map() };
      dir.children.set(c, child);
    }
    dir = child;
  }
  dir.target = t.abs;
}

function errText(err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  return e?.code ?? e?.message ?? String(err);
}
