/**
 * The one contract every backend passes (local, SFTP, S3, REST). A backend test file
 * starts its server, then calls {@link backendContract} with a factory for fresh, empty
 * locations on it; every case below runs against that real server.
 */
import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import type { Backend, FileInfo, FileType, Handle } from '../../src/backend/backend.js';
import { ArcaError } from '../../src/errors.js';

/** A running server that can hand out empty repository locations. */
export interface ContractServer {
  /** A location nobody has used yet, written as a user would write it (`sftp:…`, `s3:…`). */
  freshLocation(): string;
  /** Opens a backend for `location`, as a separate arca process would. */
  open(location: string): Backend;
  /** Stops the server and removes what it stored. */
  stop(): Promise<void>;
}

/** Content-addressed name of `data`, as restic names every file but `config`. */
export function nameOf(data: Buffer): string {
  return createHash('sha256').update(data).digest('hex');
}

async function listAll(b: Backend, type: FileType): Promise<FileInfo[]> {
  const out: FileInfo[] = [];
  for await (const fi of b.list(type)) out.push(fi);
  return out.sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
}

async function rejectsWith(p: Promise<unknown>, code: string): Promise<void> {
  await assert.rejects(p, (err: unknown) => {
    assert.ok(err instanceof ArcaError, `expected an ArcaError, got ${String(err)}`);
    assert.equal(err.code, code, `expected code ${code}, got ${err.code}: ${err.message}`);
    return true;
  });
}

/** Runs `fn` over `items` with at most `width` in flight. */
async function inParallel<T>(items: T[], width: number, fn: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const workers = Array.from({ length: Math.min(width, items.length) }, async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  });
  await Promise.all(workers);
}

/**
 * Registers the contract for one kind of backend. `start` runs once before the cases;
 * `skip` (a message) skips them all, as `describe` does.
 */
export function backendContract(
  kind: string,
  start: () => Promise<ContractServer>,
  options: { skip?: string | false; manyFiles?: number } = {},
): void {
  describe(`backend contract: ${kind}`, { skip: options.skip ?? false }, () => {
    let server: ContractServer;
    const opened: Backend[] = [];
    const fresh = async (): Promise<Backend> => {
      const b = server.open(server.freshLocation());
      opened.push(b);
      await b.create();
      return b;
    };

    before(async () => {
      server = await start();
    });
    after(async () => {
      for (const b of opened) await b.close();
      await server?.stop();
    });

    it('creates a repository once: a second create over a config fails', async () => {
      const b = await fresh();
      await b.save({ type: 'config', name: '' }, Buffer.from('config bytes'));
      const again = server.open(b.location);
      opened.push(again);
      await rejectsWith(again.create(), 'exists');
    });

    it('saves, stats and loads every file type', async () => {
      const b = await fresh();
      const config = randomBytes(155);
      await b.save({ type: 'config', name: '' }, config);
      assert.deepEqual(await b.load({ type: 'config', name: '' }), config);
      assert.equal((await b.stat({ type: 'config', name: '' })).size, config.length);
      for (const type of ['keys', 'locks', 'snapshots', 'index', 'data'] as const) {
        const data = randomBytes(1000 + type.length);
        const h = { type, name: nameOf(data) };
        await b.save(h, data);
        assert.deepEqual(await b.load(h), data, type);
        assert.deepEqual(await b.stat(h), { name: h.name, size: data.length }, type);
        assert.deepEqual(await listAll(b, type), [{ name: h.name, size: data.length }], type);
      }
    });

    it('stores an empty file', async () => {
      const b = await fresh();
      const h: Handle = { type: 'locks', name: nameOf(Buffer.alloc(0)) };
      await b.save(h, Buffer.alloc(0));
      assert.equal((await b.load(h)).length, 0);
      assert.equal((await b.stat(h)).size, 0);
    });

    it('loads byte ranges, and refuses a range past the end of the file', async () => {
      const b = await fresh();
      const data = randomBytes(300_000);
      const h: Handle = { type: 'data', name: nameOf(data) };
      await b.save(h, data);
      assert.deepEqual(await b.load(h, 0, 10), data.subarray(0, 10));
      assert.deepEqual(await b.load(h, 123_456, 7), data.subarray(123_456, 123_463));
      assert.deepEqual(await b.load(h, 299_990, 10), data.subarray(299_990));
      assert.deepEqual(await b.load(h, 250_000), data.subarray(250_000));
      assert.deepEqual(await b.load(h, 5, 0), Buffer.alloc(0));
      await rejectsWith(b.load(h, 299_995, 10), 'corrupt');
    });

    it('reports missing files as not-found, and removing one is not an error', async () => {
      const b = await fresh();
      const h: Handle = { type: 'data', name: nameOf(Buffer.from('never saved')) };
      await rejectsWith(b.load(h), 'not-found');
      await rejectsWith(b.load(h, 4, 8), 'not-found');
      await rejectsWith(b.stat(h), 'not-found');
      await b.remove(h);
      assert.deepEqual(await listAll(b, 'snapshots'), []);
      assert.deepEqual(await listAll(b, 'data'), []);
    });

    it('removes files: gone from load, stat and list', async () => {
      const b = await fresh();
      const keep = randomBytes(64);
      const drop = randomBytes(65);
      await b.save({ type: 'snapshots', name: nameOf(keep) }, keep);
      await b.save({ type: 'snapshots', name: nameOf(drop) }, drop);
      await b.remove({ type: 'snapshots', name: nameOf(drop) });
      await rejectsWith(b.stat({ type: 'snapshots', name: nameOf(drop) }), 'not-found');
      assert.deepEqual(await listAll(b, 'snapshots'), [{ name: nameOf(keep), size: 64 }]);
    });

    it('keeps the types apart in listings', async () => {
      const b = await fresh();
      const a = randomBytes(10);
      const c = randomBytes(11);
      await b.save({ type: 'index', name: nameOf(a) }, a);
      await b.save({ type: 'data', name: nameOf(c) }, c);
      assert.deepEqual(await listAll(b, 'index'), [{ name: nameOf(a), size: 10 }]);
      assert.deepEqual(await listAll(b, 'data'), [{ name: nameOf(c), size: 11 }]);
      assert.deepEqual(await listAll(b, 'keys'), []);
    });

    it('runs many saves and loads at once without mixing them up', async () => {
      const b = await fresh();
      const blobs = Array.from({ length: 32 }, (_, i) => randomBytes(256 * 1024 + i));
      await Promise.all(blobs.map((d) => b.save({ type: 'data', name: nameOf(d) }, d)));
      const loaded = await Promise.all(blobs.map((d) => b.load({ type: 'data', name: nameOf(d) })));
      for (const [i, d] of loaded.entries()) assert.ok(d.equals(blobs[i] as Buffer), `blob ${i}`);
      const ranges = await Promise.all(
        blobs.map((d) => b.load({ type: 'data', name: nameOf(d) }, 1000, 5000)),
      );
      for (const [i, d] of ranges.entries()) {
        assert.ok(d.equals((blobs[i] as Buffer).subarray(1000, 6000)), `range ${i}`);
      }
      assert.equal((await listAll(b, 'data')).length, blobs.length);
    });

    it('stores and loads a large file intact (larger than one upload part)', async () => {
      const b = await fresh();
      const data = randomBytes(40 * 1024 * 1024 + 17);
      const h: Handle = { type: 'data', name: nameOf(data) };
      await b.save(h, data);
      assert.equal((await b.stat(h)).size, data.length);
      const back = await b.load(h);
      assert.equal(nameOf(back), h.name);
      assert.deepEqual(
        await b.load(h, 32 * 1024 * 1024, 4096),
        data.subarray(32 * 1024 * 1024, 32 * 1024 * 1024 + 4096),
      );
    });

    const many = options.manyFiles ?? 2500;
    it(`lists thousands of files (${many}) completely and with their sizes`, async () => {
      const b = await fresh();
      const files = Array.from({ length: many }, (_, i) => {
        const d = Buffer.from(`file ${i} `.repeat((i % 7) + 1));
        return { name: nameOf(d), data: d };
      });
      await inParallel(files, 16, (f) => b.save({ type: 'data', name: f.name }, f.data));
      const listed = await listAll(b, 'data');
      const want = files
        .map((f) => ({ name: f.name, size: f.data.length }))
        .sort((x, y) => (x.name < y.name ? -1 : x.name > y.name ? 1 : 0));
      assert.equal(listed.length, many);
      assert.deepEqual(listed, want);
    });

    it('shows what one client saved to a second client of the same location', async () => {
      const b = await fresh();
      const data = randomBytes(5000);
      await b.save({ type: 'index', name: nameOf(data) }, data);
      await b.close();
      const other = server.open(b.location);
      opened.push(other);
      assert.deepEqual(await other.load({ type: 'index', name: nameOf(data) }), data);
      assert.deepEqual(await listAll(other, 'index'), [{ name: nameOf(data), size: data.length }]);
    });

    it('names its location without credentials', async () => {
      const b = await fresh();
      assert.doesNotMatch(b.location, /\/\/[^/@]*:[^/@]*@/, 'a password in the printable location');
    });
  });
}
