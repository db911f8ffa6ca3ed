import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { cheapKdf } from '../../test/support/cheap-key.js';
import { restic, resticCat, resticInit, writePasswordFile } from '../../test/support/restic.js';
import { makeTempDir, removeTree, tempDir } from '../../test/support/tmp.js';
import { requireTool } from '../../test/support/tools.js';
import { LocalBackend } from '../backend/local.js';
import { ArcaError, type ErrorCode } from '../errors.js';
import { parseConfig } from './config.js';
import { isValidKey, newRandomKey, open } from './crypto.js';
import { addKey, deriveUserKey, type KdfParams, openKey, parseKeyFile, unlockKeyFile } from './key.js';
import { loadUnpacked } from './unpacked.js';

/** scrypt parameters cheap enough for tests (restic accepts any valid ones). */
const cheap: KdfParams = cheapKdf;
const password = 'correct horse battery staple';

interface ResticRepo {
  dir: string;
  repo: string;
  passwordFile: string;
}

async function initResticRepo(dir: string): Promise<ResticRepo> {
  const repo = path.join(dir, 'repo');
  const passwordFile = await writePasswordFile(dir, password);
  await resticInit(repo, passwordFile);
  return { dir, repo, passwordFile };
}

// One restic-made repository shared by the read-only tests of this file.
let shared: Promise<ResticRepo> | undefined;
after(async () => {
  const r = await shared?.catch(() => undefined);
  if (r) await removeTree(r.dir);
});
function sharedResticRepo(): Promise<ResticRepo> {
  shared ??= makeTempDir('key-shared').then(initResticRepo);
  return shared;
}

async function rejectsWith(fn: () => Promise<unknown>, code: ErrorCode, message?: RegExp): Promise<void> {
  await assert.rejects(fn, (err: unknown) => {
    assert.ok(err instanceof ArcaError, `expected an ArcaError, got ${String(err)}`);
    assert.equal(err.code, code, err.message);
    if (message) assert.match(err.message, message);
    return true;
  });
}

const sha256 = (b: Buffer): string => createHash('sha256').update(b).digest('hex');

describe('key files written by restic', { concurrency: true }, () => {
  test('openKey with the right password yields the master key that decrypts the config', async (t) => {
    if (!requireTool(t, 'restic', 'restic')) return;
    const r = await sharedResticRepo();
    const [keyName] = await readdir(path.join(r.repo, 'keys'));
    const backend = new LocalBackend(r.repo);

    const opened = await openKey(backend, password);
    assert.equal(opened.id, keyName);
    assert.equal(opened.file.kdf, 'scrypt');
    assert.equal(isValidKey(opened.master), true);
    // restic ≤ 0.16 stores r clamped (FORMAT-NOTES §3).
    for (const j of [3, 7, 11, 15]) assert.ok(opened.master.macR[j]! <= 0x0f);

    const plain = await loadUnpacked(backend, opened.master, 2, 'config', '');
    const config = parseConfig(plain);
    assert.equal(config.version, 2);
    assert.match(config.id, /^[0-9a-f]{64}$/);
    const resticView = JSON.parse((await resticCat(r.repo, r.passwordFile, 'config')).toString('utf8'));
    assert.deepEqual(JSON.parse(plain.toString('utf8')), resticView);
  });

  test('openKey with a wrong password fails with wrong-password', async (t) => {
    if (!requireTool(t, 'restic', 'restic')) return;
    const r = await sharedResticRepo();
    await rejectsWith(() => openKey(new LocalBackend(r.repo), 'not the password'), 'wrong-password');
  });

  test('restic accepts a key file written by addKey (cheap scrypt parameters)', async (t) => {
    if (!requireTool(t, 'restic', 'restic')) return;
    const r = await initResticRepo(await tempDir(t, 'key-add'));
    const backend = new LocalBackend(r.repo);
    const original = await openKey(backend, password);

    const newId = await addKey(backend, original.master, 'second password', cheap, {
      username: 'tester',
      hostname: 'testhost',
    });
    const raw = await readFile(path.join(r.repo, 'keys', newId));
    assert.equal(sha256(raw), newId, 'a key file is named by its SHA-256');

    const second = await openKey(backend, 'second password');
    assert.equal(second.id, newId);
    assert.deepEqual(second.master, original.master);
    assert.equal(
      (await openKey(backend, password)).id,
      original.id,
      'the first password still opens its key',
    );
    assert.equal((await openKey(backend, 'second password', newId.slice(0, 8))).id, newId);

    const newPasswordFile = path.join(r.dir, 'password2');
    await writeFile(newPasswordFile, 'second password', { mode: 0o600 });
    const { stdout } = await restic(['key', 'list', '--json'], {
      repo: r.repo,
      passwordFile: newPasswordFile,
    });
    const keys = JSON.parse(stdout) as { current: boolean; id: string; userName: string; hostName: string }[];
    assert.equal(keys.length, 2);
    const current = keys.find((k) => k.current);
    assert.deepEqual(
      { id: current?.id, userName: current?.userName, hostName: current?.hostName },
      { id: newId.slice(0, 8), userName: 'tester', hostName: 'testhost' },
    );
    const config = JSON.parse((await resticCat(r.repo, newPasswordFile, 'config')).toString('utf8'));
    const ours = parseConfig(await loadUnpacked(backend, second.master, 2, 'config', ''));
    assert.deepEqual(config, ours);
  });
});

describe('addKey and openKey without restic', () => {
  test('round trip, file layout and master-key JSON in Go field order', async (t) => {
    const dir = await tempDir(t, 'key-roundtrip');
    const backend = new LocalBackend(dir);
    await backend.create();
    const master = newRandomKey();
    const id = await addKey(backend, master, 'pw', cheap, { username: 'u', hostname: 'h' });

    const raw = await readFile(path.join(dir, 'keys', id));
    assert.equal(sha256(raw), id);
    const kf = JSON.parse(raw.toString('utf8')) as Record<string, unknown>;
    assert.deepEqual(Object.keys(kf), [
      'created',
      'username',
      'hostname',
      'kdf',
      'N',
      'r',
      'p',
      'salt',
      'data',
    ]);
    assert.deepEqual({ kdf: kf['kdf'], N: kf['N'], r: kf['r'], p: kf['p'] }, { kdf: 'scrypt', ...cheap });
    assert.ok(!Number.isNaN(Date.parse(String(kf['created']))));
    assert.equal(Buffer.from(String(kf['salt']), 'base64').length, 64);

    const userKey = await deriveUserKey('pw', Buffer.from(String(kf['salt']), 'base64'), cheap);
    const masterJson = open(userKey, Buffer.from(String(kf['data']), 'base64')).toString('utf8');
    assert.equal(
      masterJson,
      JSON.stringify({
        mac: { k: master.macK.toString('base64'), r: master.macR.toString('base64') },
        encrypt: master.encrypt.toString('base64'),
      }),
    );

    const opened = await openKey(backend, 'pw');
    assert.equal(opened.id, id);
    assert.deepEqual(opened.master, master);
    await rejectsWith(() => openKey(backend, 'PW'), 'wrong-password');
  });

  test('with several keys every one is tried, and the hinted one first', async (t) => {
    const dir = await tempDir(t, 'key-several');
    const backend = new LocalBackend(dir);
    await backend.create();
    const master = newRandomKey();
    const a = await addKey(backend, master, 'alpha', cheap);
    const b = await addKey(backend, master, 'beta', cheap);
    assert.equal((await openKey(backend, 'alpha')).id, a);
    assert.equal((await openKey(backend, 'beta')).id, b);
    assert.equal((await openKey(backend, 'beta', b.slice(0, 6))).id, b);
    assert.equal(
      (await openKey(backend, 'alpha', b.slice(0, 6))).id,
      a,
      'a wrong hint only changes the order',
    );
  });

  test('a repository without key files is corrupt', async (t) => {
    const dir = await tempDir(t, 'key-none');
    const backend = new LocalBackend(dir);
    await backend.create();
    await rejectsWith(() => openKey(backend, 'pw'), 'corrupt', /no key files/);
  });
});

describe('invalid key files and parameters', () => {
  const invalid: KdfParams[] = [
    { N: 0, r: 8, p: 1 },
    { N: 1, r: 8, p: 1 },
    { N: 3, r: 8, p: 1 },
    { N: 1000, r: 8, p: 1 },
    { N: 1024.5, r: 8, p: 1 },
    { N: Number.NaN, r: 8, p: 1 },
    { N: 1024, r: 0, p: 1 },
    { N: 1024, r: 8, p: 0 },
    { N: 1024, r: -8, p: 1 },
    { N: 1024, r: 1.5, p: 1 },
    { N: 1024, r: 2 ** 15, p: 2 ** 15 },
  ];

  test('deriveUserKey and addKey reject invalid scrypt parameters as corrupt', async (t) => {
    const dir = await tempDir(t, 'key-params');
    const backend = new LocalBackend(dir);
    await backend.create();
    for (const params of invalid) {
      await rejectsWith(
        async () => deriveUserKey('pw', Buffer.alloc(64, 1), params),
        'corrupt',
        /invalid scrypt/,
      );
      await rejectsWith(() => addKey(backend, newRandomKey(), 'pw', params), 'corrupt', /invalid scrypt/);
    }
    assert.deepEqual(await readdir(path.join(dir, 'keys')), [], 'nothing was written');
    await rejectsWith(
      async () => deriveUserKey('pw', Buffer.alloc(64, 1), { N: 2 ** 23, r: 8, p: 1 }),
      'unsupported',
    );
  });

  test('openKey refuses a key file with invalid parameters instead of skipping it', async (t) => {
    const dir = await tempDir(t, 'key-badfile');
    const backend = new LocalBackend(dir);
    await backend.create();
    const id = await addKey(backend, newRandomKey(), 'pw', cheap);
    const kf = JSON.parse((await backend.load({ type: 'keys', name: id })).toString('utf8'));
    const bad = Buffer.from(JSON.stringify({ ...kf, N: 1000 }));
    await backend.remove({ type: 'keys', name: id });
    await backend.save({ type: 'keys', name: sha256(bad) }, bad);
    await rejectsWith(() => openKey(backend, 'pw'), 'corrupt', /invalid scrypt parameters N=1000/);
  });

  test('parseKeyFile and unlockKeyFile reject malformed key files', async () => {
    const id = 'ab'.repeat(32);
    const good = {
      created: '2022-08-25T00:00:00Z',
      kdf: 'scrypt',
      ...cheap,
      salt: Buffer.alloc(64, 7).toString('base64'),
      data: Buffer.alloc(80, 9).toString('base64'),
    };
    const parse = (v: unknown) => () =>
      parseKeyFile(id, Buffer.from(typeof v === 'string' ? v : JSON.stringify(v)));
    assert.throws(parse('{"kdf":'), (e: unknown) => e instanceof ArcaError && e.code === 'corrupt');
    assert.throws(
      parse({ ...good, kdf: 'argon2' }),
      (e: unknown) => e instanceof ArcaError && e.code === 'unsupported',
    );
    assert.throws(
      parse({ ...good, salt: undefined }),
      (e: unknown) => e instanceof ArcaError && e.code === 'corrupt',
    );
    assert.throws(
      parse({ ...good, data: 5 }),
      (e: unknown) => e instanceof ArcaError && e.code === 'corrupt',
    );
    assert.deepEqual(parse(good)(), good);

    const shortSalt = { ...good, salt: Buffer.alloc(32, 7).toString('base64') };
    await rejectsWith(() => unlockKeyFile(shortSalt, id, 'pw'), 'corrupt', /32-byte salt/);
    assert.equal(
      await unlockKeyFile(good, id, 'pw'),
      undefined,
      'data that does not authenticate is a wrong password',
    );
  });
});
