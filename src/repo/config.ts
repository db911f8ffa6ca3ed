import { randomBytes } from 'node:crypto';
import { ArcaError } from '../errors.js';
import { isIrreducible, parsePolynomial } from './polynomial.js';

/** The repository's `config` file (encrypted, never compressed). */
export interface RepoConfig {
  version: number;
  id: string;
  /** The chunker's irreducible polynomial, as lower-case hex without prefix. */
  chunker_polynomial: string;
}

/** Repository format versions this code reads and writes. */
export const minRepoVersion = 1;
export const maxRepoVersion = 2;

/** Parses and validates the decrypted config. */
export function parseConfig(plain: Buffer): RepoConfig {
  let c: RepoConfig;
  try {
    c = JSON.parse(plain.toString('utf8')) as RepoConfig;
  } catch {
    throw new ArcaError('corrupt', 'the repository config is not valid JSON');
  }
  if (typeof c.version !== 'number' || c.version < minRepoVersion || c.version > maxRepoVersion) {
    throw new ArcaError('unsupported', `unsupported repository version ${String(c.version)}`);
  }
  if (typeof c.id !== 'string' || c.id.length === 0)
    throw new ArcaError('corrupt', 'the repository config has no id');
  if (typeof c.chunker_polynomial !== 'string' || !/^[0-9a-f]{1,16}$/.test(c.chunker_polynomial)) {
    throw new ArcaError('corrupt', 'the repository config has no valid chunker polynomial');
  }
  // restic refuses a reducible polynomial: its chunker would not cut as restic's does.
  if (!isIrreducible(parsePolynomial(c.chunker_polynomial))) {
    throw new ArcaError(
      'corrupt',
      `the repository's chunker polynomial ${c.chunker_polynomial} is not irreducible`,
    );
  }
  return c;
}

/** A new config: random repository ID and the given polynomial. */
export function newConfig(chunkerPolynomial: string, version = maxRepoVersion): RepoConfig {
  return { version, id: randomBytes(32).toString('hex'), chunker_polynomial: chunkerPolynomial };
}
