/**
 * Compares two directory trees entry by entry, metadata included, and says how they
 * differ: the oracle of the interoperability tests ("arca restore reproduces what restic
 * backed up"). Names are handled as bytes, so names that are not UTF-8 compare too.
 */
import { createHash } from 'node:crypto';
import { type BigIntStats, constants } from 'node:fs';
import { lstat, open, readdir, readlink } from 'node:fs/promises';
import path from 'node:path';
import { isErrno } from '../../src/errors.js';
import { joinPath, keyPath, pathKey, showPath } from './buffer-path.js';
import { formatNs } from './set-times.js';
import { readTreeXattrs, type XattrSet } from './xattr.js';

/** What {@link compareTrees} looks at besides names, types, contents, modes, mtimes, link targets and devices. */
export interface CompareOptions {
  /** Compare access times (default false: reading a tree changes them, see below). */
  atime?: boolean;
  /** Compare uid and gid (default true). */
  owner?: boolean;
  /** Compare extended attributes, through getfattr (default true). */
  xattrs?: boolean;
  /** Leave out the entry at this path (relative to the roots) and everything below it. */
  ignore?: (rel: Buffer) => boolean;
}

/**
 * The differences between the trees at `expectedRoot` and `actualRoot`, one readable line
 * each; empty when they are identical. Each entry is lstat'ed before its directory is
 * listed or its file read (file reads use O_NOATIME where allowed), so atimes are those
 * from before the comparison; listing a directory may still move its atime, so compare
 * atimes only on a tree's first walk.
 */
export async function compareTrees(
  expectedRoot: string,
  actualRoot: string,
  opts: CompareOptions = {},
): Promise<string[]> {
  const walk = new Walk(Buffer.from(path.resolve(expectedRoot)), Buffer.from(path.resolve(actualRoot)), opts);
  await walk.entry(Buffer.alloc(0));
  walk.compareHardLinks();
  if (opts.xattrs !== false) await walk.compareXattrs();
  return walk.diffs;
}

class Walk {
  readonly diffs: string[] = [];
  /** Paths present in both trees with the same type. */
  private readonly common: Buffer[] = [];
  /** Non-directory paths present in both trees, grouped by inode, per tree. */
  private readonly expectedInodes = new Map<string, Buffer[]>();
  private readonly actualInodes = new Map<string, Buffer[]>();

  constructor(
    private readonly expected: Buffer,
    private readonly actual: Buffer,
    private readonly opts: CompareOptions,
  ) {}

  private report(rel: Buffer, what: string): void {
    this.diffs.push(`${showPath(rel)}: ${what}`);
  }

  async entry(rel: Buffer): Promise<void> {
    const e = await lstat(joinPath(this.expected, rel), { bigint: true });
    const a = await lstat(joinPath(this.actual, rel), { bigint: true });
    if (typeName(e) !== typeName(a)) {
      this.report(rel, `type: expected ${typeName(e)}, actual ${typeName(a)}`);
      return;
    }
    this.common.push(rel);
    await this.compareStats(rel, e, a);
    if (e.isDirectory()) {
      await this.children(rel);
    } else {
      addTo(this.expectedInodes, `${e.dev}:${e.ino}`, rel);
      addTo(this.actualInodes, `${a.dev}:${a.ino}`, rel);
    }
  }

  private async children(rel: Buffer): Promise<void> {
    const inExpected = new Set(
      (await readdir(joinPath(this.expected, rel), { encoding: 'buffer' })).map(pathKey),
    );
    const inActual = new Set(
      (await readdir(joinPath(this.actual, rel), { encoding: 'buffer' })).map(pathKey),
    );
    const names = [...new Set([...inExpected, ...inActual])].map(keyPath).sort(Buffer.compare);
    for (const name of names) {
      const child = joinPath(rel, name);
      if (this.opts.ignore?.(child) === true) continue;
      if (!inActual.has(pathKey(name))) this.report(child, 'missing');
      else if (!inExpected.has(pathKey(name))) this.report(child, 'unexpected (not in expected)');
      else await this.entry(child);
    }
  }

  private async compareStats(rel: Buffer, e: BigIntStats, a: BigIntStats): Promise<void> {
    const differ = (what: string, expected: string, actual: string) => {
      if (expected !== actual) this.report(rel, `${what}: expected ${expected}, actual ${actual}`);
    };
    if (!e.isSymbolicLink()) differ('mode', showMode(e.mode), showMode(a.mode));
    if (this.opts.owner !== false) differ('owner', `${e.uid}:${e.gid}`, `${a.uid}:${a.gid}`);
    differ('mtime', formatNs(e.mtimeNs), formatNs(a.mtimeNs));
    if (this.opts.atime === true) differ('atime', formatNs(e.atimeNs), formatNs(a.atimeNs));
    if (e.isSymbolicLink()) {
      const target = async (root: Buffer) =>
        showPath(await readlink(joinPath(root, rel), { encoding: 'buffer' }));
      differ('symlink target', await target(this.expected), await target(this.actual));
    }
    if (e.isCharacterDevice() || e.isBlockDevice()) differ('device', showDevice(e.rdev), showDevice(a.rdev));
    if (e.isFile()) {
      differ('size', String(e.size), String(a.size));
      if (e.size === a.size) {
        differ(
          'content sha256',
          await sha256(joinPath(this.expected, rel)),
          await sha256(joinPath(this.actual, rel)),
        );
      }
    }
  }

  /** Names sharing an inode in one tree must share one in the other, and only those. */
  compareHardLinks(): void {
    const actualGroupOf = groupIndex(this.actualInodes);
    const expectedGroupOf = groupIndex(this.expectedInodes);
    const reported = new Set<string>();
    for (const group of this.expectedInodes.values()) {
      if (group.length < 2) continue;
      const actualGroups = new Set(group.map((rel) => actualGroupOf.get(pathKey(rel))!));
      const [only] = actualGroups;
      if (actualGroups.size === 1 && only!.length === group.length) continue;
      for (const rel of group) reported.add(pathKey(rel));
      const split = [...actualGroups].map(showPaths).join(' ');
      this.diffs.push(`hard links: expected ${showPaths(group)} to share one inode, actual ${split}`);
    }
    for (const group of this.actualInodes.values()) {
      if (group.length < 2 || group.some((rel) => reported.has(pathKey(rel)))) continue;
      const [first] = group;
      if (expectedGroupOf.get(pathKey(first!))!.length === group.length) continue;
      this.diffs.push(`hard links: ${showPaths(group)} share one inode in actual but not in expected`);
    }
  }

  async compareXattrs(): Promise<void> {
    const expected = await readTreeXattrs(this.expected.toString());
    const actual = await readTreeXattrs(this.actual.toString());
    const none: XattrSet = new Map();
    for (const rel of this.common) {
      const e = expected.get(pathKey(rel)) ?? none;
      const a = actual.get(pathKey(rel)) ?? none;
      for (const name of [...new Set([...e.keys(), ...a.keys()])].sort()) {
        const ev = e.get(name);
        const av = a.get(name);
        if (ev !== undefined && av !== undefined && ev.equals(av)) continue;
        const show = (v: Buffer | undefined) => (v === undefined ? 'absent' : '0x' + v.toString('hex'));
        this.report(rel, `xattr ${name}: expected ${show(ev)}, actual ${show(av)}`);
      }
    }
  }
}

function addTo(map: Map<string, Buffer[]>, key: string, rel: Buffer): void {
  const list = map.get(key);
  if (list === undefined) map.set(key, [rel]);
  else list.push(rel);
}

/** For each path, the group of paths sharing its inode. */
function groupIndex(inodes: Map<string, Buffer[]>): Map<string, Buffer[]> {
  const index = new Map<string, Buffer[]>();
  for (const group of inodes.values()) for (const rel of group) index.set(pathKey(rel), group);
  return index;
}

function showPaths(paths: Buffer[]): string {
  return '[' + paths.map(showPath).join(', ') + ']';
}

function typeName(stat: BigIntStats): string {
  if (stat.isFile()) return 'file';
  if (stat.isDirectory()) return 'directory';
  if (stat.isSymbolicLink()) return 'symlink';
  if (stat.isFIFO()) return 'fifo';
  if (stat.isSocket()) return 'socket';
  if (stat.isCharacterDevice()) return 'char device';
  if (stat.isBlockDevice()) return 'block device';
  return 'unknown';
}

/** Permission and setuid/setgid/sticky bits, as four octal digits. */
function showMode(mode: bigint): string {
  return (mode & 0o7777n).toString(8).padStart(4, '0');
}

/** major,minor of a Linux dev_t. */
function showDevice(rdev: bigint): string {
  const major = ((rdev >> 8n) & 0xfffn) | ((rdev >> 32n) & ~0xfffn);
  const minor = (rdev & 0xffn) | ((rdev >> 12n) & ~0xffn);
  return `${major},${minor}`;
}

async function sha256(file: Buffer): Promise<string> {
  const handle = await openNoAtime(file);
  try {
    const hash = createHash('sha256');
    const buffer = Buffer.alloc(1024 * 1024);
    for (;;) {
      const { bytesRead } = await handle.read(buffer, 0, buffer.length);
      if (bytesRead === 0) break;
      hash.update(buffer.subarray(0, bytesRead));
    }
    return hash.digest('hex');
  } finally {
    await handle.close();
  }
}

/** Opens for reading without updating the atime; O_NOATIME needs owning the file or CAP_FOWNER. */
async function openNoAtime(file: Buffer) {
  try {
    return await open(file, constants.O_RDONLY | constants.O_NOATIME);
  } catch (err) {
    if (!isErrno(err, 'EPERM')) throw err;
    return open(file, constants.O_RDONLY);
  }
}
