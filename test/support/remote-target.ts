/**
 * A remote repository server as the end-to-end tests see it: where arca and restic find a
 * repository called `name` on it, with which options and credentials, and a backend to
 * reach it from the test itself.
 */
import path from 'node:path';
import type { Backend } from '../../src/backend/backend.js';
import { openBackend } from '../../src/backend/location.js';
import { startRestServer } from './rest-server.js';
import { startS3Server } from './s3server.js';
import { startSshd } from './sshd.js';

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
  /** Where the server keeps repository `name` on this machine, when it keeps it in restic's local layout. */
  dir(name: string): string;
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
    dir: (name) => path.join(server.dir, name),
    stop: () => server.stop(),
  };
}

/**
 * OpenSSH's sshd on a free port. arca gets the key and known_hosts file through `-o`;
 * restic runs `ssh` with the same key and known_hosts file.
 */
export async function sftpTarget(): Promise<RemoteTarget> {
  const sshd = await startSshd();
  const location = (name: string): string =>
    `sftp://${sshd.user}@${sshd.host}:${sshd.port}/${sshd.root}/${name}`;
  const extended = { 'sftp.identity': sshd.identityFile, 'sftp.known-hosts': sshd.knownHostsFile };
  const ssh = [
    'ssh',
    `-i ${sshd.identityFile}`,
    `-p ${sshd.port}`,
    `-o UserKnownHostsFile=${sshd.knownHostsFile}`,
    '-o StrictHostKeyChecking=yes',
    '-o BatchMode=yes',
    `${sshd.user}@${sshd.host}`,
    '-s sftp',
  ].join(' ');
  return {
    kind: 'sftp',
    location,
    arcaArgs: Object.entries(extended).flatMap(([k, v]) => ['-o', `${k}=${v}`]),
    arcaEnv: {},
    resticRepo: (name) => `sftp:${sshd.user}@${sshd.host}:${sshd.root}/${name}`,
    resticArgs: ['-o', `sftp.command=${ssh}`],
    resticEnv: {},
    open: (name) => openBackend(location(name), { extended }),
    dir: (name) => path.join(sshd.root, name),
    stop: () => sshd.stop(),
  };
}

/** s3rver (an S3-compatible server from npm) in a child process, path-style addressing. */
export async function s3Target(): Promise<RemoteTarget> {
  const server = await startS3Server();
  const location = (name: string): string => `s3:${server.endpoint}/arca-e2e/${name}`;
  return {
    kind: 's3',
    location,
    arcaArgs: [],
    arcaEnv: server.env,
    resticRepo: location,
    resticArgs: [],
    resticEnv: server.env,
    open: (name) => openBackend(location(name), { env: server.env }),
    dir: () => {
      throw new Error('s3rver keeps objects in its own layout');
    },
    stop: () => server.stop(),
  };
}
