import assert from 'node:assert/strict';
import { execFile, spawnSync } from 'node:child_process';
import { createCipheriv, createHash } from 'node:crypto';
import { mkdtemp, open, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { promisify } from 'node:util';
import { ArcaError } from '../errors.js';
import { mod, parsePolynomial } from '../repo/polynomial.js';
import { Chunker, chunkFile, chunkMaxSize, chunkMinSize } from './chunker.js';
import { SlabPool } from './slabs.js';

/** restic/chunker's test polynomial. */
const testPol = 0x3da3358b4dc173n;
const MiB = 1024 * 1024;

/** Deterministic incompressible bytes: the AES-256-CTR keystream under a key derived from `seed`. */
function randomBytesFor(seed: string, length: number): Buffer {
  const key = createHash('sha256').update(seed).digest();
  return createCipheriv('aes-256-ctr', key, Buffer.alloc(16)).update(Buffer.alloc(length));
}

function text(length: number): Buffer {
  const lines: string[] = [];
  for (let i = 0, n = 0; n < length; i++) {
    const line = `${i}: all work and no play makes a backup tool dull, ${(i * 7919) % 10007}\n`;
    lines.push(line);
    n += line.length;
  }
  return Buffer.from(lines.join('')).subarray(0, length);
}

function sha256(data: Uint8Array): string {
  return createHash('sha256').update(data).digest('hex');
}

/** The fingerprint of 64 bytes of `c`, i.e. of any window inside a run of `c`. */
function runFingerprint(c: number, pol: bigint): bigint {
  return mod(BigInt(`0x${Buffer.alloc(64, c).toString('hex')}`), pol);
}

/** A byte whose runs never match the split mask, so a long run of it only ends at chunkMaxSize. */
function noCutByte(pol: bigint): number {
  for (let c = 1; c < 256; c++) if ((runFingerprint(c, pol) & 0xfffffn) !== 0n) return c;
  throw new Error('every byte run matches the split mask');
}

interface Cut {
  end: number;
  fingerprint: bigint;
}

/**
 * Chunks `data` through one reused piece buffer, cycling through `pieceSizes`, so the chunker can
 * only see the bytes of the current piece. Returns the absolute chunk ends.
 */
function cutsOf(data: Uint8Array, pol: bigint, pieceSizes: number[] = [data.length]): Cut[] {
  const chunker = new Chunker(pol);
  const piece = Buffer.alloc(Math.max(...pieceSizes));
  const cuts: Cut[] = [];
  for (let pos = 0, k = 0; pos < data.length; k++) {
    const n = Math.min(pieceSizes[k % pieceSizes.length]!, data.length - pos);
    piece.fill(0xee);
    piece.set(data.subarray(pos, pos + n));
    for (let cut = chunker.next(piece, 0, n); cut >= 0; cut = chunker.next(piece, cut, n)) {
      cuts.push({ end: pos + cut, fingerprint: chunker.cutFingerprint });
    }
    pos += n;
  }
  return cuts;
}

/**
 * A literal BigInt port of restic/chunker's loop (ring window, the initial byte 1, MinSize - 64
 * skipped bytes): an oracle for the int32 implementation's shortcuts.
 */
function resticReference(data: Uint8Array, pol: bigint): Cut[] {
  const k = BigInt(pol.toString(2).length - 1);
  const appendByte = (h: bigint, b: bigint) => mod((h << 8n) | b, pol);
  const out: bigint[] = [];
  const modT: bigint[] = [];
  for (let b = 0n; b < 256n; b++) {
    let h = appendByte(0n, b);
    for (let i = 0; i < 63; i++) h = appendByte(h, 0n);
    out.push(h);
    modT.push(mod(b << k, pol) | (b << k));
  }
  const update = (d: bigint, b: bigint) => ((d << 8n) | b) ^ modT[Number(d >> (k - 8n))]!;
  const cuts: Cut[] = [];
  let window = new Uint8Array(64);
  let wpos = 0;
  let digest = 0n;
  let count = 0;
  let pre = 0;
  const reset = () => {
    window = new Uint8Array(64);
    window[0] = 1;
    wpos = 1;
    digest = update(out[0]!, 1n);
    count = 0;
    pre = chunkMinSize - 64;
  };
  reset();
  for (let i = 0; i < data.length; i++) {
    count++;
    if (pre > 0) {
      pre--;
      continue;
    }
    const b = data[i]!;
    digest ^= out[window[wpos]!]!;
    window[wpos] = b;
    wpos = (wpos + 1) % 64;
    digest = update(digest, BigInt(b));
    if (((digest & 0xfffffn) === 0n || count >= chunkMaxSize) && count >= chunkMinSize) {
      cuts.push({ end: i + 1, fingerprint: digest });
      reset();
    }
  }
  return cuts;
}

function lengths(cuts: Cut[], total: number): number[] {
  const ends = [...cuts.map((c) => c.end), total].filter((e, i, all) => i === 0 || e !== all[i - 1]);
  return ends.map((e, i) => e - (i === 0 ? 0 : ends[i - 1]!));
}

async function* piecesOf(data: Uint8Array, sizes: number[]): AsyncGenerator<Uint8Array> {
  for (let pos = 0, k = 0; pos < data.length; k++) {
    const n = Math.min(sizes[k % sizes.length]!, data.length - pos);
    yield data.slice(pos, pos + n);
    pos += n;
  }
}

interface ChunkSummary {
  length: number;
  id: string;
}

/** Length and SHA-256 (restic's blob ID): compact, and a failed comparison prints a readable diff. */
function chunkSummary(chunk: Uint8Array): ChunkSummary {
  return { length: chunk.length, id: sha256(chunk) };
}

async function collect(chunks: AsyncIterable<Buffer>): Promise<ChunkSummary[]> {
  const all: ChunkSummary[] = [];
  for await (const c of chunks) {
    // Let the read-ahead land first: it must not touch the chunk we hold.
    await new Promise((resolve) => setImmediate(resolve));
    all.push(chunkSummary(c));
  }
  return all;
}

describe('Chunker', () => {
  test('zero input is cut at every chunkMinSize with fingerprint 0, as restic does', () => {
    const data = Buffer.alloc(4 * chunkMinSize + 1000);
    const cuts = cutsOf(data, testPol);
    assert.deepEqual(
      cuts.map((c) => c.end),
      [1, 2, 3, 4].map((n) => n * chunkMinSize),
    );
    for (const c of cuts) assert.equal(c.fingerprint, 0n);
    assert.deepEqual(lengths(cuts, data.length), [
      chunkMinSize,
      chunkMinSize,
      chunkMinSize,
      chunkMinSize,
      1000,
    ]);
    // restic's chunker_test.go, chunks2.
    assert.equal(
      sha256(data.subarray(0, chunkMinSize)),
      '07854d2fef297a06ba81685e660c332de36d5d18d546927d30daad6d7fda1541',
    );
  });

  test('a run without a split point is cut at chunkMaxSize', () => {
    const c = noCutByte(testPol);
    const data = Buffer.alloc(2 * chunkMaxSize + 12345, c);
    const cuts = cutsOf(data, testPol);
    assert.deepEqual(lengths(cuts, data.length), [chunkMaxSize, chunkMaxSize, 12345]);
    for (const cut of cuts) assert.equal(cut.fingerprint, runFingerprint(c, testPol));
  });

  test('input shorter than chunkMinSize has no cut', () => {
    assert.deepEqual(cutsOf(randomBytesFor('short', chunkMinSize - 1), testPol), []);
    assert.deepEqual(cutsOf(Buffer.alloc(0), testPol), []);
  });

  test('random data gives chunks between the bounds whose ends match the split mask', () => {
    const data = randomBytesFor('bounds', 24 * MiB);
    const cuts = cutsOf(data, testPol);
    assert.ok(cuts.length >= 8, `${cuts.length} chunks`);
    for (const [i, len] of lengths(cuts, data.length).slice(0, -1).entries()) {
      assert.ok(len >= chunkMinSize && len <= chunkMaxSize, `chunk ${i}: ${len}`);
      if (len < chunkMaxSize) assert.equal(cuts[i]!.fingerprint & 0xfffffn, 0n);
    }
  });

  test('matches a literal BigInt port of restic/chunker', () => {
    // Enough chunks that cuts fall in every lane of the native scan's blocks, not only the first.
    const data = Buffer.concat([
      randomBytesFor('reference', 7 * MiB),
      Buffer.alloc(chunkMinSize + 100),
      randomBytesFor('reference 2', 6 * MiB),
    ]);
    const expected = resticReference(data, testPol);
    assert.ok(expected.length >= 8, `${expected.length} chunks`);
    assert.deepEqual(cutsOf(data, testPol), expected);
  });

  test('feeding pieces of any size gives the same boundaries as one buffer', () => {
    const pol = parsePolynomial('2c1d2d5b6782af');
    const big = Buffer.concat([
      randomBytesFor('pieces', 5 * MiB),
      text(MiB),
      Buffer.alloc(2 * MiB),
      Buffer.alloc(chunkMaxSize + 99, noCutByte(pol)),
      randomBytesFor('pieces 2', 3 * MiB + 17),
    ]);
    const whole = cutsOf(big, pol);
    assert.ok(whole.length >= 8, `${whole.length} chunks`);
    for (const sizes of [[7], [65], [MiB + 3], [63, 64, 1, 2, 129, 100_003], [chunkMaxSize + 1]]) {
      assert.deepEqual(cutsOf(big, pol, sizes), whole, `pieces of ${sizes.join(', ')}`);
    }
    // Byte by byte over a smaller input: every byte is its own piece.
    const small = big.subarray(0, 4 * MiB);
    assert.deepEqual(cutsOf(small, pol, [1]), cutsOf(small, pol));
  });

  test('chunkers with different polynomials can take turns', () => {
    const other = parsePolynomial('2c1d2d5b6782af');
    const data = randomBytesFor('turns', 12 * MiB);
    const a = new Chunker(testPol);
    const b = new Chunker(other);
    const cutsA: number[] = [];
    const cutsB: number[] = [];
    for (let pos = 0; pos < data.length; pos += MiB) {
      for (const [chunker, cuts] of [
        [a, cutsA],
        [b, cutsB],
      ] as const) {
        const end = pos + MiB;
        for (let cut = chunker.next(data, pos, end); cut >= 0; cut = chunker.next(data, cut, end)) {
          cuts.push(cut);
        }
      }
    }
    assert.deepEqual(
      cutsA,
      cutsOf(data, testPol).map((c) => c.end),
    );
    assert.deepEqual(
      cutsB,
      cutsOf(data, other).map((c) => c.end),
    );
    assert.notDeepEqual(cutsA, cutsB);
  });

  test('a polynomial of a degree restic never uses is refused', () => {
    for (const pol of [0n, 0b1011n, 1n << 60n]) {
      assert.throws(
        () => new Chunker(pol),
        (e: unknown) => e instanceof ArcaError && e.code === 'unsupported',
      );
    }
  });

  test('reset starts a new chunk', () => {
    const data = randomBytesFor('reset', 3 * MiB);
    const chunker = new Chunker(testPol);
    chunker.next(data, 0, 1000);
    chunker.reset();
    const first = chunker.next(data);
    assert.equal(first, cutsOf(data, testPol)[0]!.end);
  });
});

describe('chunkFile', () => {
  const pol = testPol;
  const data = Buffer.concat([
    randomBytesFor('file', 9 * MiB),
    Buffer.alloc(3 * MiB),
    Buffer.alloc(chunkMaxSize + 5, noCutByte(pol)),
    randomBytesFor('file 2', 4 * MiB + 1),
  ]);
  const ends = cutsOf(data, pol).map((c) => c.end);
  const expected = [0, ...ends].map((start, i) => chunkSummary(data.subarray(start, ends[i] ?? data.length)));

  test('yields the chunks of a file', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arca-chunker-'));
    try {
      const path = join(dir, 'data');
      await writeFile(path, data);
      for (const readSize of [undefined, 64 * 1024]) {
        const fh = await open(path);
        try {
          assert.deepEqual(await collect(chunkFile(fh, pol, readSize ? { readSize } : {})), expected);
        } finally {
          await fh.close();
        }
      }
      await writeFile(path, '');
      const fh = await open(path);
      try {
        assert.deepEqual(await collect(chunkFile(fh, pol)), []);
      } finally {
        await fh.close();
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  test('yields the same chunks from a stream of odd pieces', async () => {
    assert.deepEqual(await collect(chunkFile(piecesOf(data, [65_537, 3, MiB + 7]), pol)), expected);
    assert.deepEqual(await collect(chunkFile(piecesOf(data, [MiB]), pol, { readSize: 4096 })), expected);
    assert.deepEqual(await collect(chunkFile(piecesOf(Buffer.alloc(0), [1]), pol)), []);
    const tiny = Buffer.from('tiny file');
    assert.deepEqual(await collect(chunkFile(piecesOf(tiny, [4]), pol)), [chunkSummary(tiny)]);
    await assert.rejects(collect(chunkFile(piecesOf(tiny, [4]), pol, { readSize: 0 })), RangeError);
  });

  test('reading into slabs gives the same chunks, each valid while its slab is held', async () => {
    const slabs = new SlabPool();
    const held: Buffer[] = [];
    for await (const chunk of chunkFile(piecesOf(data, [MiB + 3]), pol, { slabs, readSize: MiB })) {
      assert.ok(slabs.owns(chunk));
      slabs.retain(chunk);
      held.push(chunk);
    }
    // The generator moved on long ago, yet no slab was reused under a chunk still held.
    assert.deepEqual(held.map(chunkSummary), expected);
    assert.ok(slabs.inUse >= 2, `${slabs.inUse} slabs held`);
    for (const chunk of held) slabs.release(chunk);
    assert.equal(slabs.inUse, 0);
    assert.throws(() => slabs.release(held[0]!), /released more often/);
    // Stopping early gives the generator's own slab back too.
    for await (const chunk of chunkFile(piecesOf(data, [MiB]), pol, { slabs })) {
      assert.ok(chunk.length > 0);
      break;
    }
    assert.equal(slabs.inUse, 0);
  });

  test('a read error ends the generator with that error', async () => {
    async function* failing(): AsyncGenerator<Uint8Array> {
      yield* piecesOf(data.subarray(0, 3 * MiB), [MiB]);
      throw new Error('disk on fire');
    }
    await assert.rejects(collect(chunkFile(failing(), pol)), /disk on fire/);
  });

  test('stopping early closes the source', async () => {
    let closed = false;
    async function* source(): AsyncGenerator<Uint8Array> {
      try {
        yield* piecesOf(data, [MiB]);
      } finally {
        closed = true;
      }
    }
    for await (const chunk of chunkFile(source(), pol)) {
      assert.deepEqual(chunkSummary(chunk), expected[0]);
      break;
    }
    assert.equal(closed, true);
  });
});

const execFileP = promisify(execFile);
const resticMissing = 'restic is not installed (apt-get install restic)';
const haveRestic = !spawnSync('restic', ['version']).error;
if (!haveRestic && process.env['CI'] === 'true') {
  test('restic is available in CI', () => assert.fail(resticMissing));
}

describe('chunk boundaries equal restic’s', { skip: haveRestic ? false : resticMissing }, () => {
  test('restic backup stores exactly our chunks', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'arca-chunker-restic-'));
    try {
      await writeFile(join(dir, 'password'), 'arca test password\n');
      const env = {
        ...process.env,
        RESTIC_REPOSITORY: join(dir, 'repo'),
        RESTIC_PASSWORD_FILE: join(dir, 'password'),
      };
      const restic = async (...args: string[]) =>
        (await execFileP('restic', ['--no-cache', ...args], { cwd: dir, env, maxBuffer: 64 * MiB })).stdout;

      await restic('init');
      const pol = parsePolynomial(JSON.parse(await restic('cat', 'config')).chunker_polynomial);
      // Random data, text, a zero run (chunkMinSize cuts) and a run without a split point for this
      // polynomial (chunkMaxSize cuts), then an odd tail.
      const files: Record<string, Buffer> = {
        'data.bin': Buffer.concat([
          randomBytesFor('restic', 6 * MiB),
          text(MiB + 333),
          Buffer.alloc(3 * MiB),
          randomBytesFor('restic 2', 3 * MiB),
          Buffer.alloc(chunkMaxSize + MiB, noCutByte(pol)),
          randomBytesFor('restic 3', 5 * MiB + 12345),
        ]),
        'small.txt': text(1000),
        empty: Buffer.alloc(0),
      };
      for (const [name, content] of Object.entries(files)) await writeFile(join(dir, name), content);

      // Relative targets put the files straight into the snapshot's root tree.
      await restic('backup', '--quiet', ...Object.keys(files));
      const [snapshot] = JSON.parse(await restic('snapshots', '--json', 'latest')) as { tree: string }[];
      const tree = JSON.parse(await restic('cat', 'blob', snapshot!.tree)) as {
        nodes: { name: string; content: string[] | null }[];
      };

      for (const name of Object.keys(files)) {
        const node = tree.nodes.find((n) => n.name === name);
        assert.ok(node, `${name} is in the snapshot`);
        const fh = await open(join(dir, name));
        try {
          const ours = await collect(chunkFile(fh, pol));
          assert.deepEqual(
            ours.map((c) => c.id),
            node.content ?? [],
            name,
          );
          if (name === 'data.bin') {
            // The big file really exercised both bounds.
            const lens = ours.map((c) => c.length);
            assert.ok(lens.includes(chunkMinSize) && lens.includes(chunkMaxSize), lens.join(' '));
          }
        } finally {
          await fh.close();
        }
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
