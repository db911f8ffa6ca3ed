import assert from 'node:assert/strict';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import type { LimitFunction } from 'p-limit';
import { tempDir } from '../../test/support/tmp.js';
import { ArcaError } from '../errors.js';
import type { Backend } from './backend.js';
import { CachedBackend } from './cache.js';
import { LimitedBackend } from './limits.js';
import { LocalBackend } from './local.js';
import { RetryBackend } from './retry.js';
import { openBackendStack, type StackOptions } from './stack.js';

/** The backend a decorator wraps (a private field: the layering is what these tests check). */
function innerOf(b: Backend): Backend {
  const inner = (b as unknown as { inner?: Backend }).inner;
  assert.ok(inner !== undefined, `${b.constructor.name} wraps nothing`);
  return inner;
}

/** How many operations a limiter lets run at once. */
function connectionsOf(b: LimitedBackend): number {
  return (b as unknown as { slots: LimitFunction }).slots.concurrency;
}

/** Layer names from the outside in. */
function layers(b: Backend): string[] {
  const out = [b.constructor.name];
  for (
    let i = 0;
    i < 5 && (b instanceof CachedBackend || b instanceof RetryBackend || b instanceof LimitedBackend);
    i++
  ) {
    b = innerOf(b);
    out.push(b.constructor.name);
  }
  return out;
}

function rejectsUsage(fn: () => unknown, message: RegExp): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof ArcaError, `expected an ArcaError, got ${String(err)}`);
    assert.equal(err.code, 'usage', err.message);
    assert.match(err.message, message);
    return true;
  });
}

test('a local directory is opened bare: no retries, no cache, no limiter', async (t) => {
  const dir = await tempDir(t, 'stack');
  const cacheDir = path.join(dir, 'cache');
  for (const location of [path.join(dir, 'repo'), `local:${path.join(dir, 'repo')}`]) {
    const b = openBackendStack(location, { cacheDir });
    assert.ok(b instanceof LocalBackend, location);
    assert.equal(b.root, path.join(dir, 'repo'));
  }
  const relative = openBackendStack('some/relative/repo', { cacheDir: false });
  assert.ok(relative instanceof LocalBackend);
  assert.equal(relative.root, path.resolve('some/relative/repo'));
});

test('a local directory gets a limiter, with no bound on connections, when a bandwidth limit is asked for', async (t) => {
  const dir = await tempDir(t, 'stack');
  const cases: [StackOptions, number | undefined, number | undefined][] = [
    [{ limitUploadKiBs: 100 }, 100, undefined],
    [{ limitDownloadKiBs: 200 }, undefined, 200],
    [{ limitUploadKiBs: 1, limitDownloadKiBs: 2 }, 1, 2],
  ];
  for (const [opts, up, down] of cases) {
    const b = openBackendStack(path.join(dir, 'repo'), opts);
    assert.deepEqual(layers(b), ['LimitedBackend', 'LocalBackend'], JSON.stringify(opts));
    assert.ok(b instanceof LimitedBackend);
    assert.equal(connectionsOf(b), Number.MAX_SAFE_INTEGER);
    const rates = b as unknown as { up?: unknown; down?: unknown };
    assert.equal(rates.up !== undefined, up !== undefined, 'upload limit');
    assert.equal(rates.down !== undefined, down !== undefined, 'download limit');
  }
});

test('the layered local backend still stores and loads', async (t) => {
  const dir = await tempDir(t, 'stack');
  const b = openBackendStack(path.join(dir, 'repo'), {
    limitUploadKiBs: 1 << 20,
    limitDownloadKiBs: 1 << 20,
  });
  await b.create();
  const config = Buffer.from('config bytes');
  await b.save({ type: 'config', name: '' }, config);
  assert.deepEqual(await b.load({ type: 'config', name: '' }), config);
  assert.equal(b.location, path.join(dir, 'repo'));
  await b.close();
});

test("a local directory ignores other backends' connection options", async (t) => {
  const dir = await tempDir(t, 'stack');
  const b = openBackendStack(path.join(dir, 'repo'), {
    extended: { 'sftp.connections': 'many', 'rest.connections': '0' },
  });
  assert.ok(b instanceof LocalBackend);
});

test('<scheme>.connections must be a whole number from 1 to 128', () => {
  const remotes: [string, string][] = [
    ['rest:http://127.0.0.1:1/x', 'rest'],
    ['sftp:user@127.0.0.1:/srv/repo', 'sftp'],
    ['s3:http://127.0.0.1:1/bucket', 's3'],
  ];
  for (const [location, scheme] of remotes) {
    for (const value of ['0', '-1', '129', '1000', '2.5', 'abc', '', 'NaN', 'Infinity']) {
      const key = `${scheme}.connections`;
      rejectsUsage(
        () => openBackendStack(location, { cacheDir: false, extended: { [key]: value } }),
        new RegExp(
          `^-o ${key.replace('.', '\\.')}=${value}: expected a whole number of connections from 1 to 128$`,
        ),
      );
    }
  }
});

test('an empty or unknown location is refused', () => {
  assert.throws(
    () => openBackendStack('', { cacheDir: false }),
    (err) => err instanceof ArcaError && err.code === 'usage',
  );
  assert.throws(
    () => openBackendStack('ftp://example.org/repo', { cacheDir: false }),
    (err) => err instanceof ArcaError && err.code === 'unsupported',
  );
});

/** Opens a REST location; the REST backend does no I/O until first used, so no server is needed. */
function openRest(t: TestContext, opts: StackOptions): Backend {
  const b = openBackendStack('rest:http://127.0.0.1:1/x', opts);
  t.after(() => b.close());
  return b;
}

test('a remote location gets retries over a limiter of 5 connections, and no cache when turned off', (t) => {
  const b = openRest(t, { cacheDir: false });
  assert.ok(b instanceof RetryBackend);
  const limited = innerOf(b);
  assert.ok(limited instanceof LimitedBackend);
  assert.equal(connectionsOf(limited), 5);
  assert.equal(layers(b).length, 3);
  assert.equal(b.location, innerOf(limited).location);
});

test('a remote location is cached in the given directory, over retries and the limiter', (t) => {
  const b = openRest(t, { cacheDir: '/nonexistent/arca-cache' });
  assert.ok(b instanceof CachedBackend);
  assert.equal(b.root, '/nonexistent/arca-cache');
  assert.deepEqual(layers(b).slice(0, 3), ['CachedBackend', 'RetryBackend', 'LimitedBackend']);
});

test('without a cache directory a remote location is cached where ARCA_CACHE_DIR says', (t) => {
  const b = openRest(t, { env: { ARCA_CACHE_DIR: '/nonexistent/from-env' } });
  assert.ok(b instanceof CachedBackend);
  assert.equal(b.root, '/nonexistent/from-env');
});

test('rest.connections sets the limit; another scheme’s key does not', (t) => {
  for (const [value, want] of [
    ['1', 1],
    ['12', 12],
    ['128', 128],
  ] as const) {
    const b = openRest(t, { cacheDir: false, extended: { 'rest.connections': value } });
    const limited = innerOf(b);
    assert.ok(limited instanceof LimitedBackend);
    assert.equal(connectionsOf(limited), want);
  }
  const other = openRest(t, { cacheDir: false, extended: { 'sftp.connections': '1' } });
  assert.equal(connectionsOf(innerOf(other) as LimitedBackend), 5);
});
