import type { Backend } from '../backend/backend.js';
import { ArcaError } from '../errors.js';
import { newConfig } from './config.js';
import { newRandomKey } from './crypto.js';
import { calibrateKdf } from './kdf.js';
import { addKey, type KdfParams } from './key.js';
import { degree, formatPolynomial, isIrreducible, randomPolynomial } from './polynomial.js';
import { Repository } from './repository.js';

/** The format version `init` writes unless told otherwise (restic's `StableRepoVersion`). */
export const stableRepoVersion = 2;

/** How to set up a new repository. */
export interface InitOptions {
  /** Reuse this chunker polynomial (e.g. another repository's, so both deduplicate alike). */
  chunkerPolynomial?: bigint;
  version?: 1 | 2;
  /** scrypt parameters for the first key; calibrated on this machine when absent. */
  kdf?: KdfParams;
}

/**
 * Creates a repository at `backend` with one key for `password`. The key file is written
 * first and the config last, so an interrupted init leaves no config and the directory is
 * never mistaken for a repository.
 */
export async function initRepository(
  backend: Backend,
  password: string,
  opts: InitOptions = {},
): Promise<Repository> {
  const pol = opts.chunkerPolynomial ?? randomPolynomial();
  // restic's chunker needs degree ≤ 53 so that `digest << 8` fits in 64 bits.
  if (degree(pol) < 1 || degree(pol) > 53 || !isIrreducible(pol)) {
    throw new ArcaError(
      'corrupt',
      `chunker polynomial ${formatPolynomial(pol)} is not irreducible of degree 1..53`,
    );
  }
  const leftover = await firstKey(backend);
  if (leftover !== undefined && !(await hasConfig(backend))) {
    // Another master key's file with the same password could open first and then fail to
    // decrypt the new config, so a leftover key would make the new repository unusable.
    throw new ArcaError(
      'exists',
      `${backend.location} has no config but already holds key ${leftover.slice(0, 8)} (an interrupted init?); ` +
        'remove its keys/ directory or choose an empty location',
    );
  }
  // Refuses a location that already has a config.
  await backend.create();
  const master = newRandomKey();
  const keyId = await addKey(backend, master, password, opts.kdf ?? (await calibrateKdf()));
  const repo = Repository.fromParts(
    backend,
    master,
    keyId,
    newConfig(formatPolynomial(pol), opts.version ?? stableRepoVersion),
  );
  await repo.saveJsonUnpacked('config', repo.config);
  return repo;
}

async function firstKey(backend: Backend): Promise<string | undefined> {
  for await (const fi of backend.list('keys')) return fi.name;
  return undefined;
}

async function hasConfig(backend: Backend): Promise<boolean> {
  try {
    await backend.stat({ type: 'config', name: '' });
    return true;
  } catch (err) {
    if (err instanceof ArcaError && err.code === 'not-found') return false;
    throw err;
  }
}
