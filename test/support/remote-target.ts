/**
 * A remote repository server as the end-to-end tests see it: where arca and restic find a
 * repository called `name` on it, with which options and credentials, and a backend to
 * reach it from the test itself. The servers and how each tool names a repository on them
 * are the benchmark's (`bench/remote.ts`), so tests and benchmark reach them alike.
 */
import os from 'node:os';
import path from 'node:path';
import { type RemoteKind, remoteRepo, s3Bucket, startRemote } from '../../bench/remote.js';
import type { Backend } from '../../src/backend/backend.js';
import { openBackend } from '../../src/backend/location.js';
import { parseExtendedOptions } from '../../src/cli/context.js';

export interface RemoteTarget {
  kind: RemoteKind;
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
  /** Where the server keeps repository `name` on this machine, when it keeps it in restic's local layout. */
  dir(name: string): string;
  stop(): Promise<void>;
}

/** The bucket S3 repositories go in. */
export { s3Bucket };

async function target(kind: RemoteKind): Promise<RemoteTarget> {
  const running = await startRemote(kind, os.tmpdir());
  const server = running.server;
  const arca = (name: string) => remoteRepo(server, 'arca', name);
  const restic = (name: string) => remoteRepo(server, 'restic', name);
  const { args: arcaArgs, env: arcaEnv } = arca('');
  const { args: resticArgs, env: resticEnv } = restic('');
  // arca's global options are `-o key=value` pairs: the test's own backends get the same ones.
  const extended = parseExtendedOptions(arcaArgs.filter((_, i) => arcaArgs[i - 1] === '-o'));
  return {
    kind,
    location: (name) => arca(name).repo,
    arcaArgs,
    arcaEnv,
    resticRepo: (name) => restic(name).repo,
    resticArgs,
    resticEnv,
    open: (name) => openBackend(arca(name).repo, { extended, env: { ...process.env, ...arcaEnv } }),
    dir: (name) => {
      if (server.kind === 'sftp') return path.join(server.root, name);
      if (server.kind === 'rest') return path.join(server.dir, name);
      throw new Error('s3rver keeps objects in its own layout');
    },
    stop: () => running.stop(),
  };
}

/** `rclone serve restic` on a free port. */
export const restTarget = (): Promise<RemoteTarget> => target('rest');

/** OpenSSH's sshd on a free port; arca gets the key and known_hosts through `-o`, restic runs `ssh` with them. */
export const sftpTarget = (): Promise<RemoteTarget> => target('sftp');

/** s3rver (an S3-compatible server from npm) in a child process, path-style addressing. */
export const s3Target = (): Promise<RemoteTarget> => target('s3');
