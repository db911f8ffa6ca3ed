import assert from 'node:assert/strict';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { ArcaError } from '../errors.js';
import { openSftpBackend, parseSftpLocation, parseSftpOptions } from './sftp.js';

const me = os.userInfo().username;

function usageError(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ArcaError, String(err));
    assert.equal(err.code, 'usage');
    assert.match(err.message, pattern);
    return true;
  });
}

describe('sftp locations', () => {
  it('reads the scp-like form restic writes', () => {
    assert.deepEqual(parseSftpLocation('sftp:alice@backup.example.com:/srv/restic'), {
      user: 'alice',
      host: 'backup.example.com',
      path: '/srv/restic',
    });
    assert.deepEqual(parseSftpLocation('sftp:alice@host:repos/mine/'), {
      user: 'alice',
      host: 'host',
      path: 'repos/mine',
    });
    assert.deepEqual(parseSftpLocation('sftp:host:/p'), { user: me, host: 'host', path: '/p' });
    assert.deepEqual(parseSftpLocation('sftp:host:'), { user: me, host: 'host', path: '.' });
    assert.deepEqual(parseSftpLocation('sftp:u@corp@host:/a:b@c'), {
      user: 'u@corp',
      host: 'host',
      path: '/a:b@c',
    });
  });

  it('reads the URL form: //abs is absolute, /rel relative to the login directory', () => {
    assert.deepEqual(parseSftpLocation('sftp://bob@host:2222//srv/repo'), {
      user: 'bob',
      host: 'host',
      port: 2222,
      path: '/srv/repo',
    });
    assert.deepEqual(parseSftpLocation('sftp://bob@host/relative/repo'), {
      user: 'bob',
      host: 'host',
      path: 'relative/repo',
    });
    assert.deepEqual(parseSftpLocation('sftp://host:22/r'), { user: me, host: 'host', port: 22, path: 'r' });
    assert.deepEqual(parseSftpLocation('sftp://b%40corp@host//x'), {
      user: 'b@corp',
      host: 'host',
      path: '/x',
    });
  });

  it('takes IPv6 addresses in brackets', () => {
    assert.deepEqual(parseSftpLocation('sftp:carol@[::1]:/srv/r'), {
      user: 'carol',
      host: '::1',
      path: '/srv/r',
    });
    assert.deepEqual(parseSftpLocation('sftp://carol@[fe80::1]:2200//r'), {
      user: 'carol',
      host: 'fe80::1',
      port: 2200,
      path: '/r',
    });
  });

  it('refuses what it cannot use, without echoing a password', () => {
    usageError(() => parseSftpLocation('sftp:hostonly'), /expected sftp:\[user@\]host:path/);
    usageError(() => parseSftpLocation('sftp:u@:/p'), /no host/);
    usageError(() => parseSftpLocation('sftp://u@host'), /no directory/);
    usageError(() => parseSftpLocation('sftp://u@host:99999//p'), /port/);
    usageError(() => parseSftpLocation('sftp:u@host:~/repo'), /~/);
    usageError(() => parseSftpLocation('sftp:u@[::1/p'), /IPv6/);
    assert.throws(
      () => parseSftpLocation('sftp://u:hunter2@host//p'),
      (err: unknown) =>
        err instanceof ArcaError && /password/.test(err.message) && !err.message.includes('hunter2'),
    );
  });

  it('prints the location back as given, and opens without connecting', async () => {
    const b = openSftpBackend('sftp:alice@host:/srv/r', { extended: { 'sftp.port': '2222' } });
    assert.equal(b.location, 'sftp:alice@host:/srv/r');
    await b.close();
  });
});

describe('sftp options', () => {
  it('reads every option and defaults the rest', () => {
    assert.deepEqual(parseSftpOptions({}), {
      knownHostsFile: path.join(os.homedir(), '.ssh', 'known_hosts'),
      hostKeyPolicy: 'strict',
      timeoutMs: 30_000,
    });
    assert.deepEqual(
      parseSftpOptions({
        'sftp.identity': '~/keys/id',
        'sftp.port': '2022',
        'sftp.known-hosts': '/etc/kh',
        'sftp.host-key-policy': 'accept-new',
        'sftp.timeout': '2.5',
        's3.region': 'not mine',
      }),
      {
        identity: path.join(os.homedir(), 'keys/id'),
        port: 2022,
        knownHostsFile: '/etc/kh',
        hostKeyPolicy: 'accept-new',
        timeoutMs: 2500,
      },
    );
  });

  it('refuses unknown keys and bad values', () => {
    usageError(() => parseSftpOptions({ 'sftp.identiy': 'x' }), /sftp\.identity, sftp\.port/);
    usageError(() => parseSftpOptions({ 'sftp.host-key-policy': 'yes' }), /strict, accept-new or off/);
    usageError(() => parseSftpOptions({ 'sftp.timeout': '0' }), /seconds/);
    usageError(() => parseSftpOptions({ 'sftp.port': 'ssh' }), /port/);
    usageError(
      () => openSftpBackend('sftp://u@h:2222//r', { extended: { 'sftp.port': '22' } }),
      /port 2222 .* sftp\.port=22/,
    );
  });
});
