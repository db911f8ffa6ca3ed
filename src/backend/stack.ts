import os from 'node:os';
import { ArcaError } from '../errors.js';
import type { Backend, BackendOptions } from './backend.js';
import { CachedBackend, defaultCacheDir } from './cache.js';
import { LimitedBackend, type TransferLimits } from './limits.js';
import { locationKind, openBackend } from './location.js';
import { defaultRetryPolicy, RetryBackend, type RetryListener, type RetryPolicy } from './retry.js';

/** Everything besides the location that decides how a repository is reached. */
export interface StackOptions extends BackendOptions {
  /** Upload and download bandwidth limits in KiB/s. */
  limitUploadKiBs?: number;
  limitDownloadKiBs?: number;
  /** Where the metadata cache lives; `false` turns it off. Defaults to {@link defaultCacheDir}. */
  cacheDir?: string | false;
  /** Told about every retry (the CLI prints a warning). */
  onRetry?: RetryListener;
  retryPolicy?: RetryPolicy;
}

/** Parallel operations per remote unless `-o <scheme>.connections=N` says otherwise (restic uses 5). */
const defaultConnections = 5;

/**
 * Opens a repository location with the layers a network needs around it, in restic's
 * order: cache (metadata from disk) → retries with backoff → limits (connections,
 * bandwidth) → the backend itself. A local directory gets only the bandwidth limit when
 * one is asked for: retries and a cache would add nothing but copies.
 */
export function openBackendStack(location: string, opts: StackOptions = {}): Backend {
  const kind = locationKind(location);
  const remote = kind !== undefined && kind !== 'local';
  const { connections, rest } = takeConnections(opts.extended ?? {}, remote ? kind : undefined);
  let backend = openBackend(location, { extended: rest, env: opts.env });
  const limits: TransferLimits = {
    connections: connections ?? (remote ? defaultConnections : Number.MAX_SAFE_INTEGER),
    uploadKiBs: opts.limitUploadKiBs,
    downloadKiBs: opts.limitDownloadKiBs,
  };
  if (remote || limits.uploadKiBs !== undefined || limits.downloadKiBs !== undefined) {
    backend = new LimitedBackend(backend, limits);
  }
  if (!remote) return backend;
  backend = new RetryBackend(backend, opts.retryPolicy ?? defaultRetryPolicy, opts.onRetry);
  const cacheDir = opts.cacheDir ?? defaultCacheDir(opts.env ?? process.env, os.homedir());
  return cacheDir === false ? backend : new CachedBackend(backend, cacheDir);
}

/** Splits `<scheme>.connections` off the extended options: the limiter owns it, not the backend. */
function takeConnections(
  extended: Readonly<Record<string, string>>,
  scheme: string | undefined,
): { connections: number | undefined; rest: Record<string, string> } {
  const rest: Record<string, string> = {};
  let connections: number | undefined;
  for (const [key, value] of Object.entries(extended)) {
    if (scheme === undefined || key !== `${scheme}.connections`) {
      rest[key] = value;
      continue;
    }
    connections = Number(value);
    if (!Number.isInteger(connections) || connections < 1 || connections > 128) {
      throw new ArcaError(
        'usage',
        `-o ${key}=${value}: expected a whole number of connections from 1 to 128`,
      );
    }
  }
  return { connections, rest };
}
