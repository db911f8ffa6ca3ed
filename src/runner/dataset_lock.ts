/**
 * No two runs of the same dataset overlap, across processes too (the daemon and a manual
 * `arca run --dataset`, two timers): a run holds `<state>/locks/<dataset>.lock`, created
 * exclusively and holding its process ID and the kernel's boot ID. A lock whose process is
 * gone, or that was taken before the last reboot (its process ID may belong to another
 * program by now), is stale and taken over; the repository locks (restic's) still guard the
 * repositories themselves.
 */
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { ArcaError, isErrno } from '../errors.js';

/** A held dataset lock; `release` removes it. */
export interface DatasetLock {
  release(): void;
}

/** Takes the lock of `dataset`, or throws ArcaError `locked` naming the process that holds it. */
export function lockDataset(stateDir: string, dataset: string): DatasetLock {
  const dir = path.join(stateDir, 'locks');
  mkdirSync(dir, { recursive: true, mode: 0o700 });
  const file = path.join(dir, `${dataset}.lock`);
  for (let attempt = 0; attempt < 2; attempt++) {
    try {
      writeFileSync(file, `${ownerStamp()}\n`, { flag: 'wx', mode: 0o600 });
      return { release: () => rmSync(file, { force: true }) };
    } catch (err) {
      if (!isErrno(err, 'EEXIST')) throw err;
    }
    const { pid, boot } = readLock(file);
    if (pid !== undefined && pid !== process.pid && boot === bootId() && isAlive(pid))
      throw new ArcaError(
        'locked',
        `dataset ${dataset} is being backed up by another arca process (pid ${pid})`,
      );
    // Stale: its process is gone (or it is ours, left by a run that crashed in this process).
    rmSync(file, { force: true });
  }
  throw new ArcaError('locked', `cannot take the lock of dataset ${dataset} (${file})`);
}

/** `pid boot-id`: what a lock or an owner file says about the process holding it. */
export function ownerStamp(): string {
  return `${process.pid} ${bootId()}`;
}

/**
 * True when the owner file `file` names a process that is gone: it ended, or it ran before
 * the last reboot. A file that cannot be read counts as gone.
 */
export function ownerGone(file: string): boolean {
  const { pid, boot } = readLock(file);
  if (pid === undefined) return true;
  return boot !== bootId() || (pid !== process.pid && !isAlive(pid));
}

function readLock(file: string): { pid?: number; boot?: string } {
  try {
    const [pidText, boot] = readFileSync(file, 'utf8').trim().split(' ');
    const n = Number.parseInt(pidText ?? '', 10);
    return { pid: Number.isSafeInteger(n) && n > 0 ? n : undefined, boot: boot ?? '' };
  } catch {
    return {};
  }
}

let cachedBootId: string | undefined;

/** The kernel's ID of this boot (Linux), or '' where there is none. */
function bootId(): string {
  if (cachedBootId === undefined) {
    try {
      cachedBootId = readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim();
    } catch {
      cachedBootId = '';
    }
  }
  return cachedBootId;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    // EPERM: it exists but belongs to someone else.
    return isErrno(err, 'EPERM');
  }
}
