import { ArcaError } from '../errors.js';
import type { Backend, BackendOptions } from './backend.js';
import { LocalBackend } from './local.js';
import { openRestBackend } from './rest.js';
import { openS3Backend } from './s3.js';
import { openSftpBackend } from './sftp.js';

/**
 * Opens the backend a repository location names, written as restic writes it:
 * `/path` or `local:/path`, `sftp:user@host:/path`, `s3:https://host/bucket/prefix`,
 * `rest:http://host:port/path`. Remote backends connect on first use.
 */
export function openBackend(location: string, options: BackendOptions = {}): Backend {
  if (location === '') throw new ArcaError('usage', 'no repository given (use -r/--repo or ARCA_REPOSITORY)');
  switch (locationKind(location)) {
    case 'local':
      return new LocalBackend(location.startsWith('local:') ? location.slice('local:'.length) : location);
    case 'sftp':
      return openSftpBackend(location, options);
    case 's3':
      return openS3Backend(location, options);
    case 'rest':
      return openRestBackend(location, options);
    default:
      throw new ArcaError(
        'unsupported',
        `repository location ${JSON.stringify(`${/^([a-z0-9]+):/.exec(location)?.[1]}:`)} is not supported (use a path, local:, sftp:, s3: or rest:)`,
      );
  }
}

/** The kinds of place a repository can be. */
export type LocationKind = 'local' | 'sftp' | 's3' | 'rest';

/** Which kind of place a location names; undefined for a scheme arca does not know. */
export function locationKind(location: string): LocationKind | undefined {
  const scheme = /^([a-z0-9]+):/.exec(location)?.[1];
  if (scheme === undefined || location.startsWith('/') || scheme === 'local') return 'local';
  return scheme === 'sftp' || scheme === 's3' || scheme === 'rest' ? scheme : undefined;
}
