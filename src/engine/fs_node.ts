import { type BigIntStats, constants as C } from 'node:fs';
import { isErrno } from '../errors.js';
import { lgetxattr, llistxattr } from '../fs/native.js';
import { clampGoYear, formatGoTime, goTimeFromNs } from '../repo/gojson.js';
import { GoMode, type Node, type NodeType } from '../repo/tree.js';
import type { Accounts } from './accounts.js';

/** A time in nanoseconds as restic stores it: RFC 3339 in the local zone, nanoseconds, years clamped to 0–9999. */
export function goTimeString(ns: bigint): string {
  // Most files of a tree share their ctime's second (and many their mtime's), so the text up to
  // the second and the zone is kept per second; only the fraction is formatted per call.
  if (ns >= 0n && ns < _cacheBelowNs) {
    const sec = ns / _nsPerSec;
    const nsec = Number(ns - sec * _nsPerSec);
    const key = Number(sec);
    let parts = _seconds.get(key);
    if (!parts) {
      const whole = _goTimeString(sec * _nsPerSec);
      const zoneAt = whole.endsWith('Z') ? whole.length - 1 : whole.length - 6;
      parts = [whole.slice(0, zoneAt), whole.slice(zoneAt)];
      if (_seconds.size >= 4096) _seconds.clear();
      _seconds.set(key, parts);
    }
    return nsec === 0
      ? parts[0] + parts[1]
      : `${parts[0]}.${String(nsec).padStart(9, '0').replace(/0+$/, '')}${parts[1]}`;
  }
  return _goTimeString(ns);
}

const _nsPerSec = 1_000_000_000n;
/** Year ~9900: far from the clamping at 9999 in any zone. */
const _cacheBelowNs = 250_000_000_000n * _nsPerSec;
const _seconds = new Map<number, [string, string]>();

function _goTimeString(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const offset = Number.isFinite(ms) ? -new Date(ms).getTimezoneOffset() : 0;
  return formatGoTime(clampGoYear(goTimeFromNs(ns, Number.isNaN(offset) ? 0 : offset)));
}

/** The node type for a file's `st_mode`, or undefined for something restic cannot store. */
export function nodeType(mode: number): NodeType {
  switch (mode & C.S_IFMT) {
    case C.S_IFREG:
      return 'file';
    case C.S_IFDIR:
      return 'dir';
    case C.S_IFLNK:
      return 'symlink';
    case C.S_IFBLK:
      return 'dev';
    case C.S_IFCHR:
      return 'chardev';
    case C.S_IFIFO:
      return 'fifo';
    case C.S_IFSOCK:
      return 'socket';
    default:
      return 'irregular';
  }
}

/** Go's `io/fs.FileMode` for a POSIX `st_mode` (what restic stores in `mode`). */
export function goFileMode(mode: number): number {
  let m = mode & 0o777;
  switch (mode & C.S_IFMT) {
    case C.S_IFDIR:
      m += GoMode.dir;
      break;
    case C.S_IFLNK:
      m += GoMode.symlink;
      break;
    case C.S_IFBLK:
      m += GoMode.device;
      break;
    case C.S_IFCHR:
      m += GoMode.device + GoMode.charDevice;
      break;
    case C.S_IFIFO:
      m += GoMode.namedPipe;
      break;
    case C.S_IFSOCK:
      m += GoMode.socket;
      break;
  }
  if (mode & 0o4000) m += GoMode.setuid;
  if (mode & 0o2000) m += GoMode.setgid;
  if (mode & 0o1000) m += GoMode.sticky;
  return m;
}

/**
 * Builds a node from `lstat` results the way restic 0.14 does: which fields are set
 * depends on the type (files: size, links, content; symlinks: target, links; devices:
 * device, links). Content and subtree are filled in by the archiver.
 */
export function nodeFromStat(
  name: Buffer,
  st: BigIntStats,
  accounts: Accounts,
  extra: { linktarget?: Buffer; xattrsOf?: Buffer; withAtime?: boolean } = {},
): Node {
  const mtime = goTimeString(st.mtimeNs);
  const mode = Number(st.mode);
  const type = nodeType(mode);
  const uid = Number(st.uid);
  const gid = Number(st.gid);
  const node: Node = {
    name,
    type,
    mode: goFileMode(mode),
    mtime,
    // restic records the access time only when asked (`--with-atime`); otherwise it stores
    // the mtime there, which keeps trees of unchanged directories byte-identical.
    atime: extra.withAtime ? goTimeString(st.atimeNs) : mtime,
    ctime: goTimeString(st.ctimeNs),
    uid,
    gid,
    content: null,
  };
  const user = accounts.user(uid);
  const group = accounts.group(gid);
  if (user) node.user = user;
  if (group) node.group = group;
  node.inode = st.ino;
  node.deviceId = st.dev;
  switch (type) {
    case 'file':
      node.size = Number(st.size);
      node.links = Number(st.nlink);
      node.content = [];
      break;
    case 'symlink':
      node.links = Number(st.nlink);
      node.linktarget = extra.linktarget ?? Buffer.alloc(0);
      break;
    case 'dev':
    case 'chardev':
      node.device = st.rdev;
      node.links = Number(st.nlink);
      break;
  }
  if (extra.xattrsOf) {
    const xs = readXattrs(extra.xattrsOf);
    if (xs.length > 0) node.extendedAttributes = xs;
  }
  return node;
}

/** Reads the extended attributes of a path itself (not a symlink's target); none when unsupported. */
export function readXattrs(p: Buffer): { name: string; value: Buffer }[] {
  let names: string[];
  try {
    names = llistxattr(p);
  } catch (err) {
    if (isErrno(err, 'ENOTSUP') || isErrno(err, 'EPERM') || isErrno(err, 'EACCES')) return [];
    throw err;
  }
  const out: { name: string; value: Buffer }[] = [];
  // Kernel order, as restic keeps it: sorting would change the tree bytes and so its ID.
  for (const n of names) {
    try {
      out.push({ name: n, value: lgetxattr(p, n) });
    } catch (err) {
      if (!isErrno(err, 'ENODATA') && !isErrno(err, 'EACCES') && !isErrno(err, 'EPERM')) throw err;
    }
  }
  return out;
}
