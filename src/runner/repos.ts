/**
 * Opening the policy's repositories: each by its location, with its password, backend
 * environment and options resolved from their references (src/secret/resolve.ts), through
 * the same stack of cache, retries and limits the CLI uses. Every repository a run opens is
 * closed with its lock released, whatever happens.
 */
import { openBackendStack } from '../backend/stack.js';
import { onInterrupt, releaseAndClose } from '../cli/context.js';
import { ArcaError } from '../errors.js';
import type { Policy } from '../policy/schema.js';
import type { MasterKey } from '../repo/crypto.js';
import type { Id } from '../repo/id.js';
import type { Lock } from '../repo/lock.js';
import { Repository } from '../repo/repository.js';
import { resolveSecret } from '../secret/resolve.js';

/** How the runner reaches repositories. */
export interface RepoAccess {
  env: NodeJS.ProcessEnv;
  /** `false` turns the metadata cache off; default: arca's cache directory. */
  cacheDir?: string | false;
  /** Bandwidth limits in KiB/s (`--limit-upload`, `--limit-download`), for every repository. */
  limitUploadKiBs?: number;
  limitDownloadKiBs?: number;
  /** Told about each retry of a remote operation. */
  onRetry?: (line: string) => void;
  /** Told about trouble that does not fail the work (a lock that could not be removed). */
  onWarning?: (line: string) => void;
  /**
   * Keys unlocked earlier in this process, by repository name: a run opens each repository
   * several times (backup, copy, retention, the journal's backup), and deriving the key from
   * the password each time would cost a second or more.
   */
  keys?: Map<string, { master: MasterKey; id: Id }>;
}

/** Opens the policy's repository `name`; the caller closes it (see {@link withPolicyRepository}). */
export async function openPolicyRepository(
  policy: Policy,
  name: string,
  access: RepoAccess,
): Promise<Repository> {
  const r = policy.repositories[name];
  if (r === undefined) throw new ArcaError('usage', `the policy has no repository ${JSON.stringify(name)}`);
  const what = `repository ${name}`;
  const env: NodeJS.ProcessEnv = { ...access.env };
  for (const [k, v] of Object.entries(r.env ?? {}))
    env[k] = await resolveSecret(v, `${what}: ${k}`, access.env);
  const extended: Record<string, string> = {};
  for (const [k, v] of Object.entries(r.options ?? {}))
    extended[k] = await resolveSecret(v, `${what}: option ${k}`, access.env);
  const known = access.keys?.get(name);
  const password = known ? '' : await resolveSecret(r.password, `${what}: password`, access.env);
  const backend = openBackendStack(r.location, {
    extended,
    env,
    cacheDir: access.cacheDir,
    limitUploadKiBs: access.limitUploadKiBs,
    limitDownloadKiBs: access.limitDownloadKiBs,
    onRetry: (op, attempt, err, delayMs) =>
      access.onRetry?.(
        `${what}: ${op}: ${err.message}; retrying in ${(delayMs / 1000).toFixed(1)} s (attempt ${attempt + 1})`,
      ),
  });
  try {
    if (known) return await Repository.openUnlocked(backend, known);
    const repo = await Repository.open(backend, password);
    access.keys?.set(name, repo.unlockedKey());
    return repo;
  } catch (err) {
    await backend.close();
    if (err instanceof ArcaError) throw new ArcaError(err.code, `${what}: ${err.message}`, { cause: err });
    throw err;
  }
}

/**
 * Opens repository `name`, takes a lock as restic would for the work (shared for backups and
 * copies, exclusive for forget and prune), runs `fn`, then releases the lock and closes it.
 */
export async function withPolicyRepository<T>(
  policy: Policy,
  name: string,
  access: RepoAccess,
  mode: 'shared' | 'exclusive',
  fn: (repo: Repository) => Promise<T>,
): Promise<T> {
  const repo = await openPolicyRepository(policy, name, access);
  let lock: Lock | undefined;
  // On Ctrl-C or SIGTERM the lock is removed before arca exits, as the CLI's commands do.
  const cleanUp = onInterrupt(async () => {
    await lock?.release();
  });
  let result: T;
  try {
    lock = await repo.lock(mode === 'exclusive');
    result = await fn(repo);
  } catch (err) {
    cleanUp();
    // The work's own error is the one that matters; a lock left behind goes stale.
    const releaseError = await releaseAndClose(lock, repo.backend);
    if (releaseError)
      access.onWarning?.(`repository ${name}: could not remove the lock: ${String(releaseError)}`);
    throw err;
  }
  cleanUp();
  // The work is done (a snapshot saved): a lock that cannot be removed must not undo that.
  const releaseError = await releaseAndClose(lock, repo.backend);
  if (releaseError)
    access.onWarning?.(`repository ${name}: could not remove the lock: ${String(releaseError)}`);
  return result;
}
