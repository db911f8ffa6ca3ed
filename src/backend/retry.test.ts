import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { backendContract } from '../../test/support/backend-contract.js';
import { makeTempDir, removeTree, tempDir } from '../../test/support/tmp.js';
import { ArcaError } from '../errors.js';
import type { Backend, FileInfo, FileType, Handle } from './backend.js';
import { LocalBackend } from './local.js';
import { defaultRetryPolicy, RetryBackend, type RetryPolicy } from './retry.js';

type Op = 'create' | 'load' | 'save' | 'stat' | 'list' | 'remove';

const nameOf = (data: Buffer): string => createHash('sha256').update(data).digest('hex');

const transient = (message = 'connection reset'): ArcaError =>
  new ArcaError('io', message, { transient: true });

/**
 * Forwards to a real backend after doing what a test scripted: throwing queued errors (one per
 * call), changing what a load returns or a save stores, failing a listing part-way.
 */
class Faulty implements Backend {
  readonly calls: Record<Op, number> = { create: 0, load: 0, save: 0, stat: 0, list: 0, remove: 0 };
  /** Per operation, what each successive call does first: throw this error, or (undefined) go ahead. */
  readonly script: Partial<Record<Op, (Error | undefined)[]>> = {};
  /** What load call number `call` (from 1) returns instead of `data`. */
  mangleLoad: (data: Buffer, call: number) => Buffer = (data) => data;
  /** What save call number `call` (from 1) stores instead of `data`. */
  mangleSave: (data: Buffer, call: number) => Buffer = (data) => data;
  /** Per listing call (index 0 is the first): after how many entries it fails, and with what. */
  listFaults: ({ after: number; err: Error } | undefined)[] = [];
  /** The order listing call number `call` gives its entries in. */
  listOrder: (entries: FileInfo[], call: number) => FileInfo[] = (entries) => entries;
  closed = 0;

  constructor(readonly inner: Backend) {}

  get location(): string {
    return this.inner.location;
  }

  private enter(op: Op): number {
    const call = ++this.calls[op];
    const err = this.script[op]?.shift();
    if (err !== undefined) throw err;
    return call;
  }

  async create(): Promise<void> {
    this.enter('create');
    await this.inner.create();
  }

  async load(h: Handle, offset?: number, length?: number): Promise<Buffer> {
    const call = this.enter('load');
    return this.mangleLoad(await this.inner.load(h, offset, length), call);
  }

  async save(h: Handle, data: Buffer): Promise<void> {
    const call = this.enter('save');
    await this.inner.save(h, this.mangleSave(data, call));
  }

  async stat(h: Handle): Promise<FileInfo> {
    this.enter('stat');
    return this.inner.stat(h);
  }

  async *list(type: FileType): AsyncIterable<FileInfo> {
    const call = this.enter('list');
    const all: FileInfo[] = [];
    for await (const fi of this.inner.list(type)) all.push(fi);
    const fault = this.listFaults[call - 1];
    let given = 0;
    for (const fi of this.listOrder(all, call)) {
      if (fault !== undefined && given === fault.after) throw fault.err;
      given++;
      yield fi;
    }
    if (fault !== undefined && given === fault.after) throw fault.err;
  }

  async remove(h: Handle): Promise<void> {
    this.enter('remove');
    await this.inner.remove(h);
  }

  async close(): Promise<void> {
    this.closed++;
    await this.inner.close();
  }
}

interface Retried {
  what: string;
  attempt: number;
  err: Error;
  delayMs: number;
}

/** A retrying backend over `inner` whose sleeps return at once and are recorded. */
function retrying(inner: Backend, policy: Partial<RetryPolicy> = {}, random: () => number = () => 1) {
  const sleeps: number[] = [];
  const retries: Retried[] = [];
  const backend = new RetryBackend(
    inner,
    { maxAttempts: 5, baseDelayMs: 100, maxDelayMs: 1000, ...policy },
    (what, attempt, err, delayMs) => retries.push({ what, attempt, err, delayMs }),
    { sleep: async (ms) => void sleeps.push(ms), random },
  );
  return { backend, sleeps, retries };
}

/** A fresh local repository behind a {@link Faulty} wrapper. */
async function faultyRepo(t: TestContext): Promise<{ local: LocalBackend; faulty: Faulty }> {
  const local = new LocalBackend(path.join(await tempDir(t, 'retry'), 'repo'));
  await local.create();
  return { local, faulty: new Faulty(local) };
}

/** Asserts that `p` rejects with an ArcaError of this code whose message matches `message`. */
async function rejectsWith(p: Promise<unknown>, code: string, message?: RegExp): Promise<ArcaError> {
  let caught: unknown;
  await assert.rejects(p, (err: unknown) => {
    caught = err;
    return true;
  });
  assert.ok(caught instanceof ArcaError, `expected an ArcaError, got ${String(caught)}`);
  assert.equal(caught.code, code, caught.message);
  if (message !== undefined) assert.match(caught.message, message);
  return caught;
}

async function listAll(b: Backend, type: FileType): Promise<FileInfo[]> {
  const out: FileInfo[] = [];
  for await (const fi of b.list(type)) out.push(fi);
  return out;
}

const byName = (a: FileInfo, b: FileInfo): number => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);

test('a transient failure is retried until the operation succeeds', async (t) => {
  const { faulty } = await faultyRepo(t);
  const { backend, sleeps, retries } = retrying(faulty);
  const data = randomBytes(100);
  const h: Handle = { type: 'snapshots', name: nameOf(data) };
  await backend.save(h, data);
  const errors = [transient('reset 1'), transient('reset 2'), transient('reset 3')];
  faulty.script.load = [...errors];
  assert.deepEqual(await backend.load(h), data);
  assert.equal(faulty.calls.load, 4);
  assert.deepEqual(sleeps, [100, 200, 400]);
  assert.deepEqual(
    retries.map((r) => [r.what, r.attempt, r.err, r.delayMs]),
    [
      [`load snapshots/${h.name}`, 1, errors[0], 100],
      [`load snapshots/${h.name}`, 2, errors[1], 200],
      [`load snapshots/${h.name}`, 3, errors[2], 400],
    ],
  );
});

test('backoff doubles from the base delay and stops growing at the maximum', async () => {
  const failing = new Faulty(new LocalBackend('/nonexistent-arca-test'));
  const { backend, sleeps } = retrying(failing, { maxAttempts: 8, baseDelayMs: 100, maxDelayMs: 1000 });
  failing.script.stat = Array.from({ length: 8 }, () => transient());
  await rejectsWith(backend.stat({ type: 'data', name: 'x' }), 'io', /gave up after 8 attempts/);
  assert.equal(failing.calls.stat, 8);
  assert.deepEqual(sleeps, [100, 200, 400, 800, 1000, 1000, 1000]);
});

test('the default policy makes ten attempts, waiting at most 500 ms doubling up to a minute', async () => {
  const failing = new Faulty(new LocalBackend('/nonexistent-arca-test'));
  const sleeps: number[] = [];
  const backend = new RetryBackend(failing, defaultRetryPolicy, undefined, {
    sleep: async (ms) => void sleeps.push(ms),
    random: () => 1,
  });
  failing.script.remove = Array.from({ length: 20 }, () => transient());
  await rejectsWith(backend.remove({ type: 'locks', name: 'x' }), 'io', /gave up after 10 attempts/);
  assert.equal(failing.calls.remove, 10);
  assert.deepEqual(sleeps, [500, 1000, 2000, 4000, 8000, 16_000, 32_000, 60_000, 60_000]);
});

test('full jitter: each delay is the random fraction of its ceiling', async () => {
  const failing = new Faulty(new LocalBackend('/nonexistent-arca-test'));
  const dice = [0, 0.25, 0.5, 0.999, 0.1];
  const { backend, sleeps } = retrying(
    failing,
    { maxAttempts: 6, baseDelayMs: 100, maxDelayMs: 1000 },
    () => {
      const r = dice.shift();
      assert.ok(r !== undefined, 'more retries than expected');
      return r;
    },
  );
  failing.script.stat = Array.from({ length: 6 }, () => transient());
  await rejectsWith(backend.stat({ type: 'data', name: 'x' }), 'io');
  // Ceilings 100, 200, 400, 800, 1000.
  assert.deepEqual(sleeps, [0, 50, 200, 799, 100]);
});

test('the next attempt starts only after the backoff has passed', async () => {
  const failing = new Faulty(new LocalBackend('/nonexistent-arca-test'));
  let wake: () => void = () => assert.fail('no sleep started');
  const backend = new RetryBackend(failing, { maxAttempts: 3, baseDelayMs: 10, maxDelayMs: 10 }, undefined, {
    sleep: () => new Promise<void>((resolve) => (wake = resolve)),
    random: () => 1,
  });
  failing.script.stat = [transient()];
  const pending = backend.stat({ type: 'data', name: 'x' });
  for (let i = 0; i < 5; i++) await new Promise((resolve) => setImmediate(resolve));
  assert.equal(failing.calls.stat, 1, 'retried before the backoff ended');
  wake();
  await rejectsWith(pending, 'not-found');
  assert.equal(failing.calls.stat, 2);
});

test('after the last attempt the error says so, keeps its code and cause, and is no longer transient', async () => {
  const failing = new Faulty(new LocalBackend('/nonexistent-arca-test'));
  const { backend, sleeps, retries } = retrying(failing, { maxAttempts: 3 });
  const last = transient('connection refused');
  failing.script.stat = [transient(), transient(), last, transient()];
  const err = await rejectsWith(backend.stat({ type: 'index', name: 'x' }), 'io');
  assert.equal(err.message, 'connection refused (gave up after 3 attempts)');
  assert.equal(err.transient, false);
  assert.equal(err.cause, last);
  assert.equal(failing.calls.stat, 3);
  assert.equal(sleeps.length, 2);
  assert.equal(retries.length, 2);

  // Not transient, so a second retrying layer does not multiply the attempts.
  failing.calls.stat = 0;
  failing.script.stat = Array.from({ length: 20 }, () => transient());
  const outer = retrying(backend, { maxAttempts: 3 });
  await rejectsWith(outer.backend.stat({ type: 'index', name: 'x' }), 'io', /gave up after 3 attempts\)$/);
  assert.equal(failing.calls.stat, 3);
  assert.deepEqual(outer.sleeps, []);
});

test('maxAttempts 1 means one attempt and no waiting', async () => {
  const failing = new Faulty(new LocalBackend('/nonexistent-arca-test'));
  const { backend, sleeps } = retrying(failing, { maxAttempts: 1 });
  failing.script.stat = [transient(), transient()];
  await rejectsWith(backend.stat({ type: 'data', name: 'x' }), 'io', /gave up after 1 attempts/);
  assert.equal(failing.calls.stat, 1);
  assert.deepEqual(sleeps, []);
});

test('errors that are not transient fail at once, unchanged', async () => {
  const cases: Error[] = [
    new ArcaError('io', 'access denied'),
    new ArcaError('not-found', 'gone'),
    new ArcaError('corrupt', 'bad'),
    Object.assign(new Error('plain error that claims to be transient'), { transient: true }),
    new TypeError('a bug'),
  ];
  for (const err of cases) {
    const failing = new Faulty(new LocalBackend('/nonexistent-arca-test'));
    const { backend, sleeps, retries } = retrying(failing);
    failing.script.stat = [err, transient()];
    await assert.rejects(backend.stat({ type: 'data', name: 'x' }), (got) => got === err);
    assert.equal(failing.calls.stat, 1, err.message);
    assert.deepEqual(sleeps, [], err.message);
    assert.deepEqual(retries, [], err.message);
  }
});

test('a missing file is reported after one attempt', async (t) => {
  const { faulty } = await faultyRepo(t);
  const { backend } = retrying(faulty);
  const h: Handle = { type: 'index', name: nameOf(Buffer.from('never saved')) };
  await rejectsWith(backend.load(h), 'not-found');
  await rejectsWith(backend.stat(h), 'not-found');
  assert.equal(faulty.calls.load, 1);
  assert.equal(faulty.calls.stat, 1);
});

test('create, stat and remove are retried too', async (t) => {
  const { faulty, local } = await faultyRepo(t);
  const { backend, retries } = retrying(faulty);
  faulty.script.create = [transient()];
  // The repository already has its directories but no config: create may run again.
  await backend.create();
  assert.equal(faulty.calls.create, 2);

  const data = randomBytes(20);
  const h: Handle = { type: 'keys', name: nameOf(data) };
  await local.save(h, data);
  faulty.script.stat = [transient(), transient()];
  assert.deepEqual(await backend.stat(h), { name: h.name, size: 20 });
  assert.equal(faulty.calls.stat, 3);

  faulty.script.remove = [transient()];
  await backend.remove(h);
  assert.equal(faulty.calls.remove, 2);
  await rejectsWith(local.stat(h), 'not-found');
  assert.deepEqual(
    retries.map((r) => r.what),
    ['create repository', `stat keys/${h.name}`, `stat keys/${h.name}`, `remove keys/${h.name}`],
  );
});

test('create over an existing repository fails at once', async (t) => {
  const { faulty, local } = await faultyRepo(t);
  await local.save({ type: 'config', name: '' }, Buffer.from('config'));
  const { backend } = retrying(faulty);
  await rejectsWith(backend.create(), 'exists');
  assert.equal(faulty.calls.create, 1);
});

test('a whole file whose SHA-256 is not its name is loaded again', async (t) => {
  const { faulty } = await faultyRepo(t);
  const { backend, retries } = retrying(faulty);
  const data = randomBytes(1000);
  const h: Handle = { type: 'index', name: nameOf(data) };
  await backend.save(h, data);
  faulty.mangleLoad = (d, call) => (call === 1 ? flipByte(d, 500) : d);
  assert.deepEqual(await backend.load(h), data);
  assert.equal(faulty.calls.load, 2);
  assert.equal(retries.length, 1);
  const err = retries[0]?.err;
  assert.ok(err instanceof ArcaError);
  assert.equal(err.code, 'corrupt');
  assert.equal(err.transient, true);
  assert.match(err.message, new RegExp(`index/${h.name}.*SHA-256`));
});

test('a file that keeps arriving damaged is reported corrupt after three attempts, not the full ten', async (t) => {
  const { faulty } = await faultyRepo(t);
  const { backend, sleeps } = retrying(faulty, { maxAttempts: 4 });
  for (const type of ['keys', 'locks', 'snapshots', 'index', 'data'] as const) {
    const data = randomBytes(64);
    const h: Handle = { type, name: nameOf(data) };
    await backend.save(h, data);
    faulty.calls.load = 0;
    sleeps.length = 0;
    faulty.mangleLoad = (d) => flipByte(d, 0);
    const err = await rejectsWith(
      backend.load(h),
      'corrupt',
      /does not match its name \(SHA-256\) \(gave up after 3 attempts\)$/,
    );
    assert.equal(err.transient, false);
    assert.equal(faulty.calls.load, 3, type);
    assert.deepEqual(sleeps, [100, 200], type);
    // A truncated copy is just as wrong.
    faulty.calls.load = 0;
    faulty.mangleLoad = (d) => d.subarray(0, d.length - 1);
    await rejectsWith(backend.load(h, 0), 'corrupt', /gave up after 3 attempts/);
    assert.equal(faulty.calls.load, 3, type);
    faulty.mangleLoad = (d) => d;
  }
});

test('config and byte ranges are not checked against the name', async (t) => {
  const { faulty } = await faultyRepo(t);
  const { backend, retries } = retrying(faulty);
  const config = Buffer.from('{"version":2}');
  await backend.save({ type: 'config', name: '' }, config);
  assert.deepEqual(await backend.load({ type: 'config', name: '' }), config);

  const data = randomBytes(100);
  const h: Handle = { type: 'data', name: nameOf(data) };
  await backend.save(h, data);
  assert.deepEqual(await backend.load(h, 0, 10), data.subarray(0, 10));
  assert.deepEqual(await backend.load(h, 10), data.subarray(10));
  assert.deepEqual(await backend.load(h, 0, 100), data);
  assert.equal(faulty.calls.load, 4);
  assert.deepEqual(retries, []);
});

test('a save the server stored short is sent again', async (t) => {
  const { faulty, local } = await faultyRepo(t);
  const { backend, retries } = retrying(faulty);
  const data = randomBytes(1000);
  const h: Handle = { type: 'data', name: nameOf(data) };
  faulty.mangleSave = (d, call) => (call === 1 ? d.subarray(0, 999) : d);
  await backend.save(h, data);
  assert.equal(faulty.calls.save, 2);
  assert.equal(faulty.calls.stat, 2);
  assert.deepEqual(await local.load(h), data);
  assert.equal(retries.length, 1);
  assert.match(
    retries[0]?.err.message ?? '',
    new RegExp(`data/${h.name}: the server stored 999 bytes of 1000`),
  );
});

test('a save that is never stored whole gives up with an io error after the last attempt', async (t) => {
  const { faulty } = await faultyRepo(t);
  const { backend, sleeps } = retrying(faulty, { maxAttempts: 3 });
  const data = randomBytes(10);
  const h: Handle = { type: 'snapshots', name: nameOf(data) };
  faulty.mangleSave = (d) => Buffer.concat([d, Buffer.from('x')]);
  const err = await rejectsWith(
    backend.save(h, data),
    'io',
    /stored 11 bytes of 10 \(gave up after 3 attempts\)$/,
  );
  assert.equal(err.transient, false);
  assert.equal(faulty.calls.save, 3);
  assert.deepEqual(sleeps, [100, 200]);
});

test('a save whose check fails transiently is repeated whole', async (t) => {
  const { faulty, local } = await faultyRepo(t);
  const { backend } = retrying(faulty);
  const data = randomBytes(10);
  const h: Handle = { type: 'locks', name: nameOf(data) };
  faulty.script.stat = [transient('timeout')];
  faulty.script.save = [transient('reset')];
  await backend.save(h, data);
  assert.equal(faulty.calls.save, 3);
  assert.equal(faulty.calls.stat, 2);
  assert.deepEqual(await local.load(h), data);
});

test('a save refused for good is not repeated', async (t) => {
  const { faulty } = await faultyRepo(t);
  const { backend } = retrying(faulty);
  faulty.script.save = [new ArcaError('io', 'access denied')];
  await rejectsWith(backend.save({ type: 'locks', name: nameOf(Buffer.from('x')) }, Buffer.from('x')), 'io');
  assert.equal(faulty.calls.save, 1);
  assert.equal(faulty.calls.stat, 0);
});

/** Saves `count` small snapshot files through `local` and returns their listing entries, by name. */
async function saveFiles(local: Backend, count: number): Promise<FileInfo[]> {
  const out: FileInfo[] = [];
  for (let i = 0; i < count; i++) {
    const data = Buffer.from(`snapshot ${i} `.repeat(i + 1));
    const name = nameOf(data);
    await local.save({ type: 'snapshots', name }, data);
    out.push({ name, size: data.length });
  }
  return out.sort(byName);
}

test('a listing that fails part-way is restarted without repeating names', async (t) => {
  const { faulty, local } = await faultyRepo(t);
  const files = await saveFiles(local, 5);
  const { backend, sleeps, retries } = retrying(faulty);
  faulty.listFaults = [{ after: 3, err: transient() }];
  const listed = await listAll(backend, 'snapshots');
  assert.deepEqual(listed, files);
  assert.equal(faulty.calls.list, 2);
  assert.deepEqual(sleeps, [100]);
  assert.deepEqual(
    retries.map((r) => [r.what, r.attempt]),
    [['list snapshots', 1]],
  );
});

test('a listing restarted twice, in another order each time, still gives every name once', async (t) => {
  const { faulty, local } = await faultyRepo(t);
  const files = await saveFiles(local, 6);
  const { backend, sleeps } = retrying(faulty);
  faulty.listFaults = [
    { after: 2, err: transient() },
    { after: 4, err: transient() },
  ];
  faulty.listOrder = (entries, call) => (call === 2 ? [...entries].reverse() : entries);
  const listed = await listAll(backend, 'snapshots');
  assert.equal(listed.length, 6);
  assert.deepEqual([...listed].sort(byName), files);
  assert.equal(faulty.calls.list, 3);
  assert.deepEqual(sleeps, [100, 200]);
});

test('a listing that fails before its first entry is restarted', async (t) => {
  const { faulty, local } = await faultyRepo(t);
  const files = await saveFiles(local, 2);
  const { backend } = retrying(faulty);
  faulty.script.list = [transient()];
  faulty.listFaults = [undefined, { after: 0, err: transient() }];
  assert.deepEqual(await listAll(backend, 'snapshots'), files);
  assert.equal(faulty.calls.list, 3);
});

test('a listing that fails for good stops with that error after what it gave', async (t) => {
  const { faulty, local } = await faultyRepo(t);
  const files = await saveFiles(local, 4);
  const { backend, sleeps } = retrying(faulty);
  const denied = new ArcaError('io', 'access denied');
  faulty.listFaults = [{ after: 2, err: denied }];
  const seen: FileInfo[] = [];
  await assert.rejects(
    (async () => {
      for await (const fi of backend.list('snapshots')) seen.push(fi);
    })(),
    (err) => err === denied,
  );
  assert.deepEqual(seen, files.slice(0, 2));
  assert.equal(faulty.calls.list, 1);
  assert.deepEqual(sleeps, []);
});

test('a listing that keeps failing gives up after the last attempt', async (t) => {
  const { faulty, local } = await faultyRepo(t);
  const files = await saveFiles(local, 4);
  const { backend, sleeps } = retrying(faulty, { maxAttempts: 3 });
  faulty.listFaults = [1, 2, 3, 4].map((after) => ({ after, err: transient('reset') }));
  const seen: FileInfo[] = [];
  const err = await rejectsWith(
    (async () => {
      for await (const fi of backend.list('snapshots')) seen.push(fi);
    })(),
    'io',
    /^reset \(gave up after 3 attempts\)$/,
  );
  assert.equal(err.transient, false);
  assert.deepEqual(seen, files.slice(0, 3));
  assert.equal(faulty.calls.list, 3);
  assert.deepEqual(sleeps, [100, 200]);
});

test('a listing the caller stops early is not restarted', async (t) => {
  const { faulty, local } = await faultyRepo(t);
  const files = await saveFiles(local, 4);
  const { backend } = retrying(faulty);
  for await (const fi of backend.list('snapshots')) {
    assert.deepEqual(fi, files[0]);
    break;
  }
  assert.equal(faulty.calls.list, 1);
});

test('location and close pass through', async (t) => {
  const { faulty } = await faultyRepo(t);
  const { backend } = retrying(faulty);
  assert.equal(backend.location, faulty.location);
  await backend.close();
  assert.equal(faulty.closed, 1);
});

function flipByte(data: Buffer, at: number): Buffer {
  const copy = Buffer.from(data);
  copy[at] = (copy[at] ?? 0) ^ 0xff;
  return copy;
}

backendContract(
  'retries over local',
  async () => {
    const root = await makeTempDir('backend-retry');
    return {
      freshLocation: () => path.join(root, randomBytes(6).toString('hex')),
      open: (location) =>
        new RetryBackend(
          new LocalBackend(location),
          defaultRetryPolicy,
          () => assert.fail('no retry expected'),
          {
            sleep: async () => {},
          },
        ),
      stop: () => removeTree(root),
    };
  },
  { manyFiles: 500 },
);
