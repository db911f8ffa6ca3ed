import assert from 'node:assert/strict';
import { test } from 'node:test';
import { type RemoteServer, remoteRepo } from './remote.js';
import { invocation, type RunPaths, type ToolSetup } from './tools.js';

const sftp: RemoteServer = {
  kind: 'sftp',
  user: 'bench',
  port: 2222,
  root: '/w/servers/sshd/repos',
  identityFile: '/w/id',
  knownHostsFile: '/w/known_hosts',
};
const s3: RemoteServer = {
  kind: 's3',
  endpoint: 'http://127.0.0.1:9000',
  env: { AWS_ACCESS_KEY_ID: 'KEY', AWS_SECRET_ACCESS_KEY: 'SECRET' },
};
const rest: RemoteServer = { kind: 'rest', url: 'http://127.0.0.1:8000/', dir: '/w/rest' };

const paths: RunPaths = {
  repo: '/w/run/repo',
  cacheDir: '/w/run/cache',
  tmpDir: '/w/run/tmp',
  passwordFile: '/w/password',
  source: '/w/data/quick',
  target: '/w/restore',
};
const setup: ToolSetup = { arcaBin: '/w/arca/bin/arca.js', resticBin: '/usr/bin/restic' };

test('sftp: arca gets an sftp:// URL with an absolute path and its key and known_hosts as -o', () => {
  assert.deepEqual(remoteRepo(sftp, 'arca', 'quick-arca-1'), {
    repo: 'sftp://bench@127.0.0.1:2222//w/servers/sshd/repos/quick-arca-1',
    args: ['-o', 'sftp.identity=/w/id', '-o', 'sftp.known-hosts=/w/known_hosts'],
    env: {},
  });
});

test('sftp: restic runs ssh with the same key, port and known_hosts, strictly and without prompts', () => {
  assert.deepEqual(remoteRepo(sftp, 'restic', 'quick-restic-1'), {
    repo: 'sftp:bench@127.0.0.1:/w/servers/sshd/repos/quick-restic-1',
    args: [
      '-o',
      'sftp.command=ssh -i /w/id -p 2222 -o UserKnownHostsFile=/w/known_hosts -o StrictHostKeyChecking=yes ' +
        '-o BatchMode=yes bench@127.0.0.1 -s sftp',
    ],
    env: {},
  });
});

test('s3 and rest: the same location for both tools; S3 credentials in the environment', () => {
  for (const tool of ['arca', 'restic'] as const) {
    assert.deepEqual(remoteRepo(s3, tool, 'n'), {
      repo: 's3:http://127.0.0.1:9000/bench/n',
      args: [],
      env: { AWS_ACCESS_KEY_ID: 'KEY', AWS_SECRET_ACCESS_KEY: 'SECRET' },
    });
    assert.deepEqual(remoteRepo(rest, tool, 'n'), {
      repo: 'rest:http://127.0.0.1:8000/n/',
      args: [],
      env: {},
    });
  }
});

test('a local run is unchanged: arca gets no cache directory, restic its fresh one', () => {
  const a = invocation('arca', 'backup-first', paths, setup);
  assert.deepEqual(a.args, ['/w/arca/bin/arca.js', '-r', '/w/run/repo', '-q', 'backup', '/w/data/quick']);
  const r = invocation('restic', 'check', paths, setup);
  assert.deepEqual(r.args, [
    '-r',
    '/w/run/repo',
    '--cache-dir',
    '/w/run/cache',
    '-q',
    'check',
    '--read-data',
  ]);
  assert.equal(r.env.AWS_ACCESS_KEY_ID, undefined);
});

test('over a remote both tools get the location, its options and env, and the run’s cache directory', () => {
  const p: RunPaths = { ...paths, remote: { server: sftp, name: 'quick-arca-1' } };
  const a = invocation('arca', 'init', p, setup);
  assert.equal(a.cmd, process.execPath);
  assert.deepEqual(a.args, [
    '/w/arca/bin/arca.js',
    '-r',
    'sftp://bench@127.0.0.1:2222//w/servers/sshd/repos/quick-arca-1',
    '-o',
    'sftp.identity=/w/id',
    '-o',
    'sftp.known-hosts=/w/known_hosts',
    '--cache-dir',
    '/w/run/cache',
    '-q',
    'init',
  ]);
  assert.equal(a.env.ARCA_PASSWORD_FILE, '/w/password');

  const r = invocation(
    'restic',
    'restore',
    { ...paths, remote: { server: s3, name: 'quick-restic-1' } },
    setup,
  );
  assert.equal(r.cmd, '/usr/bin/restic');
  assert.deepEqual(r.args, [
    '-r',
    's3:http://127.0.0.1:9000/bench/quick-restic-1',
    '--cache-dir',
    '/w/run/cache',
    '-q',
    'restore',
    'latest',
    '--target',
    '/w/restore',
  ]);
  assert.equal(r.env.AWS_ACCESS_KEY_ID, 'KEY');
  assert.equal(r.env.AWS_SECRET_ACCESS_KEY, 'SECRET');
  assert.equal(r.env.RESTIC_PASSWORD_FILE, '/w/password');
  assert.equal(r.env.TMPDIR, '/w/run/tmp');
});
