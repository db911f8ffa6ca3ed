import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { setImmediate as nextTurn } from 'node:timers/promises';
import { backendContract } from '../../test/support/backend-contract.js';
import { makeTempDir, removeTree } from '../../test/support/tmp.js';
import { ArcaError } from '../errors.js';
import type { Backend, FileInfo, FileType, Handle } from './backend.js';
import { ByteRate, LimitedBackend } from './limits.js';
import { LocalBackend } from './local.js';

/** A clock that moves only when told to, or when someone sleeps on it. */
function fakeClock(start = 0) {
  let now = start;
  const sleeps: number[] = [];
  return {
    sleeps,
    now: () => now,
    advance: (ms: number) => {
      now += ms;
    },
    /** Sleeps that return at once and move the clock by what was asked. */
    sleep: async (ms: number) => {
      sleeps.push(ms);
      now += ms;
    },
    /** Sleeps that return at once and leave the clock where it is, as when all callers start together. */
    frozenSleep: async (ms: number) => void sleeps.push(ms),
  };
}

/** Lets every pending promise callback and I/O callback run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 10; i++) await nextTurn();
}

/**
 * An in-memory backend whose every operation counts how many are in flight and waits until
 * released: {@link Gated.release} lets the oldest waiting one finish, or all with `releaseAll`.
 */
class Gated implements Backend {
  readonly location = 'gated:test';
  readonly files = new Map<string, Buffer>();
  inFlight = 0;
  maxInFlight = 0;
  started = 0;
  saves = 0;
  loads = 0;
  /** When true, operations finish on their own after a few turns of the event loop. */
  auto = false;
  /** The next operation started fails with this error. */
  failNext: Error | undefined;
  private readonly waiting: (() => void)[] = [];

  release(): void {
    this.waiting.shift()?.();
  }

  releaseAll(): void {
    this.auto = true;
    for (const go of this.waiting.splice(0)) go();
  }

  private async op<T>(fn: () => T): Promise<T> {
    this.started++;
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    const fail = this.failNext;
    this.failNext = undefined;
    try {
      if (this.auto) for (let i = 0; i < 3; i++) await nextTurn();
      else await new Promise<void>((resolve) => this.waiting.push(resolve));
      if (fail !== undefined) throw fail;
      return fn();
    } finally {
      this.inFlight--;
    }
  }

  create(): Promise<void> {
    return this.op(() => undefined);
  }

  load(h: Handle, offset = 0, length?: number): Promise<Buffer> {
    this.loads++;
    return this.op(() => {
      const data = this.files.get(h.name);
      if (data === undefined) throw new ArcaError('not-found', `${h.name} does not exist`);
      return data.subarray(offset, length === undefined ? undefined : offset + length);
    });
  }

  save(h: Handle, data: Buffer): Promise<void> {
    this.saves++;
    return this.op(() => void this.files.set(h.name, data));
  }

  stat(h: Handle): Promise<FileInfo> {
    return this.op(() => ({ name: h.name, size: this.files.get(h.name)?.length ?? 0 }));
  }

  async *list(_type: FileType): AsyncIterable<FileInfo> {
    for (const [name, data] of this.files) yield { name, size: data.length };
  }

  remove(h: Handle): Promise<void> {
    return this.op(() => void this.files.delete(h.name));
  }

  async close(): Promise<void> {}
}

const handle = (name: string): Handle => ({ type: 'data', name });

test('ByteRate: the first take passes at once, later ones wait for the bytes before them', async () => {
  const clock = fakeClock(5000);
  const rate = new ByteRate(1000, clock.now, clock.sleep);
  await rate.take(500);
  assert.deepEqual(clock.sleeps, []);
  await rate.take(500);
  assert.deepEqual(clock.sleeps, [500]);
  await rate.take(2000);
  assert.deepEqual(clock.sleeps, [500, 500]);
  await rate.take(1);
  assert.deepEqual(clock.sleeps, [500, 500, 2000]);
  assert.equal(clock.now(), 8000);
});

test('ByteRate: time that passed pays for the bytes before it, but idle time is not saved up', async () => {
  const clock = fakeClock();
  const rate = new ByteRate(2048, clock.now, clock.sleep);
  await rate.take(2048);
  clock.advance(400);
  await rate.take(2048);
  assert.deepEqual(clock.sleeps, [600]);
  clock.advance(60_000);
  await rate.take(4096);
  await rate.take(1024);
  await rate.take(1024);
  assert.deepEqual(clock.sleeps, [600, 2000, 500]);
});

test('ByteRate: callers that start together are spaced one after another', async () => {
  const clock = fakeClock();
  const rate = new ByteRate(1000, clock.now, clock.frozenSleep);
  await Promise.all([rate.take(250), rate.take(250), rate.take(500), rate.take(100)]);
  assert.deepEqual(clock.sleeps, [250, 500, 1000]);
});

test('concurrent operations never exceed the connection limit', async () => {
  const inner = new Gated();
  const limited = new LimitedBackend(inner, { connections: 3 });
  for (let i = 0; i < 4; i++) inner.files.set(`f${i}`, Buffer.from(`file ${i}`));
  const ops: Promise<unknown>[] = [
    ...Array.from({ length: 4 }, (_, i) => limited.load(handle(`f${i}`))),
    ...Array.from({ length: 4 }, (_, i) => limited.save(handle(`n${i}`), Buffer.from(`new ${i}`))),
    limited.stat(handle('f0')),
    limited.remove(handle('gone')),
    limited.create(),
  ];
  await settle();
  assert.equal(inner.started, 3);
  assert.equal(inner.inFlight, 3);
  for (let round = 0; round < ops.length; round++) {
    inner.release();
    await settle();
    assert.ok(inner.inFlight <= 3, `round ${round}: ${inner.inFlight} in flight`);
  }
  await Promise.all(ops);
  assert.equal(inner.started, ops.length);
  assert.equal(inner.maxInFlight, 3);
});

test('many operations that finish on their own stay within the limit and all complete', async () => {
  const inner = new Gated();
  inner.auto = true;
  const limited = new LimitedBackend(inner, { connections: 4 });
  const blobs = Array.from({ length: 40 }, (_, i) => Buffer.from(`blob ${i}`));
  await Promise.all(blobs.map((b, i) => limited.save(handle(`b${i}`), b)));
  const back = await Promise.all(blobs.map((_, i) => limited.load(handle(`b${i}`))));
  assert.deepEqual(back, blobs);
  assert.equal(inner.maxInFlight, 4);
});

test('a connection limit below one still lets one operation run at a time', async () => {
  for (const connections of [1, 0, -3]) {
    const inner = new Gated();
    inner.auto = true;
    const limited = new LimitedBackend(inner, { connections });
    await Promise.all(Array.from({ length: 6 }, (_, i) => limited.save(handle(`x${i}`), Buffer.alloc(i))));
    assert.equal(inner.maxInFlight, 1, `connections ${connections}`);
    assert.equal(inner.files.size, 6);
  }
});

test('a failed operation frees its connection and its error reaches the caller unchanged', async () => {
  const inner = new Gated();
  inner.auto = true;
  const limited = new LimitedBackend(inner, { connections: 1 });
  const boom = new ArcaError('io', 'connection reset', { transient: true });
  inner.failNext = boom;
  const first = limited.save(handle('a'), Buffer.from('a'));
  const second = limited.save(handle('b'), Buffer.from('b'));
  await assert.rejects(first, (err) => err === boom);
  await second;
  assert.deepEqual([...inner.files.keys()], ['b']);
  await assert.rejects(
    limited.load(handle('missing')),
    (err) => err instanceof ArcaError && err.code === 'not-found',
  );
});

test('a listing does not wait for a connection', async () => {
  const inner = new Gated();
  inner.files.set('a', Buffer.from('aa'));
  const limited = new LimitedBackend(inner, { connections: 1 });
  const blocked = limited.stat(handle('a'));
  await settle();
  assert.equal(inner.inFlight, 1);
  const listed: FileInfo[] = [];
  for await (const fi of limited.list('data')) listed.push(fi);
  assert.deepEqual(listed, [{ name: 'a', size: 2 }]);
  inner.releaseAll();
  assert.deepEqual(await blocked, { name: 'a', size: 2 });
});

test('location and close pass through, range loads keep their range', async () => {
  const inner = new Gated();
  inner.auto = true;
  inner.files.set('a', Buffer.from('0123456789'));
  const limited = new LimitedBackend(inner, { connections: 2 });
  assert.equal(limited.location, 'gated:test');
  assert.deepEqual(await limited.load(handle('a'), 3, 4), Buffer.from('3456'));
  await limited.close();
});

/** Mocks setTimeout (which ByteRate's real sleep uses) so that no test waits for the rate. */
function mockTimeouts(t: TestContext): (ms: number) => void {
  t.mock.timers.enable({ apis: ['setTimeout'] });
  return (ms) => t.mock.timers.tick(ms);
}

/** Bounds the tests with mocked timers: a wrong wait would otherwise hang the run. */
const bounded = { timeout: 20_000 };

test(
  'an upload limit holds back the next save until the previous one has had its time',
  bounded,
  async (t) => {
    const tick = mockTimeouts(t);
    const inner = new Gated();
    inner.auto = true;
    const limited = new LimitedBackend(inner, { connections: 5, uploadKiBs: 1 });
    await limited.save(handle('a'), Buffer.alloc(20 * 1024));
    assert.equal(inner.saves, 1);
    let done = false;
    const second = limited.save(handle('b'), Buffer.alloc(10)).then(() => (done = true));
    await settle();
    assert.equal(inner.saves, 1, 'the second save started without waiting for the rate');
    // Loads are not charged to the upload limit.
    inner.files.set('c', Buffer.alloc(4096));
    assert.equal((await limited.load(handle('c'))).length, 4096);
    tick(10_000);
    await settle();
    assert.equal(inner.saves, 1, '20 KiB at 1 KiB/s took less than 20 s');
    tick(10_000);
    await second;
    assert.equal(done, true);
    assert.equal(inner.saves, 2);
  },
);

test('a download limit charges what was loaded and holds back the next load', bounded, async (t) => {
  const tick = mockTimeouts(t);
  const inner = new Gated();
  inner.auto = true;
  inner.files.set('a', Buffer.alloc(100 * 1024));
  const limited = new LimitedBackend(inner, { connections: 5, downloadKiBs: 2 });
  // A range is charged by its length: 40 KiB at 2 KiB/s.
  assert.equal((await limited.load(handle('a'), 1024, 40 * 1024)).length, 40 * 1024);
  let done = false;
  const second = limited.load(handle('a')).then((d) => {
    done = true;
    return d;
  });
  await settle();
  assert.equal(done, false, 'the second load finished without waiting for the rate');
  // Saves are not charged to the download limit.
  await limited.save(handle('b'), Buffer.alloc(100_000));
  tick(10_000);
  await settle();
  assert.equal(done, false, '40 KiB at 2 KiB/s took less than 20 s');
  tick(10_000);
  assert.equal((await second).length, 100 * 1024);
});

test('without bandwidth limits nothing waits on a timer', bounded, async (t) => {
  mockTimeouts(t);
  const inner = new Gated();
  inner.auto = true;
  const limited = new LimitedBackend(inner, { connections: 2 });
  for (let i = 0; i < 5; i++) await limited.save(handle(`a${i}`), Buffer.alloc(1 << 20));
  for (let i = 0; i < 5; i++) assert.equal((await limited.load(handle(`a${i}`))).length, 1 << 20);
});

backendContract(
  'limited local',
  async () => {
    const root = await makeTempDir('backend-limits');
    return {
      freshLocation: () => path.join(root, randomBytes(6).toString('hex')),
      open: (location) => new LimitedBackend(new LocalBackend(location), { connections: 2 }),
      stop: () => removeTree(root),
    };
  },
  { manyFiles: 500 },
);
