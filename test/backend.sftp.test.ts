import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { readdir, readFile, stat, writeFile } from 'node:fs/promises';
import net from 'node:net';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import type { Backend } from '../src/backend/backend.js';
import { openBackend } from '../src/backend/location.js';
import { ArcaError } from '../src/errors.js';
import { backendContract, nameOf } from './support/backend-contract.js';
import { makeKey, type SshdServer, skipUnlessSshd, startSshd } from './support/sshd.js';

const skip = skipUnlessSshd();

/**
 * Both ways restic writes a location: the URL form names the port, the scp-like form takes it
 * from -o. The contract gets URL forms only: its credentials check reads `sftp:user@` as a password.
 */
function location(s: SshdServer, dir: string, urlForm: boolean): string {
  return urlForm ? `sftp://${s.user}@127.0.0.1:${s.port}/${dir}` : `sftp:${s.user}@127.0.0.1:${dir}`;
}

function options(s: SshdServer, more: Record<string, string> = {}) {
  return {
    extended: {
      'sftp.identity': s.identityFile,
      'sftp.known-hosts': s.knownHostsFile,
      'sftp.port': String(s.port),
      ...more,
    },
    env: {},
  };
}

backendContract(
  'sftp',
  async () => {
    const s = await startSshd();
    return {
      freshLocation: () => location(s, path.join(s.root, randomBytes(6).toString('hex')), true),
      open: (loc) => openBackend(loc, options(s)),
      stop: () => s.stop(),
    };
  },
  { skip },
);

async function rejectsPermanently(p: Promise<unknown>, pattern: RegExp): Promise<ArcaError> {
  let caught: unknown;
  await assert.rejects(p, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof ArcaError, `expected an ArcaError, got ${String(caught)}`);
  assert.match(caught.message, pattern);
  assert.equal(caught.transient, false, `should not be retried: ${caught.message}`);
  return caught;
}

describe('sftp backend: host keys, authentication, connections', { skip }, () => {
  let s: SshdServer;
  const opened: Backend[] = [];
  const open = (more: Record<string, string> = {}, dir = randomBytes(6).toString('hex')): Backend => {
    const b = openBackend(location(s, path.join(s.root, dir), false), options(s, more));
    opened.push(b);
    return b;
  };
  const knownHosts = async (content: string): Promise<string> => {
    const file = path.join(s.scratch, `known_hosts-${randomBytes(4).toString('hex')}`);
    await writeFile(file, content);
    return file;
  };

  before(async () => {
    s = await startSshd();
  });
  after(async () => {
    for (const b of opened) await b.close();
    await s?.stop();
  });

  it('refuses an unknown host key under strict, naming its fingerprint and both ways forward', async () => {
    const file = await knownHosts('');
    const err = await rejectsPermanently(open({ 'sftp.known-hosts': file }).create(), /not known/);
    assert.ok(err.message.includes(s.hostKeyFingerprint), err.message);
    assert.match(err.message, /ssh-keyscan -p \d+ -t ssh-ed25519 127\.0\.0\.1/);
    assert.match(err.message, /sftp\.host-key-policy=accept-new/);
    assert.equal(await readFile(file, 'utf8'), '', 'strict must not write known_hosts');
  });

  it('accept-new adds the key, and strict accepts it afterwards', async () => {
    const file = await knownHosts(
      '# my hosts\nother.example.com ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOopdSaTi8HfU6YIxl8m0ueNRXTrwYiMiyoIjmg/fESt',
    );
    const b = open({ 'sftp.known-hosts': file, 'sftp.host-key-policy': 'accept-new' });
    await b.create();
    const lines = (await readFile(file, 'utf8')).split('\n');
    assert.equal(lines[2], `[127.0.0.1]:${s.port} ${s.hostPublicKey}`);
    const strict = openBackend(b.location, options(s, { 'sftp.known-hosts': file }));
    opened.push(strict);
    assert.deepEqual(await collect(strict.list('keys')), []);
  });

  it('accepts a hashed known_hosts entry', async () => {
    const file = await knownHosts(`[127.0.0.1]:${s.port} ${s.hostPublicKey}\n`);
    await promisify(execFile)('ssh-keygen', ['-H', '-f', file]);
    assert.match(await readFile(file, 'utf8'), /^\|1\|/);
    await open({ 'sftp.known-hosts': file }).create();
  });

  it('refuses a changed host key even with accept-new; off connects', async () => {
    const other = await makeKey(path.join(s.scratch, `other-${randomBytes(4).toString('hex')}`));
    const file = await knownHosts(`[127.0.0.1]:${s.port} ${other}\n`);
    for (const policy of ['strict', 'accept-new']) {
      const err = await rejectsPermanently(
        open({ 'sftp.known-hosts': file, 'sftp.host-key-policy': policy }).create(),
        /CHANGED/,
      );
      assert.ok(err.message.includes(s.hostKeyFingerprint), err.message);
      assert.ok(err.message.includes(`${file}:1`), err.message);
    }
    assert.equal(await readFile(file, 'utf8'), `[127.0.0.1]:${s.port} ${other}\n`);
    await open({ 'sftp.known-hosts': file, 'sftp.host-key-policy': 'off' }).create();
  });

  it('refuses a revoked host key whatever the policy', async () => {
    const file = await knownHosts(
      `@cert-authority * ${s.hostPublicKey}\n[127.0.0.1]:${s.port} ${s.hostPublicKey}\n@revoked * ${s.hostPublicKey}\n`,
    );
    for (const policy of ['strict', 'accept-new', 'off']) {
      await rejectsPermanently(
        open({ 'sftp.known-hosts': file, 'sftp.host-key-policy': policy }).create(),
        /revoked/,
      );
    }
  });

  it('reports a key the server does not accept as an authentication failure, not to be retried', async () => {
    const stranger = path.join(s.scratch, `stranger-${randomBytes(4).toString('hex')}`);
    await makeKey(stranger);
    const err = await rejectsPermanently(
      open({ 'sftp.identity': stranger }).create(),
      /authentication as .+@127\.0\.0\.1 failed: no accepted key/,
    );
    assert.ok(err.message.startsWith(`sftp: authentication as ${s.user}@127.0.0.1 failed`), err.message);
  });

  it('refuses an identity file it cannot use, with the reason', async () => {
    await rejectsPermanently(open({ 'sftp.identity': path.join(s.scratch, 'missing') }).create(), /identity/);
    const encrypted = path.join(s.scratch, `encrypted-${randomBytes(4).toString('hex')}`);
    await promisify(execFile)('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'open sesame', '-f', encrypted]);
    await rejectsPermanently(open({ 'sftp.identity': encrypted }).create(), /ARCA_SFTP_KEY_PASSPHRASE/);
    await promisify(execFile)('ssh-keygen', [
      '-p',
      '-q',
      '-P',
      '',
      '-N',
      'open sesame',
      '-f',
      s.identityFile,
    ]);
    try {
      const b = openBackend(location(s, path.join(s.root, 'encrypted-key'), true), {
        ...options(s),
        env: { ARCA_SFTP_KEY_PASSPHRASE: 'open sesame' },
      });
      opened.push(b);
      await b.create();
    } finally {
      await promisify(execFile)('ssh-keygen', [
        '-p',
        '-q',
        '-P',
        'open sesame',
        '-N',
        '',
        '-f',
        s.identityFile,
      ]);
    }
  });

  it('reports a refused connection as transient', async () => {
    const port = await new Promise<number>((resolve) => {
      const server = net.createServer().listen(0, '127.0.0.1', () => {
        const address = server.address() as net.AddressInfo;
        server.close(() => resolve(address.port));
      });
    });
    const b = openBackend(
      `sftp://${s.user}@127.0.0.1:${port}//tmp/x`,
      options(s, { 'sftp.port': String(port) }),
    );
    opened.push(b);
    await assert.rejects(b.create(), (err: unknown) => err instanceof ArcaError && err.transient);
  });

  it('gives up on a server that never answers after sftp.timeout, as transient', async () => {
    const sockets: net.Socket[] = [];
    const silent = net.createServer((socket) => {
      socket.on('error', () => undefined);
      sockets.push(socket);
    });
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const b = openBackend(
        `sftp:${s.user}@127.0.0.1:/tmp/x`,
        options(s, { 'sftp.port': String(port), 'sftp.timeout': '0.5' }),
      );
      opened.push(b);
      await assert.rejects(
        b.create(),
        (err: unknown) => err instanceof ArcaError && err.transient && /timed out/.test(err.message),
      );
    } finally {
      for (const socket of sockets) socket.destroy();
      await new Promise((resolve) => silent.close(resolve));
    }
  });

  it('shares one connection among concurrent first calls, and reconnects after it drops', async () => {
    const b = open();
    const blobs = Array.from({ length: 8 }, () => randomBytes(1000));
    const before = s.logins();
    await Promise.all(blobs.map((d) => b.save({ type: 'index', name: nameOf(d) }, d)));
    assert.equal(s.logins() - before, 1, 'one login for all first calls');
    await s.dropConnections();
    const h = { type: 'index' as const, name: nameOf(blobs[0] as Buffer) };
    let loaded: Buffer | undefined;
    for (let attempt = 0; attempt < 3 && loaded === undefined; attempt++) {
      try {
        loaded = await b.load(h);
      } catch (err) {
        assert.ok(
          err instanceof ArcaError && err.transient,
          `a dropped connection is transient: ${String(err)}`,
        );
      }
    }
    assert.deepEqual(loaded, blobs[0]);
    assert.equal((await collect(b.list('index'))).length, blobs.length);
    assert.equal(s.logins() - before, 2, 'one more login after the drop');
  });

  it('writes files read-only, with no temporary file left behind', async () => {
    const dir = randomBytes(6).toString('hex');
    const b = open({}, dir);
    await b.create();
    const data = randomBytes(100);
    await b.save({ type: 'data', name: nameOf(data) }, data);
    const pack = path.join(s.root, dir, 'data', nameOf(data).slice(0, 2));
    assert.deepEqual(await readdir(pack), [nameOf(data)]);
    assert.equal((await stat(path.join(pack, nameOf(data)))).mode & 0o777, 0o400);
    assert.equal((await readdir(path.join(s.root, dir, 'data'))).length, 256);
  });
});

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}
