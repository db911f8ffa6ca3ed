import * as crypto from 'node:crypto';
import { ArcaError } from '../errors.js';

/** A restic ID: 64 lower-case hex digits, the SHA-256 of something. */
export type Id = string;

const idPattern = /^[0-9a-f]{64}$/;

// crypto.hash (Node >= 20.12) hashes in one call, without a Hash object per blob.
const oneShot = (crypto as { hash?: (algorithm: string, data: Uint8Array, encoding: 'hex') => string }).hash;

/** SHA-256 of `data` as an ID. */
export function hashId(data: Uint8Array): Id {
  return oneShot ? oneShot('sha256', data, 'hex') : crypto.createHash('sha256').update(data).digest('hex');
}

/** True when `s` is a full, well-formed ID. */
export function isId(s: string): boolean {
  return idPattern.test(s);
}

/** The 8-digit short form restic prints. */
export function shortId(id: Id): string {
  return id.slice(0, 8);
}

/**
 * Resolves a unique prefix (or a full ID) against `ids`.
 * Throws a clear error when nothing or more than one ID matches.
 */
export function resolvePrefix(prefix: string, ids: Iterable<Id>, what: string): Id {
  const p = prefix.toLowerCase();
  if (!/^[0-9a-f]{1,64}$/.test(p))
    throw new ArcaError('usage', `invalid ${what} ID ${JSON.stringify(prefix)}`);
  let found: Id | undefined;
  for (const id of ids) {
    if (!id.startsWith(p)) continue;
    if (found !== undefined && found !== id) {
      throw new ArcaError(
        'usage',
        `${what} ID prefix ${prefix} is ambiguous (matches ${shortId(found)} and ${shortId(id)})`,
      );
    }
    found = id;
  }
  if (found === undefined) throw new ArcaError('not-found', `no ${what} matches ID ${prefix}`);
  return found;
}
