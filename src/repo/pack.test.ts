import assert from 'node:assert/strict';
import { createCipheriv, createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, test } from 'node:test';
import { useCheapKey } from '../../test/support/cheap-key.js';
import {
  resticBackup,
  resticCat,
  resticCheck,
  resticInit,
  writePasswordFile,
} from '../../test/support/restic.js';
import { makeTempDir, removeTree } from '../../test/support/tmp.js';
import { requireTool } from '../../test/support/tools.js';
import { LocalBackend } from '../backend/local.js';
import { ArcaError } from '../errors.js';
import { encodeBlob } from './blob_codec.js';
import { newRandomKey, seal, sealOverhead } from './crypto.js';
import { hashId } from './id.js';
import { encodeIndexFile } from './index.js';
import {
  eagerHeaderBytes,
  encodeHeader,
  expectedPackSize,
  headerEntrySize,
  headerLength,
  maxHeaderSize,
  type PackedBlob,
  parseHeader,
} from './pack.js';
import { Packer } from './packer.js';
import { decodeBlob, Repository } from './repository.js';

const key = newRandomKey();
const packId = 'cd'.repeat(32);
const idOf = (s: string): string => createHash('sha256').update(s).digest('hex');

/** Deterministic incompressible bytes. */
function noise(length: number, seed: string): Buffer {
  return createCipheriv('aes-256-ctr', createHash('sha256').update(seed).digest(), Buffer.alloc(16)).update(
    Buffer.alloc(length),
  );
}

function isCorrupt(message?: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof ArcaError, `expected an ArcaError, got ${String(err)}`);
    assert.equal(err.code, 'corrupt', err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
}

/** A pack's header entries, parsed the way a reader does: length from the tail, then the header. */
function readPack(data: Buffer, id: string): PackedBlob[] {
  const hlen = headerLength(data.subarray(Math.max(0, data.length - eagerHeaderBytes)), data.length, id);
  return parseHeader(key, data.subarray(data.length - 4 - hlen, data.length - 4), data.length, id);
}

/** Blobs of all four header entry kinds, with offsets as a pack of them in this order has them. */
function sampleBlobs(): PackedBlob[] {
  const blobs: Omit<PackedBlob, 'offset'>[] = [
    { id: idOf('a'), type: 'data', length: 1000, uncompressedLength: 0 },
    { id: idOf('b'), type: 'tree', length: 33, uncompressedLength: 0 },
    { id: idOf('c'), type: 'data', length: 5000, uncompressedLength: 70000 },
    { id: idOf('d'), type: 'tree', length: 300, uncompressedLength: 1200 },
    { id: idOf('e'), type: 'data', length: 0xffffffff, uncompressedLength: 0xfffffffe },
  ];
  let offset = 0;
  return blobs.map((b) => {
    const placed = { ...b, offset };
    offset += b.length;
    return placed;
  });
}

describe('pack header encoding', () => {
  test('encodeHeader writes restic entries: type, u32 LE length, [u32 LE plaintext length,] ID', () => {
    const blobs = sampleBlobs();
    const h = encodeHeader(blobs);
    assert.equal(h.length, 37 + 37 + 41 + 41 + 41);
    assert.deepEqual(
      h.subarray(0, 37),
      Buffer.concat([Buffer.from([0, 0xe8, 0x03, 0, 0]), Buffer.from(idOf('a'), 'hex')]),
    );
    assert.equal(h[37], 1);
    assert.equal(h[74], 2);
    assert.equal(h.readUInt32LE(75), 5000);
    assert.equal(h.readUInt32LE(79), 70000);
    assert.equal(h.subarray(83, 115).toString('hex'), idOf('c'));
    assert.equal(h[115], 3);
    assert.equal(h.readUInt32LE(156 + 1), 0xffffffff);
    assert.equal(h.readUInt32LE(156 + 5), 0xfffffffe);
    assert.deepEqual(blobs.map(headerEntrySize), [37, 37, 41, 41, 41]);
  });

  test('parseHeader reads back what encodeHeader wrote (data, tree, compressed, uncompressed)', () => {
    const blobs = sampleBlobs();
    const enc = seal(key, encodeHeader(blobs));
    const size = expectedPackSize(blobs);
    assert.equal(size, blobs.reduce((n, b) => n + b.length, 0) + enc.length + 4);
    assert.deepEqual(parseHeader(key, enc, size, packId), blobs);
  });

  test('expectedPackSize counts blobs, one entry per blob, the sealed header and its length', () => {
    assert.equal(expectedPackSize([]), sealOverhead + 4);
    assert.equal(expectedPackSize([{ length: 100, uncompressedLength: 0 }]), 100 + 37 + 36);
    assert.equal(expectedPackSize([{ length: 100, uncompressedLength: 250 }]), 100 + 41 + 36);
    assert.equal(
      expectedPackSize([
        { length: 10, uncompressedLength: 0 },
        { length: 20, uncompressedLength: 30 },
      ]),
      10 + 20 + 37 + 41 + 36,
    );
  });

  test('an empty header parses to no blobs', () => {
    assert.deepEqual(parseHeader(key, seal(key, Buffer.alloc(0)), sealOverhead + 4, packId), []);
  });

  test('headerLength accepts plausible lengths and rejects impossible ones', () => {
    const tail = (n: number): Buffer => {
      const b = Buffer.alloc(8, 0xaa);
      b.writeUInt32LE(n, 4);
      return b;
    };
    assert.equal(headerLength(tail(100), 1000, packId), 100);
    assert.equal(headerLength(tail(996), 1000, packId), 996, 'a pack may be nothing but its header');
    assert.equal(headerLength(tail(sealOverhead), 1000, packId), sealOverhead);
    assert.equal(headerLength(tail(maxHeaderSize), 2 ** 30, packId), maxHeaderSize);
    assert.throws(
      () => headerLength(tail(sealOverhead - 1), 1000, packId),
      isCorrupt(/invalid header length 31/),
    );
    assert.throws(() => headerLength(tail(997), 1000, packId), isCorrupt(/invalid header length/));
    assert.throws(() => headerLength(tail(0xffffffff), 1000, packId), isCorrupt(/invalid header length/));
    assert.throws(
      () => headerLength(tail(maxHeaderSize + 1), 2 ** 30, packId),
      isCorrupt(/invalid header length/),
    );
    assert.throws(() => headerLength(tail(32), sealOverhead + 3, packId), isCorrupt(/too short/));
    assert.throws(() => headerLength(Buffer.alloc(3), 1000, packId), isCorrupt(/too short/));
    assert.throws(
      () => headerLength(tail(5), 1000, packId),
      isCorrupt(new RegExp(`^pack ${packId.slice(0, 8)} `)),
    );
  });

  test('a header whose sizes do not add up to the pack size is corrupt', () => {
    const blobs = sampleBlobs().slice(0, 3);
    const enc = seal(key, encodeHeader(blobs));
    const size = expectedPackSize(blobs);
    for (const wrong of [size - 1, size + 1, size + 37, enc.length + 4]) {
      assert.throws(() => parseHeader(key, enc, wrong, packId), isCorrupt(/do not add up/));
    }
  });

  test('unknown blob types, truncated entries and a foreign key are corrupt', () => {
    const plain = encodeHeader(sampleBlobs().slice(0, 2));
    for (const t of [4, 5, 0x80, 0xff]) {
      const bad = Buffer.from(plain);
      bad[37] = t;
      assert.throws(
        () => parseHeader(key, seal(key, bad), 0, packId),
        isCorrupt(new RegExp(`invalid blob type ${t}`)),
      );
    }
    assert.throws(
      () => parseHeader(key, seal(key, plain.subarray(0, 36)), 0, packId),
      isCorrupt(/truncated entry/),
    );
    assert.throws(
      () => parseHeader(key, seal(key, plain.subarray(0, 37 + 20)), 0, packId),
      isCorrupt(/truncated/),
    );
    assert.throws(() => parseHeader(newRandomKey(), seal(key, plain), 0, packId), isCorrupt(/header: MAC/));
  });
});

describe('Packer', () => {
  const plains = [
    Buffer.from('a small blob'),
    Buffer.alloc(0),
    Buffer.from('compressible '.repeat(5000)),
    noise(70_000, 'packer'),
  ];

  for (const mode of ['auto', 'off', 'max'] as const) {
    test(`finish (compression ${mode}) names the pack by its SHA-256 and parseHeader reads it back`, () => {
      const packer = new Packer('data');
      for (const p of plains) {
        const e = encodeBlob(key, p, mode);
        packer.add(hashId(p), e.sealed, e.uncompressedLength);
      }
      const pack = packer.finish(key);
      assert.equal(pack.id, hashId(pack.data));
      assert.equal(pack.data.length, expectedPackSize(pack.blobs));
      assert.equal(packer.count, plains.length);
      const parsed = readPack(pack.data, pack.id);
      assert.deepEqual(parsed, pack.blobs);
      for (const [i, b] of parsed.entries()) {
        assert.equal(b.uncompressedLength > 0, mode !== 'off' && plains[i]!.length > 0);
        const raw = pack.data.subarray(b.offset, b.offset + b.length);
        assert.deepEqual(decodeBlob(key, { ...b, packId: pack.id }, raw), plains[i]);
      }
    });
  }

  test('a tree packer writes tree entries (type 3 when compressed, 1 when not)', () => {
    const packer = new Packer('tree');
    const tree = Buffer.from('{"nodes":[]}\n');
    const z = encodeBlob(key, tree, 'auto');
    const s = encodeBlob(key, tree, 'off');
    packer.add(hashId(tree), z.sealed, z.uncompressedLength);
    packer.add(hashId(tree), s.sealed, s.uncompressedLength);
    const pack = packer.finish(key);
    const parsed = readPack(pack.data, pack.id);
    assert.deepEqual(
      parsed.map((b) => [b.type, b.uncompressedLength]),
      [
        ['tree', tree.length],
        ['tree', 0],
      ],
    );
    for (const b of parsed) {
      const raw = pack.data.subarray(b.offset, b.offset + b.length);
      assert.deepEqual(decodeBlob(key, { ...b, packId: pack.id }, raw), tree);
    }
    assert.equal(pack.data.readUInt32LE(pack.data.length - 4), 41 + 37 + sealOverhead);
  });

  test('a damaged blob inside a pack is corrupt, and the pack name no longer matches', () => {
    const packer = new Packer('data');
    const plain = Buffer.from('precious');
    const e = encodeBlob(key, plain, 'auto');
    packer.add(hashId(plain), e.sealed, e.uncompressedLength);
    const pack = packer.finish(key);
    const damaged = Buffer.from(pack.data);
    damaged[20]! ^= 1;
    assert.notEqual(hashId(damaged), pack.id);
    const b = readPack(damaged, pack.id)[0]!;
    assert.throws(
      () => decodeBlob(key, { ...b, packId: pack.id }, damaged.subarray(0, b.length)),
      isCorrupt(/MAC/),
    );
    const wrongId = { ...b, id: idOf('other'), packId: pack.id };
    assert.throws(
      () => decodeBlob(key, wrongId, pack.data.subarray(0, b.length)),
      isCorrupt(/does not match its ID/),
    );
  });
});

interface ResticRepo {
  dir: string;
  repo: string;
  passwordFile: string;
  files: Buffer[];
}

let shared: Promise<ResticRepo> | undefined;
after(async () => {
  const r = await shared?.catch(() => undefined);
  if (r) await removeTree(r.dir);
});

/** A v2 repository restic made: one backup compressed, one with `--compression off`. */
function resticRepo(): Promise<ResticRepo> {
  shared ??= (async () => {
    const dir = await makeTempDir('pack-restic');
    const repo = path.join(dir, 'repo');
    const passwordFile = await writePasswordFile(dir, 'pack test');
    await resticInit(repo, passwordFile);
    await useCheapKey(repo, 'pack test');
    const src = path.join(dir, 'src');
    await mkdir(path.join(src, 'sub'), { recursive: true });
    const files = [
      Buffer.from('hi\n'),
      // Below restic's minimum chunk size (512 KiB), so each file is exactly one blob.
      noise(400_000, 'restic-random'),
      Buffer.from(Array.from({ length: 30000 }, (_, i) => `${i}\n`).join('')),
      noise(100_000, 'restic-uncompressed'),
    ];
    await writeFile(path.join(src, 'small'), files[0]!);
    await writeFile(path.join(src, 'random'), files[1]!);
    await writeFile(path.join(src, 'sub', 'text'), files[2]!);
    await resticBackup(repo, passwordFile, ['src'], { cwd: dir });
    await writeFile(path.join(dir, 'plain'), files[3]!);
    await resticBackup(repo, passwordFile, ['plain'], { cwd: dir, extra: ['--compression', 'off'] });
    return { dir, repo, passwordFile, files };
  })();
  return shared;
}

describe('packs written by restic', () => {
  test('every pack parses, matches the index, and every blob decodes', async (t) => {
    if (!requireTool(t, 'restic', 'restic')) return;
    const r = await resticRepo();
    const repo = await Repository.open(new LocalBackend(r.repo), 'pack test');
    await repo.loadIndex();
    const packIds = await repo.listIds('data');
    assert.ok(packIds.length >= 3, `expected data and tree packs, got ${packIds.length}`);

    const decoded = new Map<string, Buffer>();
    const entryKinds = new Set<string>();
    for (const id of packIds) {
      const data = await repo.backend.load({ type: 'data', name: id });
      assert.equal(hashId(data), id, 'a pack is named by its SHA-256');
      const hlen = headerLength(data.subarray(data.length - eagerHeaderBytes), data.length, id);
      const blobs = parseHeader(
        repo.key,
        data.subarray(data.length - 4 - hlen, data.length - 4),
        data.length,
        id,
      );
      assert.equal(expectedPackSize(blobs), data.length);
      assert.equal(new Set(blobs.map((b) => b.type)).size, 1, 'v2 packs hold one blob type');
      for (const b of blobs) {
        entryKinds.add(`${b.type}/${b.uncompressedLength > 0 ? 'compressed' : 'plain'}`);
        const inIndex = repo.index.lookupAll(b.id).find((l) => l.packId === id);
        assert.deepEqual(inIndex, { ...b, packId: id }, `index entry of blob ${b.id.slice(0, 8)}`);
        const plain = repo.decodeBlob({ ...b, packId: id }, data.subarray(b.offset, b.offset + b.length));
        assert.equal(plain.length, b.uncompressedLength || b.length - sealOverhead);
        decoded.set(b.id, plain);
      }
    }
    assert.deepEqual([...entryKinds].sort(), ['data/compressed', 'data/plain', 'tree/compressed']);
    for (const f of r.files) assert.deepEqual(decoded.get(hashId(f)), f, 'each small file is one data blob');
    assert.equal(decoded.size, repo.index.blobCount);
  });

  test('restic check --read-data accepts a pack and index written by Packer', async (t) => {
    if (!requireTool(t, 'restic', 'restic')) return;
    const r = await resticRepo();
    const repo = await Repository.open(new LocalBackend(r.repo), 'pack test');
    const plains = [
      Buffer.from('written by arca\n'),
      noise(20_000, 'arca-pack'),
      Buffer.from('z'.repeat(9999)),
    ];
    const packer = new Packer('data');
    for (const [i, p] of plains.entries()) {
      const e = encodeBlob(repo.key, p, i === 0 ? 'off' : 'auto');
      packer.add(hashId(p), e.sealed, e.uncompressedLength);
    }
    const pack = packer.finish(repo.key);
    await repo.backend.save({ type: 'data', name: pack.id }, pack.data);
    await repo.saveJsonUnpacked(
      'index',
      JSON.parse(encodeIndexFile([{ id: pack.id, blobs: pack.blobs }]).toString()),
    );

    const check = await resticCheck(r.repo, r.passwordFile, true);
    assert.ok(check.ok, check.output);
    assert.deepEqual(await resticCat(r.repo, r.passwordFile, 'blob', hashId(plains[1]!)), plains[1]);
  });
});
