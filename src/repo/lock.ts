import os from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { ArcaError } from '../errors.js';
import type { Id } from './id.js';
import type { Repository } from './repository.js';

/** A lock file's content (restic's format). */
export interface LockData {
  time: string;
  exclusive: boolean;
  hostname: string;
  username: string;
  pid: number;
  uid?: number;
  gid?: number;
}

/** A lock that is older than this is stale (restic's `staleLockTimeout`). */
export const staleAfterMs = 30 * 60 * 1000;
const refreshEveryMs = 5 * 60 * 1000;
const waitBeforeCheckMs = 200;

/** True when a lock can be ignored: too old, or held by a process of this host that no longer runs. */
export function isStale(l: LockData, now = Date.now()): boolean {
  const t = Date.parse(l.time);
  if (!Number.isFinite(t) || now - t > staleAfterMs) return true;
  if (l.hostname !== os.hostname()) return false;
  try {
    process.kill(l.pid, 0);
    return false;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'ESRCH';
  }
}

/** Describes a lock for an error message. */
export function describeLock(id: Id, l: LockData): string {
  return `${l.exclusive ? 'exclusively ' : ''}locked by PID ${l.pid} on ${l.hostname} by ${l.username} since ${l.time} (lock ${id.slice(0, 8)})`;
}

/** A held lock; refreshes itself until released. */
export class Lock {
  private id: Id;
  private timer: NodeJS.Timeout | undefined;
  private refreshing: Promise<void> = Promise.resolve();

  private constructor(
    private readonly repo: Repository,
    id: Id,
    private readonly exclusive: boolean,
  ) {
    this.id = id;
    this.timer = setInterval(() => {
      this.refreshing = this.refresh().catch(() => {});
    }, refreshEveryMs);
    this.timer.unref();
  }

  /**
   * Takes a lock as restic does: write ours, wait, then look for conflicting locks that are
   * not stale. An exclusive lock conflicts with every lock; a shared one with exclusive ones.
   * `whileWaiting` starts once our lock file is written, during the wait: from then on no
   * exclusive operation (prune) can begin unnoticed, so it may read the repository (load the
   * index, say); if a conflict shows up, the caller discards what it read.
   */
  static async acquire(repo: Repository, exclusive: boolean, whileWaiting?: () => void): Promise<Lock> {
    await assertNoConflict(repo, exclusive, undefined);
    const id = await repo.saveJsonUnpacked('locks', lockData(exclusive));
    whileWaiting?.();
    try {
      await sleep(waitBeforeCheckMs);
      await assertNoConflict(repo, exclusive, id);
    } catch (err) {
      await repo.backend.remove({ type: 'locks', name: id });
      throw err;
    }
    return new Lock(repo, id, exclusive);
  }

  private async refresh(): Promise<void> {
    const old = this.id;
    this.id = await this.repo.saveJsonUnpacked('locks', lockData(this.exclusive));
    await this.repo.backend.remove({ type: 'locks', name: old });
  }

  /** Removes the lock file. */
  async release(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    await this.refreshing;
    await this.repo.backend.remove({ type: 'locks', name: this.id });
  }
}

function lockData(exclusive: boolean): LockData {
  const u = os.userInfo();
  return {
    time: new Date().toISOString(),
    exclusive,
    hostname: os.hostname(),
    username: u.username,
    pid: process.pid,
    uid: u.uid,
    gid: u.gid,
  };
}

async function assertNoConflict(repo: Repository, exclusive: boolean, own: Id | undefined): Promise<void> {
  for (const { id, lock } of await repo.listLocks()) {
    if (id === own || isStale(lock)) continue;
    if (exclusive || lock.exclusive) {
      throw new ArcaError('locked', `repository is already ${describeLock(id, lock)}`);
    }
  }
}
