import type { Command } from 'commander';
import { isStale } from '../repo/lock.js';
import type { Repository } from '../repo/repository.js';
import { type GlobalOptions, makeOutput, withRepository } from './context.js';

/** Registers `arca unlock`. */
export function registerUnlock(program: Command): void {
  program
    .command('unlock')
    .description('remove stale locks that crashed or killed processes left behind')
    .option('--remove-all', 'remove all locks, even those of running processes')
    .action(async (_opts, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions & { removeAll?: boolean }>();
      const out = makeOutput(o);
      // Like restic, unlock takes no lock itself: it must work while a stale exclusive lock is there.
      await withRepository(o, 'none', async (repo) => {
        const removed = o.removeAll ? await removeAllLocks(repo) : await removeStaleLocks(repo);
        if (removed > 0) out.info(`successfully removed ${removed} locks`);
        else out.info(o.removeAll ? 'no locks found' : 'no stale locks found');
      });
    });
}

/** Removes the locks that are too old or whose process on this host is gone; unreadable ones are left alone. */
async function removeStaleLocks(repo: Repository): Promise<number> {
  let removed = 0;
  for (const { id, lock } of await repo.listLocks()) {
    if (!isStale(lock)) continue;
    await repo.backend.remove({ type: 'locks', name: id });
    removed++;
  }
  return removed;
}

async function removeAllLocks(repo: Repository): Promise<number> {
  const ids = await repo.listIds('locks');
  for (const id of ids) await repo.backend.remove({ type: 'locks', name: id });
  return ids.length;
}
