import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { promises as fsp } from 'node:fs';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { backendContract } from '../../test/support/backend-contract.js';
import { makeTempDir, removeTree, tempDir } from '../../test/support/tmp.js';
import { ArcaError } from '../errors.js';
import type { Backend, FileInfo, FileType, Handle } from './backend.js';
import { CachedBackend, defaultCacheDir } from './cache.js';
import { LocalBackend } from './local.js';

const nameOf = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

const repoId = nameOf(Buffer.from('repository id'));

interface Load {
  type: FileType;
  name: string;
  offset: number | undefined;
  length: number | undefined;
}

/** Forwards to a real backend, recording loads; can damage loads, fail saves and fail listings part-way. */
class Recording implements Backend {
  readonly loads: Load[] = [];
  saves = 0;
  /** What loads return instead of what is stored. */
  mangle: ((data: Buffer) => Buffer) | undefined;
  /** The next save fails with this error. */
  failSave: Error | undefined;
  /** Listings fail with this error after giving this many entries. */
  failListing: { after: number; err: Error } | undefined;

  constructor(readonly inner: Backend) {}

  get location(): string {
    return this.inner.location;
  }

  create(): Promise<void> {
    return this.inner.create();
  }

  async load(h: Handle, offset?: number, length?: number): Promise<Buffer> {
    this.loads.push({ type: h.type, name: h.name, offset, length });
    const data = await this.inner.load(h, offset, length);
    return this.mangle === undefined ? data : this.mangle(data);
  }

  async save(h: Handle, data: Buffer): Promise<void> {
    this.saves++;
    const err = this.failSave;
    this.failSave = undefined;
    if (err !== undefined) throw err;
    await this.inner.save(h, data);
  }

  stat(h: Handle): Promise<FileInfo> {
    return this.inner.stat(h);
  }

  async *list(type: FileType): AsyncIterable<FileInfo> {
    let given = 0;
    for await (const fi of this.inner.list(type)) {
      if (this.failListing !== undefined && given === this.failListing.after) throw this.failListing.err;
      given++;
      yield fi;
    }
  }

  remove(h: Handle): Promise<void> {
    return this.inner.remove(h);
  }

  async close(): Promise<void> {}
}

interface Setup {
  local: LocalBackend;
  remote: Recording;
  root: string;
  cache: CachedBackend;
  /** A new cache over the same remote and cache directory, as the next arca process would open. */
  reopen(): Promise<CachedBackend>;
  /** Where the cache keeps a file. */
  cached(type: FileType, name: string): string;
}

async function setup(t: TestContext, attach = true): Promise<Setup> {
  const dir = await tempDir(t, 'cache');
  const local = new LocalBackend(path.join(dir, 'repo'));
  await local.create();
  const remote = new Recording(local);
  const root = path.join(dir, 'cache');
  const cache = new CachedBackend(remote, root);
  if (attach) await cache.attach(repoId);
  return {
    local,
    remote,
    root,
    cache,
    reopen: async () => {
      const again = new CachedBackend(remote, root);
      await again.attach(repoId);
      return again;
    },
    cached: (type, name) => path.join(root, repoId, type, name.slice(0, 2), name),
  };
}

/** Stores random bytes on the remote, bypassing the cache. */
async function put(local: Backend, type: FileType, size = 200): Promise<{ h: Handle; data: Buffer }> {
  const data = randomBytes(size);
  const h: Handle = { type, name: nameOf(data) };
  await local.save(h, data);
  return { h, data };
}

async function exists(file: string): Promise<boolean> {
  try {
    await fsp.access(file);
    return true;
  } catch {
    return false;
  }
}

/** Every file below `dir`, as paths relative to it; empty when `dir` does not exist. */
async function filesBelow(dir: string): Promise<string[]> {
  if (!(await exists(dir))) return [];
  const entries = await fsp.readdir(dir, { recursive: true, withFileTypes: true });
  return entries
    .filter((e) => e.isFile())
    .map((e) => path.relative(dir, path.join(e.parentPath ?? e.path, e.name)))
    .sort();
}

async function listAll(b: Backend, type: FileType): Promise<string[]> {
  const out: string[] = [];
  for await (const fi of b.list(type)) out.push(fi.name);
  return out.sort();
}

test('before attach nothing is cached and nothing is written', async (t) => {
  const s = await setup(t, false);
  const { h, data } = await put(s.local, 'index');
  assert.deepEqual(await s.cache.load(h), data);
  assert.deepEqual(await s.cache.load(h), data);
  assert.equal(s.remote.loads.length, 2);
  const saved = randomBytes(50);
  await s.cache.save({ type: 'snapshots', name: nameOf(saved) }, saved);
  assert.deepEqual(await listAll(s.cache, 'index'), [h.name]);
  assert.equal(await exists(s.root), false, 'the cache directory was created before attach');
});

test('attach ignores anything that is not a repository ID', async (t) => {
  const s = await setup(t, false);
  for (const id of ['', 'abc', 'AB'.repeat(32), `${repoId}0`, '../../etc']) await s.cache.attach(id);
  assert.equal(await exists(s.root), false);
  const { h } = await put(s.local, 'snapshots');
  await s.cache.load(h);
  await s.cache.load(h);
  assert.equal(s.remote.loads.length, 2);
});

test('attach makes private directories and tags the cache root with CACHEDIR.TAG', async (t) => {
  const s = await setup(t);
  const tag = await fsp.readFile(path.join(s.root, 'CACHEDIR.TAG'), 'utf8');
  // The signature is fixed by https://bford.info/cachedir/; tools check the first 43 bytes.
  assert.ok(tag.startsWith('Signature: 8a477f597d28d172789f06886806bc55'), tag);
  for (const dir of [s.root, path.join(s.root, repoId)]) {
    const st = await fsp.stat(dir);
    assert.ok(st.isDirectory());
    assert.equal(st.mode & 0o077, 0, `${dir} is open to others: ${(st.mode & 0o777).toString(8)}`);
  }
  // A second attach (the next process) keeps an existing tag as it is.
  await fsp.writeFile(
    path.join(s.root, 'CACHEDIR.TAG'),
    'Signature: 8a477f597d28d172789f06886806bc55\nmine\n',
  );
  await s.reopen();
  assert.match(await fsp.readFile(path.join(s.root, 'CACHEDIR.TAG'), 'utf8'), /mine/);
});

test('a second load of a cached index or snapshot file does not reach the remote', async (t) => {
  const s = await setup(t);
  for (const type of ['index', 'snapshots'] as const) {
    const { h, data } = await put(s.local, type);
    s.remote.loads.length = 0;
    assert.deepEqual(await s.cache.load(h), data);
    assert.deepEqual(s.remote.loads, [{ type, name: h.name, offset: undefined, length: undefined }]);
    assert.deepEqual(await s.cache.load(h), data);
    assert.deepEqual(await s.cache.load(h, 0), data);
    assert.equal(s.remote.loads.length, 1, type);
    const file = s.cached(type, h.name);
    assert.deepEqual(await fsp.readFile(file), data);
    assert.equal((await fsp.stat(file)).mode & 0o777, 0o600);
  }
  assert.deepEqual(await filesBelow(path.join(s.root, repoId, 'data')), []);
});

test('concurrent loads of one file fetch it once', async (t) => {
  const s = await setup(t);
  const { h, data } = await put(s.local, 'index', 100_000);
  const all = await Promise.all(Array.from({ length: 5 }, () => s.cache.load(h)));
  for (const d of all) assert.deepEqual(d, data);
  assert.equal(s.remote.loads.length, 1);
});

test('the next process uses the cached copy after checking it', async (t) => {
  const s = await setup(t);
  const { h, data } = await put(s.local, 'snapshots');
  await s.cache.load(h);
  const next = await s.reopen();
  s.remote.loads.length = 0;
  assert.deepEqual(await next.load(h), data);
  assert.deepEqual(s.remote.loads, []);
});

test('a cached file is hashed once per process, not on every load', async (t) => {
  const s = await setup(t);
  const { h, data } = await put(s.local, 'snapshots');
  await s.cache.load(h);
  const next = await s.reopen();
  const file = s.cached('snapshots', h.name);
  const readFile = t.mock.method(fsp, 'readFile');
  for (let i = 0; i < 3; i++) assert.deepEqual(await next.load(h), data);
  const wholeReads = readFile.mock.calls.filter((c) => c.arguments[0] === file).length;
  assert.equal(wholeReads, 1);
});

test('a cached file overwritten with garbage is fetched again and repaired', async (t) => {
  const s = await setup(t);
  const damages: [string, (d: Buffer) => Buffer][] = [
    ['garbage', (d) => randomBytes(d.length)],
    ['truncated', (d) => d.subarray(0, 10)],
    ['empty', () => Buffer.alloc(0)],
    ['one flipped bit', (d) => Buffer.concat([Buffer.from([(d[0] ?? 0) ^ 1]), d.subarray(1)])],
  ];
  for (const [what, damage] of damages) {
    const { h, data } = await put(s.local, 'index');
    await s.cache.load(h);
    const file = s.cached('index', h.name);
    await fsp.writeFile(file, damage(data));
    const next = await s.reopen();
    s.remote.loads.length = 0;
    assert.deepEqual(await next.load(h), data, what);
    assert.equal(s.remote.loads.length, 1, what);
    assert.deepEqual(await fsp.readFile(file), data, `${what}: the cached copy was not repaired`);
    assert.deepEqual(await next.load(h), data, what);
    assert.equal(s.remote.loads.length, 1, what);
  }
});

test('a cached file that disappeared is fetched from the remote', async (t) => {
  const s = await setup(t);
  const { h, data } = await put(s.local, 'index');
  await s.cache.load(h);
  await fsp.rm(s.cached('index', h.name));
  s.remote.loads.length = 0;
  assert.deepEqual(await s.cache.load(h), data);
  assert.equal(s.remote.loads.length, 1);
});

test('a damaged download is not cached, and a good one later is', async (t) => {
  const s = await setup(t);
  const { h, data } = await put(s.local, 'snapshots');
  s.remote.mangle = (d) => Buffer.concat([d, Buffer.from('!')]);
  // What the remote gave comes back to the caller, whose own checks report it.
  const got = await s.cache.load(h);
  assert.notDeepEqual(got, data);
  assert.equal(await exists(s.cached('snapshots', h.name)), false);
  s.remote.mangle = undefined;
  s.remote.loads.length = 0;
  assert.deepEqual(await s.cache.load(h), data);
  assert.deepEqual(await s.cache.load(h), data);
  assert.equal(s.remote.loads.length, 1);
  assert.deepEqual(await fsp.readFile(s.cached('snapshots', h.name)), data);
});

test('a load of a missing file reports not-found and caches nothing', async (t) => {
  const s = await setup(t);
  const name = nameOf(Buffer.from('never saved'));
  await assert.rejects(
    s.cache.load({ type: 'index', name }),
    (err) => err instanceof ArcaError && err.code === 'not-found',
  );
  assert.deepEqual(await filesBelow(path.join(s.root, repoId)), []);
});

test('a metadata pack is fetched whole once, then ranges are read from the cache', async (t) => {
  const s = await setup(t);
  const tree = await put(s.local, 'data', 10_000);
  const other = await put(s.local, 'data', 10_000);
  s.cache.setMetadataPacks((name) => name === tree.h.name);
  assert.deepEqual(await s.cache.load(tree.h, 100, 50), tree.data.subarray(100, 150));
  assert.deepEqual(s.remote.loads, [
    { type: 'data', name: tree.h.name, offset: undefined, length: undefined },
  ]);
  assert.deepEqual(await s.cache.load(tree.h, 9_990, 10), tree.data.subarray(9_990));
  assert.deepEqual(await s.cache.load(tree.h, 5_000), tree.data.subarray(5_000));
  assert.deepEqual(await s.cache.load(tree.h, 0, 0), Buffer.alloc(0));
  assert.deepEqual(await s.cache.load(tree.h), tree.data);
  assert.equal(s.remote.loads.length, 1);
  assert.deepEqual(await fsp.readFile(s.cached('data', tree.h.name)), tree.data);

  // The next process reads the same ranges from disk too.
  const next = await s.reopen();
  next.setMetadataPacks((name) => name === tree.h.name);
  assert.deepEqual(await next.load(tree.h, 4_000, 1_000), tree.data.subarray(4_000, 5_000));
  assert.equal(s.remote.loads.length, 1);

  // Other packs are read from the remote every time, range by range.
  s.remote.loads.length = 0;
  assert.deepEqual(await s.cache.load(other.h, 10, 5), other.data.subarray(10, 15));
  assert.deepEqual(await s.cache.load(other.h, 10, 5), other.data.subarray(10, 15));
  assert.deepEqual(await s.cache.load(other.h), other.data);
  assert.deepEqual(
    s.remote.loads.map((l) => [l.offset, l.length]),
    [
      [10, 5],
      [10, 5],
      [0, undefined],
    ],
  );
  assert.equal(await exists(s.cached('data', other.h.name)), false);
});

test('a range past the end of a cached metadata pack is refused as the remote refuses it', async (t) => {
  const s = await setup(t);
  const tree = await put(s.local, 'data', 1000);
  s.cache.setMetadataPacks(() => true);
  await s.cache.load(tree.h);
  await assert.rejects(
    s.cache.load(tree.h, 995, 10),
    (err) => err instanceof ArcaError && err.code === 'corrupt',
  );
});

test('index ranges, keys, locks and config go to the remote every time', async (t) => {
  const s = await setup(t);
  s.cache.setMetadataPacks(() => true);
  const index = await put(s.local, 'index');
  const key = await put(s.local, 'keys');
  const lock = await put(s.local, 'locks');
  const config: Handle = { type: 'config', name: '' };
  await s.local.save(config, Buffer.from('config'));
  for (let i = 0; i < 2; i++) {
    assert.deepEqual(await s.cache.load(index.h, 10, 20), index.data.subarray(10, 30));
    assert.deepEqual(await s.cache.load(key.h), key.data);
    assert.deepEqual(await s.cache.load(lock.h), lock.data);
    assert.deepEqual(await s.cache.load(config), Buffer.from('config'));
  }
  assert.equal(s.remote.loads.length, 8);
  assert.deepEqual(await filesBelow(s.root), ['CACHEDIR.TAG']);
});

test('saving an index or snapshot file keeps a copy, so loading it needs no download', async (t) => {
  const s = await setup(t);
  for (const type of ['index', 'snapshots'] as const) {
    const data = randomBytes(300);
    const h: Handle = { type, name: nameOf(data) };
    await s.cache.save(h, data);
    assert.deepEqual(await s.local.load(h), data);
    assert.deepEqual(await fsp.readFile(s.cached(type, h.name)), data);
    assert.deepEqual(await s.cache.load(h), data);
  }
  assert.deepEqual(s.remote.loads, []);
});

test('a failed save keeps no copy', async (t) => {
  const s = await setup(t);
  const data = randomBytes(300);
  const h: Handle = { type: 'index', name: nameOf(data) };
  const refused = new ArcaError('io', 'access denied');
  s.remote.failSave = refused;
  await assert.rejects(s.cache.save(h, data), (err) => err === refused);
  assert.equal(await exists(s.cached('index', h.name)), false);
  await assert.rejects(s.cache.load(h), (err) => err instanceof ArcaError && err.code === 'not-found');
});

test('remove deletes the cached copy too', async (t) => {
  const s = await setup(t);
  const { h } = await put(s.local, 'snapshots');
  await s.cache.load(h);
  await s.cache.remove(h);
  assert.equal(await exists(s.cached('snapshots', h.name)), false);
  await assert.rejects(s.local.stat(h), (err) => err instanceof ArcaError && err.code === 'not-found');
  await assert.rejects(s.cache.load(h), (err) => err instanceof ArcaError && err.code === 'not-found');
});

test('a complete listing evicts cached files the remote no longer lists', async (t) => {
  const s = await setup(t);
  s.cache.setMetadataPacks(() => true);
  for (const type of ['index', 'snapshots', 'data'] as const) {
    const keep = await put(s.local, type);
    const gone = await put(s.local, type);
    await s.cache.load(keep.h);
    await s.cache.load(gone.h);
    // Another client deletes one of them.
    await s.local.remove(gone.h);
    assert.equal(await exists(s.cached(type, gone.h.name)), true);
    assert.deepEqual(await listAll(s.cache, type), [keep.h.name]);
    assert.equal(await exists(s.cached(type, gone.h.name)), false, `${type}: not evicted`);
    assert.deepEqual(await fsp.readFile(s.cached(type, keep.h.name)), keep.data, type);
    // Evicted means forgotten: it is not served from memory either.
    await assert.rejects(s.cache.load(gone.h), (err) => err instanceof ArcaError && err.code === 'not-found');
    s.remote.loads.length = 0;
    assert.deepEqual(await s.cache.load(keep.h), keep.data);
    assert.deepEqual(s.remote.loads, [], type);
  }
});

test('an evicted file that comes back to the remote is cached again', async (t) => {
  const s = await setup(t);
  const { h, data } = await put(s.local, 'index');
  await s.cache.load(h);
  await s.local.remove(h);
  assert.deepEqual(await listAll(s.cache, 'index'), []);
  // Another client uploads the same content again (names are content hashes).
  await s.local.save(h, data);
  s.remote.loads.length = 0;
  assert.deepEqual(await s.cache.load(h), data);
  assert.deepEqual(await s.cache.load(h), data);
  assert.equal(s.remote.loads.length, 1);
  assert.deepEqual(await fsp.readFile(s.cached('index', h.name)), data);
});

test('listing one type evicts nothing of the others', async (t) => {
  const s = await setup(t);
  const index = await put(s.local, 'index');
  await s.cache.load(index.h);
  await s.local.remove(index.h);
  assert.deepEqual(await listAll(s.cache, 'snapshots'), []);
  assert.deepEqual(await listAll(s.cache, 'keys'), []);
  assert.equal(await exists(s.cached('index', index.h.name)), true);
});

test('a listing that stops early or fails part-way evicts nothing', async (t) => {
  const s = await setup(t);
  const files = [await put(s.local, 'index'), await put(s.local, 'index'), await put(s.local, 'index')];
  for (const f of files) await s.cache.load(f.h);
  const gone = files[2] as { h: Handle };
  await s.local.remove(gone.h);

  for await (const _ of s.cache.list('index')) break;
  assert.equal(await exists(s.cached('index', gone.h.name)), true, 'evicted after a listing stopped early');

  const reset = new ArcaError('io', 'connection reset', { transient: true });
  s.remote.failListing = { after: 1, err: reset };
  await assert.rejects(listAll(s.cache, 'index'), (err) => err === reset);
  assert.equal(await exists(s.cached('index', gone.h.name)), true, 'evicted after a failed listing');
  s.remote.failListing = undefined;

  assert.equal((await listAll(s.cache, 'index')).length, 2);
  assert.equal(await exists(s.cached('index', gone.h.name)), false);
});

test('a listing before attach evicts nothing', async (t) => {
  const s = await setup(t);
  const { h } = await put(s.local, 'index');
  await s.cache.load(h);
  await s.local.remove(h);
  const unattached = new CachedBackend(s.remote, s.root);
  assert.deepEqual(await listAll(unattached, 'index'), []);
  assert.equal(await exists(s.cached('index', h.name)), true);
});

// restic treats a cache it cannot use as no cache: a warning at most, never a failed command.
test('an unusable cache directory leaves the repository usable, uncached', async (t) => {
  const s = await setup(t, false);
  await fsp.mkdir(path.dirname(s.root), { recursive: true });
  await fsp.writeFile(s.root, 'a file where the cache directory should be');
  await s.cache.attach(repoId);
  const { h, data } = await put(s.local, 'index');
  assert.deepEqual(await s.cache.load(h), data);
});

test('a cache copy that cannot be written fails neither the save nor the load', async (t) => {
  const s = await setup(t);
  // A regular file where the cache keeps index files: every cache write below it fails.
  await fsp.writeFile(path.join(s.root, repoId, 'index'), 'in the way');
  const saved = randomBytes(100);
  const h: Handle = { type: 'index', name: nameOf(saved) };
  await s.cache.save(h, saved);
  assert.deepEqual(await s.local.load(h), saved);
  const other = await put(s.local, 'index');
  assert.deepEqual(await s.cache.load(other.h), other.data);
});

test('stat, create, location and close pass through', async (t) => {
  const s = await setup(t);
  const { h } = await put(s.local, 'index', 123);
  assert.deepEqual(await s.cache.stat(h), { name: h.name, size: 123 });
  assert.equal(s.cache.location, s.local.location);
  await s.local.save({ type: 'config', name: '' }, Buffer.from('c'));
  await assert.rejects(s.cache.create(), (err) => err instanceof ArcaError && err.code === 'exists');
  await s.cache.close();
});

test('defaultCacheDir: $ARCA_CACHE_DIR, else $XDG_CACHE_HOME/arca, else ~/.cache/arca', () => {
  const home = '/home/ann';
  assert.equal(defaultCacheDir({}, home), '/home/ann/.cache/arca');
  assert.equal(defaultCacheDir({ XDG_CACHE_HOME: '/var/cache/ann' }, home), '/var/cache/ann/arca');
  assert.equal(
    defaultCacheDir({ ARCA_CACHE_DIR: '/srv/arca-cache', XDG_CACHE_HOME: '/var/cache/ann' }, home),
    '/srv/arca-cache',
  );
  assert.equal(defaultCacheDir({ ARCA_CACHE_DIR: '', XDG_CACHE_HOME: '' }, home), '/home/ann/.cache/arca');
});

backendContract(
  'cached local (attached, every pack treated as metadata)',
  async () => {
    const root = await makeTempDir('backend-cache');
    return {
      freshLocation: () => path.join(root, randomBytes(6).toString('hex')),
      open: (location) => {
        const cache = new CachedBackend(new LocalBackend(location), `${location}.cache`);
        cache.setMetadataPacks(() => true);
        const create = cache.create.bind(cache);
        cache.create = async () => {
          await cache.attach(nameOf(Buffer.from(location)));
          await create();
        };
        return cache;
      },
      stop: () => removeTree(root),
    };
  },
  { manyFiles: 500 },
);
