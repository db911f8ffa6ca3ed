import { ArcaError } from '../errors.js';
import type { Backend, BackendOptions } from './backend.js';

/** Placeholder until the s3 backend lands. */
export function openS3Backend(location: string, _options: BackendOptions): Backend {
  throw new ArcaError(
    'unsupported',
    `repository location ${JSON.stringify(location)}: s3 is not supported yet`,
  );
}
