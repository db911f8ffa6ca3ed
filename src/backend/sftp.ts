import { ArcaError } from '../errors.js';
import type { Backend, BackendOptions } from './backend.js';

/** Placeholder until the sftp backend lands. */
export function openSftpBackend(location: string, _options: BackendOptions): Backend {
  throw new ArcaError(
    'unsupported',
    `repository location ${JSON.stringify(location)}: sftp is not supported yet`,
  );
}
