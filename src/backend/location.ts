import { ArcaError } from '../errors.js';
import type { Backend } from './backend.js';
import { LocalBackend } from './local.js';

/** Opens the backend a repository location names (`/path`, `local:/path`). */
export function openBackend(location: string): Backend {
  if (location === '') throw new ArcaError('usage', 'no repository given (use -r/--repo or ARCA_REPOSITORY)');
  const scheme = /^([a-z0-9]+):/.exec(location)?.[1];
  if (scheme === undefined || location.startsWith('/')) return new LocalBackend(location);
  if (scheme === 'local') return new LocalBackend(location.slice('local:'.length));
  throw new ArcaError(
    'unsupported',
    `repository location ${JSON.stringify(scheme + ':')} is not supported yet`,
  );
}
