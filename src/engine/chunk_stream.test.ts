import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { open, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.js';
import { hashId } from '../repo/id.js';
import { type ChunkFinder, chunkFileOnThreads, cutAndHash } from './chunk_stream.js';
import { chunkFile, chunkMaxSize, chunkMinSize } from './chunker.js';

const pol = 0x3dea92648f6e83n;

/** A finder that cuts on this thread, copying the bytes as a move to a thread would. */
const here: ChunkFinder = {
  async chunk(data, eof, p) {
    const copy = Buffer.from(data);
    const { ends, ids } = cutAndHash(copy, eof, p);
    return {
      data: copy,
      ends,
      ids: ends.map((_, i) => Buffer.from(ids.subarray(32 * i, 32 * i + 32)).toString('hex')),
    };
  },
};

async function chunksOf(file: string, onThreads: boolean, sizeHint: number): Promise<string[]> {
  const fh = await open(file, 'r');
  try {
    const ids: string[] = [];
    if (onThreads) {
      for await (const batch of chunkFileOnThreads(fh, here, pol, sizeHint)) {
        for (const c of batch) {
          assert.equal(c.id, hashId(c.bytes), 'the ID is the SHA-256 of the bytes given with it');
          ids.push(`${c.id}:${c.bytes.length}`);
        }
      }
    } else {
      for await (const c of chunkFile(fh, pol)) ids.push(`${hashId(c)}:${c.length}`);
    }
    return ids;
  } finally {
    await fh.close();
  }
}

test('cutting in blocks on threads gives exactly the chunks of the streaming chunker', async (t) => {
  const dir = await tempDir(t, 'chunk-stream');
  const mib = 1024 * 1024;
  const sizes = [
    0,
    1,
    chunkMinSize - 1,
    chunkMinSize + 7,
    chunkMaxSize - 1,
    chunkMaxSize,
    chunkMaxSize + 1,
    8 * mib * 2,
    25 * mib + 3,
  ];
  for (const size of sizes) {
    const file = path.join(dir, `random-${size}`);
    await writeFile(file, randomBytes(size));
    const want = await chunksOf(file, false, size);
    assert.deepEqual(await chunksOf(file, true, size), want, `random data, ${size} bytes`);
    // A wrong size hint (the file grew or shrank since it was stat'ed) changes nothing.
    assert.deepEqual(await chunksOf(file, true, Math.floor(size / 3)), want, `${size} bytes, hint too small`);
    assert.deepEqual(await chunksOf(file, true, size * 2 + 5), want, `${size} bytes, hint too large`);
  }
  // Zeros fingerprint to 0, which matches the split mask: a cut at every minimum size.
  const zeros = path.join(dir, 'zeros');
  const zeroSize = 3 * chunkMaxSize + 12345;
  await writeFile(zeros, Buffer.alloc(zeroSize));
  const z = await chunksOf(zeros, true, zeroSize);
  assert.deepEqual(z, await chunksOf(zeros, false, 0));
  assert.equal(z.length, Math.ceil(zeroSize / chunkMinSize));
});
