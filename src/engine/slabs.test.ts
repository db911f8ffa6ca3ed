import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { SlabPool, slabSize } from './slabs.js';

describe('SlabPool', () => {
  test('cuts buffers from one slab until it is full, then starts another', () => {
    const pool = new SlabPool();
    const a = pool.acquire(1000).buf;
    const b = pool.acquire(5 * 1024 * 1024).buf;
    assert.equal(a.length, 1000);
    assert.equal(b.length, 5 * 1024 * 1024);
    assert.equal(a.buffer, b.buffer, 'small buffers share a slab');
    assert.ok(a.buffer instanceof SharedArrayBuffer);
    // Disjoint: writing one leaves the other alone.
    a.fill(1);
    b.fill(2);
    assert.ok(a.every((x) => x === 1));
    const c = pool.acquire(slabSize - 1000).buf;
    assert.notEqual(c.buffer, a.buffer, 'no room left: a new slab');
    assert.equal(pool.inUse, 2);
    for (const x of [a, b, c]) pool.release(x);
    assert.equal(pool.inUse, 0);
  });

  test('reuses a slab once every buffer cut from it is released, and not before', () => {
    const pool = new SlabPool();
    const first = pool.acquire(slabSize / 2).buf;
    const second = pool.acquire(slabSize / 2).buf;
    pool.retain(second);
    // The next buffer does not fit: the first slab is retired, but two references remain.
    const other = pool.acquire(slabSize / 2).buf;
    assert.notEqual(other.buffer, first.buffer);
    pool.release(first);
    pool.release(second);
    const stillOther = pool.acquire(slabSize / 2).buf;
    assert.equal(stillOther.buffer, other.buffer, 'the current slab has room');
    pool.release(second);
    // Now the first slab is free: the next new slab is that one, not a fresh allocation.
    const reused = pool.acquire(slabSize).buf;
    assert.equal(reused.buffer, first.buffer);
    for (const x of [other, stillOther, reused]) pool.release(x);
    assert.equal(pool.inUse, 0);
    assert.throws(() => pool.release(reused), /released more often/);
    assert.throws(() => pool.retain(reused), /retained after it was released/);
    assert.throws(() => pool.release(Buffer.alloc(10)), /not a slab of this pool/);
  });

  test('a request larger than a slab gets a slab of its own, never reused', () => {
    const pool = new SlabPool();
    const big = pool.acquire(slabSize + 1).buf;
    assert.equal(big.length, slabSize + 1);
    assert.ok(pool.owns(big));
    pool.release(big);
    const next = pool.acquire(slabSize).buf;
    assert.notEqual(next.buffer, big.buffer);
    pool.release(next);
  });
});
