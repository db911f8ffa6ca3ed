/**
 * Test speed-up: replaces a repository's calibrated key (restic's or arca's) by one with
 * cheap scrypt parameters for the same password, so each of the many restic and arca runs
 * in a suite does not spend half a second or more deriving the key. The config, packs,
 * index and snapshots stay as the program wrote them; the real key derivation is tested in
 * `src/repo/key.test.ts` and the init tests.
 */
import type { Backend } from '../../src/backend/backend.js';
import { LocalBackend } from '../../src/backend/local.js';
import { addKey } from '../../src/repo/key.js';
import { Repository } from '../../src/repo/repository.js';

/** scrypt parameters that take about a millisecond. */
export const cheapKdf = { N: 1024, r: 8, p: 1 };

/**
 * Swaps every key of the repository at `repo` (a local directory, or any backend, which is
 * closed afterwards) for one cheap key that opens with `password`.
 */
export async function useCheapKey(repo: string | Backend, password: string): Promise<void> {
  const backend = typeof repo === 'string' ? new LocalBackend(repo) : repo;
  try {
    const opened = await Repository.open(backend, password);
    const old = await opened.listIds('keys');
    await addKey(backend, opened.key, password, cheapKdf);
    for (const id of old) await backend.remove({ type: 'keys', name: id });
  } finally {
    await backend.close();
  }
}
