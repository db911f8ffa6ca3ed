/**
 * The Linux syscalls restore and backup need that Node's fs lacks or makes lossy: nanosecond
 * times (also on symlinks), mknod, extended attributes that never follow symlinks, and
 * SEEK_DATA/SEEK_HOLE; the chunker's hot loop and AES and Poly1305 for sealed blobs. They live in the C addon `native/arca_native.c`, which `npm install`
 * builds with node-gyp. Calls are synchronous: each is one fast syscall.
 *
 * Failures throw errors shaped like Node's own fs errors (`code` "ENOENT", `errno` -2,
 * `syscall`, `path`), so `isErrno` from `../errors.js` works on them.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ArcaError } from '../errors.js';

/** A filesystem path: a string, or the raw bytes of a name that is not valid UTF-8. */
export type NativePath = string | Buffer;

/** How {@link setTimes} treats a symlink. */
export interface SetTimesOptions {
  /** Set the times of a symlink itself rather than of its target. */
  noFollow?: boolean;
}

/** Sets access and modification times to the nanosecond, e.g. `mtimeNs` from `lstat(p, { bigint: true })`. */
export function setTimes(
  path: NativePath,
  atimeNs: bigint,
  mtimeNs: bigint,
  options: SetTimesOptions = {},
): void {
  const [atimeSec, atimeNsec] = _splitNs(atimeNs);
  const [mtimeSec, mtimeNsec] = _splitNs(mtimeNs);
  _addon().utimensat(path, atimeSec, atimeNsec, mtimeSec, mtimeNsec, options.noFollow === true);
}

/** Creates a device node, FIFO or socket; `mode` carries the type (`fs.constants.S_IFIFO`…) and permissions, `dev` is the raw `rdev`. */
export function mknod(path: NativePath, mode: number, dev: bigint | number = 0n): void {
  _addon().mknod(path, mode, dev);
}

/** Sets an extended attribute on `path` itself, never on a symlink's target. */
export function lsetxattr(path: NativePath, name: string, value: Uint8Array): void {
  _addon().lsetxattr(path, name, value);
}

/** Reads an extended attribute of `path` itself; throws ENODATA when it is not set. */
export function lgetxattr(path: NativePath, name: string): Buffer {
  return _addon().lgetxattr(path, name);
}

/** Lists the extended attribute names of `path` itself (only those the caller may read). */
export function llistxattr(path: NativePath): string[] {
  return _addon().llistxattr(path);
}

/** Removes an extended attribute of `path` itself; throws ENODATA when it is not set. */
export function lremovexattr(path: NativePath, name: string): void {
  _addon().lremovexattr(path, name);
}

/** The offset of the first data at or after `offset`, or -1 if only holes follow or `offset` is at or past the end; moves the fd's position. */
export function seekData(fd: number, offset: number): number {
  return _addon().seekData(fd, offset);
}

/** The offset of the first hole at or after `offset` (end of file counts as one), or -1 at or past the end; moves the fd's position. */
export function seekHole(fd: number, offset: number): number {
  return _addon().seekHole(fd, offset);
}

/**
 * The chunker's hot loop (native/rabin.c): the index after the first position in buf[from, to),
 * at or after `eligible`, whose Rabin fingerprint over the 64 bytes ending there has its low 20
 * bits zero, or -1. `from` must be at least 64: the bytes before it are part of the window.
 * `tables` is out[256] then mod[256] of the polynomial, `shift` its degree - 8; the
 * fingerprint of a cut is left in `fingerprint[0]`.
 */
export function rabinScan(
  buf: Uint8Array,
  from: number,
  to: number,
  eligible: number,
  tables: BigUint64Array,
  shift: number,
  fingerprint: BigUint64Array,
): number {
  return _addon().rabinScan(buf, from, to, eligible, tables, shift, fingerprint);
}

/**
 * AES-256-CTR of `input` into `out` from `at` (native/cipher.c, OpenSSL with one context per
 * thread); `out` may be `input` itself with `at` 0. The counter is the whole 16-byte IV, big-endian.
 */
export function aesCtrInto(
  key: Uint8Array,
  iv: Uint8Array,
  input: Uint8Array,
  out: Uint8Array,
  at: number,
): void {
  _addon().aesCtrInto(key, iv, input, out, at);
}

/**
 * restic's MAC (Poly1305 with the key `r ‖ AES-128(k, nonce)`) of `msg` into `out[0, 16)`.
 * `r` may be unclamped: Poly1305 clamps it.
 */
export function poly1305Aes(
  k: Uint8Array,
  r: Uint8Array,
  nonce: Uint8Array,
  msg: Uint8Array,
  out: Uint8Array,
): void {
  _addon().poly1305Aes(k, r, nonce, msg, out);
}

interface _Addon {
  utimensat(
    path: NativePath,
    atimeSec: bigint,
    atimeNsec: number,
    mtimeSec: bigint,
    mtimeNsec: number,
    noFollow: boolean,
  ): void;
  mknod(path: NativePath, mode: number, dev: bigint | number): void;
  lsetxattr(path: NativePath, name: string, value: Uint8Array): void;
  lgetxattr(path: NativePath, name: string): Buffer;
  llistxattr(path: NativePath): string[];
  lremovexattr(path: NativePath, name: string): void;
  seekData(fd: number, offset: number): number;
  seekHole(fd: number, offset: number): number;
  aesCtrInto(key: Uint8Array, iv: Uint8Array, input: Uint8Array, out: Uint8Array, at: number): void;
  poly1305Aes(k: Uint8Array, r: Uint8Array, nonce: Uint8Array, msg: Uint8Array, out: Uint8Array): void;
  rabinScan(
    buf: Uint8Array,
    from: number,
    to: number,
    eligible: number,
    tables: BigUint64Array,
    shift: number,
    fingerprint: BigUint64Array,
  ): number;
}

const _NS_PER_SEC = 1_000_000_000n;

/** Whole seconds and 0..999999999 ns; floors, so a time before 1970 gets a non-negative ns part. */
function _splitNs(ns: bigint): [bigint, number] {
  const rem = ns % _NS_PER_SEC;
  return rem < 0n ? [ns / _NS_PER_SEC - 1n, Number(rem + _NS_PER_SEC)] : [ns / _NS_PER_SEC, Number(rem)];
}

let _loaded: _Addon | undefined;

// Loaded on first use so commands that never touch these syscalls run without a build.
function _addon(): _Addon {
  _loaded ??= _load();
  return _loaded;
}

function _load(): _Addon {
  const root = _projectRoot();
  const file = join(root, 'build', 'Release', 'arca_native.node');
  try {
    return createRequire(import.meta.url)(file) as _Addon;
  } catch (err) {
    throw new ArcaError(
      'unsupported',
      `arca's native addon ${file} is missing or unloadable: run \`npm install\` in ${root} to build it ` +
        '(node-gyp needs python3, make and a C compiler)',
      { cause: err },
    );
  }
}

// Searched upward because this file runs both as src/fs/native.ts (tsx) and as dist/src/fs/native.js.
function _projectRoot(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  for (let dir = here; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'binding.gyp'))) return dir;
    if (dirname(dir) === dir) {
      throw new ArcaError('unsupported', `arca's native addon cannot be found: no binding.gyp above ${here}`);
    }
  }
}
