/**
 * A remote repository server as the end-to-end tests see it: where arca and restic find a
 * repository called `name` on it, with which options and credentials, and a backend to
 * reach it from the test itself.
 */
import type { Backend } from '../../src/backend/backend.js';
import { openBackend } from '../../src/backend/location.js';
import { startRestServer } from './rest-server.js';

export interface RemoteTarget {
  kind: string;
  /** arca's location for repository `name`. */
  location(name: string): string;
  /** Global arca options (before the command), e.g. `-o sftp.identity=…`. */
  arcaArgs: string[];
  arcaEnv: NodeJS.ProcessEnv;
  /** restic's location for the same repository. */
  resticRepo(name: string): string;
  /** Global restic options, e.g. `-o sftp.command=…`. */
  resticArgs: string[];
  resticEnv: NodeJS.ProcessEnv;
  /** A backend for repository `name`, for the test's own use. */
  open(name: string): Backend;
  stop(): Promise<void>;
}

/** `rclone serve restic` on a free port. */
export async function restTarget(): Promise<RemoteTarget> {
  const server = await startRestServer();
  const location = (name: string): string => `rest:${server.url}${name}/`;
  return {
    kind: 'rest',
    location,
    arcaArgs: [],
    arcaEnv: {},
    resticRepo: location,
    resticArgs: [],
    resticEnv: {},
    open: (name) => openBackend(location(name)),
    stop: () => server.stop(),
  };
}
