import { ArcaError } from '../errors.js';
import type { Backend, BackendOptions } from './backend.js';

/** Placeholder until the rest backend lands. */
export function openRestBackend(location: string, _options: BackendOptions): Backend {
  throw new ArcaError(
    'unsupported',
    `repository location ${JSON.stringify(location)}: rest is not supported yet`,
  );
}
