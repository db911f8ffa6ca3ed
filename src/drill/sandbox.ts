/**
 * The drill's sandbox (R25): a private directory (0700) that arca creates for the restore and
 * removes afterwards. A restore test must never land on the data it protects, so any sandbox
 * that is, contains or lies inside a dataset's source path, a local repository, or arca's
 * journal and dump staging is refused before anything is written. Paths are compared after
 * resolving symbolic links, so a link cannot smuggle the sandbox into a source.
 *
 * Each sandbox has an owner file beside it (`arca-drill-XXXX.owner`: process and boot ID). A
 * drill that was killed (SIGKILL, a crash, a reboot) cannot remove its sandbox, which may
 * hold a restored copy of classified data: the next drill removes every sandbox whose owner
 * is gone ({@link sweepSandboxes}). A sandbox kept on purpose (`--keep-sandbox`) loses its
 * owner file and is the user's to remove.
 */
import {
  chmodSync,
  lstatSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  realpathSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import path from 'node:path';
import { locationKind } from '../backend/location.js';
import { ArcaError, isErrno } from '../errors.js';
import type { Policy } from '../policy/schema.js';
import { ownerGone, ownerStamp } from '../runner/dataset_lock.js';

/** A path a sandbox must keep away from, and what it is (for the message). */
export interface ProtectedPath {
  path: string;
  what: string;
}

/** Where arca keeps files of its own that a sandbox must not touch. */
export interface ArcaFiles {
  journalFile: string;
  stateDir: string;
}

/** Every path of the policy and of arca itself that a sandbox must stay clear of. */
export function protectedPaths(policy: Policy, own: ArcaFiles): ProtectedPath[] {
  const out: ProtectedPath[] = [];
  for (const [name, d] of Object.entries(policy.datasets)) {
    for (const p of d.sources.paths ?? []) out.push({ path: p, what: `a source path of dataset ${name}` });
    for (const s of d.sources.sqlite ?? [])
      out.push({ path: s.path, what: `a SQLite source of dataset ${name}` });
  }
  for (const [name, r] of Object.entries(policy.repositories)) {
    if (locationKind(r.location) !== 'local') continue;
    out.push({ path: r.location.replace(/^local:/, ''), what: `repository ${name}` });
  }
  for (const suffix of ['', '-wal', '-shm'])
    out.push({ path: `${own.journalFile}${suffix}`, what: "arca's journal" });
  out.push({ path: path.join(own.stateDir, 'staging'), what: "arca's dump staging directory" });
  return out;
}

/** `p` made absolute with symbolic links resolved as far as it exists. */
export function realPath(p: string): string {
  const abs = path.resolve(p);
  const rest: string[] = [];
  let cur = abs;
  for (;;) {
    try {
      return path.join(realpathSync(cur), ...rest.reverse());
    } catch (err) {
      if (!isErrno(err, 'ENOENT') && !isErrno(err, 'ENOTDIR')) throw err;
    }
    const parent = path.dirname(cur);
    if (parent === cur) return abs;
    rest.push(path.basename(cur));
    cur = parent;
  }
}

function inside(child: string, parent: string): boolean {
  const rel = path.relative(parent, child);
  return rel !== '' && !rel.startsWith(`..${path.sep}`) && rel !== '..' && !path.isAbsolute(rel);
}

/** Throws ArcaError `unsafe-path` when `dir` is, contains or lies inside one of `protect`. */
export function checkSandbox(dir: string, protect: readonly ProtectedPath[]): void {
  const sandbox = realPath(dir);
  for (const p of protect) {
    const other = realPath(p.path);
    const how =
      sandbox === other
        ? 'is'
        : inside(sandbox, other)
          ? 'lies inside'
          : inside(other, sandbox)
            ? 'contains'
            : undefined;
    if (how !== undefined)
      throw new ArcaError(
        'unsafe-path',
        `refusing drill sandbox ${dir}: it ${how} ${p.what} (${p.path}); a drill never restores onto ` +
          'the data it protects: set drill.sandbox to a directory apart from it',
      );
  }
}

/**
 * Creates a fresh sandbox directory (0700) under `base`, after checking both `base` and the
 * new directory against `protect`; nothing is created when `base` is refused.
 */
export function createSandbox(base: string, protect: readonly ProtectedPath[]): string {
  checkSandbox(base, protect);
  mkdirSync(base, { recursive: true, mode: 0o700 });
  const dir = mkdtempSync(path.join(base, 'arca-drill-'));
  chmodSync(dir, 0o700);
  try {
    checkSandbox(dir, protect);
    writeFileSync(ownerFile(dir), `${ownerStamp()}\n`, { mode: 0o600 });
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
  return dir;
}

/** Removes a sandbox and everything restored into it, read-only directories included. */
export function removeSandbox(dir: string): void {
  makeWritable(Buffer.from(dir));
  rmSync(dir, { recursive: true, force: true });
  rmSync(ownerFile(dir), { force: true });
}

/** Hands a sandbox kept with `--keep-sandbox` over to the user: no later drill removes it. */
export function keepSandbox(dir: string): void {
  rmSync(ownerFile(dir), { force: true });
}

/** Removes the sandboxes under `base` whose drill is gone (killed, crashed, before a reboot); returns them. */
export function sweepSandboxes(base: string): string[] {
  let names: string[];
  try {
    names = readdirSync(base);
  } catch (err) {
    if (isErrno(err, 'ENOENT')) return [];
    throw err;
  }
  const removed: string[] = [];
  for (const name of names) {
    if (!name.startsWith('arca-drill-') || !name.endsWith(ownerSuffix)) continue;
    const owner = path.join(base, name);
    if (!ownerGone(owner)) continue;
    const dir = owner.slice(0, -ownerSuffix.length);
    removeSandbox(dir);
    removed.push(dir);
  }
  return removed;
}

const ownerSuffix = '.owner';

function ownerFile(dir: string): string {
  return `${dir}${ownerSuffix}`;
}

function makeWritable(dir: Buffer): void {
  let names: Buffer[];
  try {
    chmodSync(dir, 0o700);
    names = readdirSync(dir, { encoding: 'buffer' });
  } catch {
    return;
  }
  for (const name of names) {
    const p = Buffer.concat([dir, Buffer.from('/'), name]);
    if (lstatSync(p).isDirectory()) makeWritable(p);
  }
}
