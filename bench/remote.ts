/**
 * Remote repositories for the bench: one test server per kind for the whole run (OpenSSH's
 * sshd, s3rver, `rclone serve restic`, all on 127.0.0.1, from `test/support/`), and how
 * each tool names a repository on it, with which global options and environment.
 */
import { mkdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { dirBytes } from './datasets.js';
import type { ToolName } from './tools.js';

export const remoteKinds = ['sftp', 's3', 'rest'] as const;
export type RemoteKind = (typeof remoteKinds)[number];

/** The bucket both tools' S3 repositories go in (created by whichever `init` comes first). */
export const s3Bucket = 'bench';

/** What the harness knows of a running server: plain data, so locations follow from it alone. */
export type RemoteServer =
  | {
      kind: 'sftp';
      user: string;
      port: number;
      /** The directory on the server (the same machine) holding the repositories. */
      root: string;
      identityFile: string;
      knownHostsFile: string;
    }
  | { kind: 's3'; endpoint: string; env: Record<string, string> }
  | {
      kind: 'rest';
      /** `http://127.0.0.1:PORT/`. */
      url: string;
      /** The directory the server stores repositories in. */
      dir: string;
    };

/** How one tool reaches one repository: its location, global options and extra environment. */
export interface RemoteRepo {
  repo: string;
  args: string[];
  env: Record<string, string>;
}

/** Where `tool` finds repository `name` on `server`. */
export function remoteRepo(server: RemoteServer, tool: ToolName, name: string): RemoteRepo {
  switch (server.kind) {
    case 'sftp': {
      const login = `${server.user}@127.0.0.1`;
      if (tool === 'arca') {
        return {
          // `//` after the port: an absolute path on the server.
          repo: `sftp://${login}:${server.port}/${path.posix.join(server.root, name)}`,
          args: [
            '-o',
            `sftp.identity=${server.identityFile}`,
            '-o',
            `sftp.known-hosts=${server.knownHostsFile}`,
          ],
          env: {},
        };
      }
      const ssh = [
        'ssh',
        `-i ${server.identityFile}`,
        `-p ${server.port}`,
        `-o UserKnownHostsFile=${server.knownHostsFile}`,
        '-o StrictHostKeyChecking=yes',
        '-o BatchMode=yes',
        login,
        '-s sftp',
      ].join(' ');
      return {
        repo: `sftp:${login}:${path.posix.join(server.root, name)}`,
        args: ['-o', `sftp.command=${ssh}`],
        env: {},
      };
    }
    case 's3':
      return { repo: `s3:${server.endpoint}/${s3Bucket}/${name}`, args: [], env: { ...server.env } };
    case 'rest':
      return { repo: `rest:${server.url}${name}/`, args: [], env: {} };
  }
}

/** A server started for the bench run. */
export interface RunningRemote {
  server: RemoteServer;
  /** What it is, for the report. */
  description: string;
  stop(): Promise<void>;
}

/**
 * Starts a server of `kind` that keeps its files under `storageDir` (the bench's work
 * directory, so remote repositories sit on the same filesystem as the local ones). The test
 * support modules make their directories under the OS temp directory, so TMPDIR points
 * there while they start.
 */
export async function startRemote(kind: RemoteKind, storageDir: string): Promise<RunningRemote> {
  await mkdir(storageDir, { recursive: true });
  const saved = process.env.TMPDIR;
  process.env.TMPDIR = storageDir;
  try {
    return await launch(kind);
  } finally {
    if (saved === undefined) delete process.env.TMPDIR;
    else process.env.TMPDIR = saved;
  }
}

async function launch(kind: RemoteKind): Promise<RunningRemote> {
  switch (kind) {
    case 'sftp': {
      const { startSshd } = await import('../test/support/sshd.js');
      const s = await startSshd();
      return {
        server: {
          kind,
          user: s.user,
          port: s.port,
          root: s.root,
          identityFile: s.identityFile,
          knownHostsFile: s.knownHostsFile,
        },
        description: `OpenSSH sshd (internal-sftp) on 127.0.0.1:${s.port}, repositories in ${s.root}`,
        stop: () => s.stop(),
      };
    }
    case 's3': {
      const { startS3Server } = await import('../test/support/s3server.js');
      const s = await startS3Server();
      return {
        server: { kind, endpoint: s.endpoint, env: s.env },
        description: `s3rver (Node child process) at ${s.endpoint}, bucket ${s3Bucket}, path-style`,
        stop: () => s.stop(),
      };
    }
    case 'rest': {
      const { startRestServer } = await import('../test/support/rest-server.js');
      const s = await startRestServer();
      return {
        server: { kind, url: s.url, dir: s.dir },
        description: `rclone serve restic at ${s.url}, repositories in ${s.dir}`,
        stop: () => s.stop(),
      };
    }
  }
}

/** The objects of repository `name` on an S3 server, with a client to act on them. */
async function s3Objects(server: Extract<RemoteServer, { kind: 's3' }>, name: string) {
  // The SDK warns once per process that later releases need Node 22; not news in a report.
  // (baseEnv leaves AWS_* out of the tools' environment, so this does not reach them.)
  process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';
  const { S3Client, ListObjectsV2Command } = await import('@aws-sdk/client-s3');
  const client = new S3Client({
    endpoint: server.endpoint,
    region: 'us-east-1',
    forcePathStyle: true,
    credentials: {
      accessKeyId: server.env.AWS_ACCESS_KEY_ID ?? '',
      secretAccessKey: server.env.AWS_SECRET_ACCESS_KEY ?? '',
    },
  });
  const objects: { key: string; size: number }[] = [];
  let token: string | undefined;
  // Bounded: a repository of a bench data set has far fewer than 10 million objects.
  for (let page = 0; page < 10_000; page++) {
    const out = await client.send(
      new ListObjectsV2Command({ Bucket: s3Bucket, Prefix: `${name}/`, ContinuationToken: token }),
    );
    for (const o of out.Contents ?? []) objects.push({ key: o.Key ?? '', size: o.Size ?? 0 });
    token = out.NextContinuationToken;
    if (!out.IsTruncated || token === undefined) break;
  }
  return { client, objects };
}

/** The bytes repository `name` takes on the server (files on disk; objects' sizes for S3). */
export async function remoteRepoBytes(server: RemoteServer, name: string): Promise<number> {
  switch (server.kind) {
    case 'sftp':
      return dirBytes(path.join(server.root, name));
    case 'rest':
      return dirBytes(path.join(server.dir, name));
    case 's3': {
      const { client, objects } = await s3Objects(server, name);
      client.destroy();
      return objects.reduce((n, o) => n + o.size, 0);
    }
  }
}

/** Deletes repository `name` from the server, to free the space before the next run. */
export async function removeRemoteRepo(server: RemoteServer, name: string): Promise<void> {
  switch (server.kind) {
    case 'sftp':
      return rm(path.join(server.root, name), { recursive: true, force: true });
    case 'rest':
      return rm(path.join(server.dir, name), { recursive: true, force: true });
    case 's3': {
      const { DeleteObjectCommand } = await import('@aws-sdk/client-s3');
      const { client, objects } = await s3Objects(server, name);
      try {
        for (let i = 0; i < objects.length; i += 16) {
          await Promise.all(
            objects
              .slice(i, i + 16)
              .map((o) => client.send(new DeleteObjectCommand({ Bucket: s3Bucket, Key: o.key }))),
          );
        }
      } finally {
        client.destroy();
      }
    }
  }
}
