import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { restic, resticBackup, resticInit, writePasswordFile } from '../../test/support/restic.js';
import { runOk } from '../../test/support/run.js';
import { makeTempDir, removeTree } from '../../test/support/tmp.js';
import { hasTool } from '../../test/support/tools.js';
import { LocalBackend } from '../backend/local.js';
import type { Id } from '../repo/id.js';
import { Repository } from '../repo/repository.js';
import {
  type CheckEvent,
  type CheckOptions,
  type CheckResult,
  checkRepository,
  describePackSelection,
  parsePackSelection,
  selectPacks,
} from './checker.js';

const password = 'check me';
const noRestic = 'restic is not installed (apt-get install restic)';
const haveRestic = hasTool('restic');
if (!haveRestic && process.env.CI === 'true') throw new Error(noRestic);

describe('pack selection for --read-data-subset', () => {
  const packs = new Map<Id, number>();
  for (let b = 0; b < 256; b++) packs.set(b.toString(16).padStart(2, '0') + 'ab'.repeat(31), 1000 + b);

  test('parses what restic 0.14 accepts', () => {
    assert.deepEqual(parsePackSelection('1/3'), { kind: 'bucket', n: 1, t: 3 });
    assert.deepEqual(parsePackSelection('2.5%'), { kind: 'percent', percent: 2.5 });
    assert.deepEqual(parsePackSelection('50M'), { kind: 'size', bytes: 50 * 1024 * 1024 });
    assert.deepEqual(parsePackSelection('3k'), { kind: 'size', bytes: 3072 });
    assert.deepEqual(parsePackSelection('2G'), { kind: 'size', bytes: 2 * 1024 ** 3 });
    assert.deepEqual(parsePackSelection('100b'), { kind: 'size', bytes: 100 });
    for (const bad of [
      '0/3',
      '4/3',
      '1/0',
      '1/257',
      '0%',
      '101%',
      '%',
      'x%',
      '1/2/3',
      '5X',
      '0M',
      '',
      '-1M',
    ]) {
      assert.throws(() => parsePackSelection(bad), { name: 'ArcaError', code: 'usage' }, bad);
    }
    assert.equal(describePackSelection(parsePackSelection('1/3')), '1/3');
  });

  test('n/t groups packs by the first byte of their ID, as restic does', () => {
    const seen = new Set<Id>();
    for (let n = 1; n <= 3; n++) {
      const group = selectPacks(packs, { kind: 'bucket', n, t: 3 });
      for (const id of group.keys()) {
        assert.equal(Number.parseInt(id.slice(0, 2), 16) % 3, n - 1);
        assert.ok(!seen.has(id));
        seen.add(id);
      }
    }
    assert.equal(seen.size, packs.size);
    assert.equal(selectPacks(packs, { kind: 'bucket', n: 5, t: 256 }).size, 1);
  });

  test('x% and sizes pick a random floor(count * x / 100) packs, at least one', () => {
    assert.equal(selectPacks(packs, { kind: 'percent', percent: 10 }).size, 25);
    assert.equal(selectPacks(packs, { kind: 'percent', percent: 0.01 }).size, 1);
    assert.equal(selectPacks(packs, { kind: 'percent', percent: 100 }).size, 256);
    assert.equal(selectPacks(new Map(), { kind: 'percent', percent: 50 }).size, 0);
    let total = 0;
    for (const s of packs.values()) total += s;
    assert.equal(selectPacks(packs, { kind: 'size', bytes: Math.ceil(total / 2) }).size, 128);
    assert.equal(selectPacks(packs, { kind: 'size', bytes: total * 10 }).size, 256);
    const a = [...selectPacks(packs, { kind: 'percent', percent: 10 }, () => 0).keys()];
    const b = [...selectPacks(packs, { kind: 'percent', percent: 10 }, () => 0.999).keys()];
    assert.notDeepEqual(a, b);
  });
});

describe('checkRepository on repositories restic wrote', { skip: haveRestic ? false : noRestic }, () => {
  let dir: string;
  let base: string;
  let pw: string;
  let snapshots: string[];
  let copies = 0;

  before(async () => {
    dir = await makeTempDir('checker');
    base = path.join(dir, 'base');
    pw = await writePasswordFile(dir, password);
    const src = path.join(dir, 'src');
    await mkdir(path.join(src, 'docs', 'deep'), { recursive: true });
    await writeFile(path.join(src, 'random.bin'), randomBytes(3_000_000));
    await writeFile(path.join(src, 'docs', 'deep', 'small.txt'), 'hello\n');
    await writeFile(
      path.join(src, 'docs', 'lines.txt'),
      Array.from({ length: 50_000 }, (_, i) => `${i}\n`).join(''),
    );
    await resticInit(base, pw);
    snapshots = [await resticBackup(base, pw, ['src'], { cwd: dir })];
    // A second and third backup add their own packs, so subsets have something to choose from.
    await writeFile(path.join(src, 'second.bin'), randomBytes(200_000));
    snapshots.push(await resticBackup(base, pw, ['src'], { cwd: dir }));
    await writeFile(path.join(src, 'third.bin'), randomBytes(100_000));
    snapshots.push(await resticBackup(base, pw, ['src'], { cwd: dir }));
  });
  after(async () => {
    if (dir) await removeTree(dir);
  });

  /** A writable copy of the pristine repository. */
  async function copy(): Promise<string> {
    const to = path.join(dir, `copy-${++copies}`);
    await cp(base, to, { recursive: true });
    await runOk('chmod', ['-R', 'u+w', to]);
    return to;
  }

  let pristine: Repository | undefined;
  /** Opens a copy with the master key of the pristine repository (deriving it takes restic's 0.5 s). */
  async function openRepo(at: string): Promise<Repository> {
    pristine ??= await Repository.open(new LocalBackend(base), password);
    return Repository.fromParts(new LocalBackend(at), pristine.key, pristine.keyId, pristine.config);
  }

  async function check(at: string, opts: CheckOptions = {}): Promise<CheckResult> {
    const repo = await openRepo(at);
    try {
      return await checkRepository(repo, opts);
    } finally {
      await repo.backend.close();
    }
  }

  /** Packs of one blob type (from the index), with their blobs. */
  async function packsOf(
    at: string,
    type: 'data' | 'tree',
  ): Promise<Map<Id, { offset: number; length: number; id: Id }[]>> {
    const repo = await openRepo(at);
    await repo.loadIndex();
    const out = new Map<Id, { offset: number; length: number; id: Id }[]>();
    for (const [pack, blobs] of repo.index.packs()) if (blobs[0]?.type === type) out.set(pack, [...blobs]);
    return out;
  }

  const packFile = (at: string, pack: Id): string => path.join(at, 'data', pack.slice(0, 2), pack);
  const kinds = (r: CheckResult): string[] => [...new Set(r.errors.map((e) => e.kind))].sort();

  async function flipByte(file: string, offset: number): Promise<void> {
    const buf = await readFile(file);
    buf[offset]! ^= 0x01;
    await writeFile(file, buf);
  }

  /** The largest data pack and the blob that covers `offset` in it. */
  async function bigDataPack(at: string): Promise<{ pack: Id; blobAt: (offset: number) => Id }> {
    const packs = [...(await packsOf(at, 'data'))].sort(
      (a, b) => b[1].reduce((s, x) => s + x.length, 0) - a[1].reduce((s, x) => s + x.length, 0),
    );
    const [pack, blobs] = packs[0]!;
    return {
      pack,
      blobAt: (offset) => blobs.find((b) => b.offset <= offset && offset < b.offset + b.length)!.id,
    };
  }

  test('a clean repository passes, and every blob of every pack is read', async () => {
    const events: CheckEvent[] = [];
    const r = await check(base, {
      readData: { kind: 'all' },
      decodeThreads: 0,
      onEvent: (e) => events.push(e),
    });
    assert.deepEqual(r.errors, []);
    assert.equal(r.ok, true);
    assert.equal(r.snapshots, 3);
    assert.equal(r.indexFiles, 3);
    assert.equal(r.packsChecked, r.packs);
    const repo = await openRepo(base);
    await repo.loadIndex();
    assert.equal(r.blobsChecked, repo.index.blobCount);
    assert.equal(r.trees, [...repo.index.blobIds()].filter((id) => repo.index.has(id, 'tree')).length);
    const phases = events.filter((e) => e.type === 'phase').map((e) => e.phase);
    assert.deepEqual(phases, ['index', 'packs', 'structure', 'read']);
    const last = events.filter((e) => e.type === 'progress' && e.phase === 'read').pop();
    assert.deepEqual(last && last.type === 'progress' && [last.done, last.bytesDone], [r.packs, r.bytesRead]);
  });

  test('verifying on worker threads finds the same as on the calling thread', async () => {
    const at = await copy();
    const { pack } = await bigDataPack(at);
    await flipByte(packFile(at, pack), 100);
    const inline = await check(at, { readData: { kind: 'all' }, decodeThreads: 0 });
    const pooled = await check(at, { readData: { kind: 'all' }, decodeThreads: 2, readConcurrency: 3 });
    const strip = (r: CheckResult) => ({ ...r, durationMs: 0 });
    assert.deepEqual(strip(pooled), strip(inline));
    assert.equal(pooled.ok, false);
  });

  test('packs are read while the trees are walked, yet structure findings come first, as in restic', async () => {
    const at = await copy();
    const { pack } = await bigDataPack(at);
    await flipByte(packFile(at, pack), 100);
    const [treePack] = [...(await packsOf(at, 'tree')).keys()];
    await flipByte(packFile(at, treePack!), 40);
    const events: CheckEvent[] = [];
    const r = await check(at, { readData: { kind: 'all' }, onEvent: (e) => events.push(e) });
    const read = events.findIndex((e) => e.type === 'phase' && e.phase === 'read');
    const errorsAt = (p: Id) =>
      events.flatMap((e, i) => (e.type === 'error' && e.finding.pack === p ? [i] : []));
    assert.ok(read > 0);
    assert.ok(
      events.slice(0, read).some((e) => e.type === 'error'),
      'the damaged tree is a structure error',
    );
    assert.ok(errorsAt(pack).length > 0 && errorsAt(pack).every((i) => i > read));
    // The result lists errors in the order they were reported.
    assert.deepEqual(
      r.errors,
      events.flatMap((e) => (e.type === 'error' ? [e.finding] : [])),
    );
  });

  test('a flipped byte inside a data blob names the pack and the blob', async () => {
    const at = await copy();
    const { pack, blobAt } = await bigDataPack(at);
    await flipByte(packFile(at, pack), 100);
    const structural = await check(at);
    assert.equal(structural.ok, true, 'without reading data, the damage cannot be seen (as in restic)');
    const r = await check(at, { readData: { kind: 'all' } });
    assert.deepEqual(kinds(r), ['blob-damaged', 'pack-hash']);
    const damaged = r.errors.find((e) => e.kind === 'blob-damaged')!;
    assert.equal(damaged.pack, pack);
    assert.equal(damaged.blob, blobAt(100));
    assert.match(damaged.message, /MAC/);
  });

  test('a flipped byte in a pack header', async () => {
    const at = await copy();
    const { pack } = await bigDataPack(at);
    const file = packFile(at, pack);
    const size = (await readFile(file)).length;
    await flipByte(file, size - 20);
    const r = await check(at, { readData: { kind: 'all' } });
    assert.deepEqual(kinds(r), ['pack-hash', 'pack-header']);
    assert.ok(r.errors.every((e) => e.pack === pack));
  });

  test('a truncated pack has the wrong size, and reading it says what is gone', async () => {
    const at = await copy();
    const { pack } = await bigDataPack(at);
    await truncate(packFile(at, pack), 2_000_000);
    const r = await check(at);
    assert.deepEqual(kinds(r), ['pack-size']);
    assert.match(r.errors[0]!.message, /file is 2000000 bytes, the index implies \d+/);
    const read = await check(at, { readData: { kind: 'all' } });
    assert.ok(kinds(read).includes('pack-hash'));
    assert.ok(read.errors.some((e) => e.kind === 'blob-damaged' && /beyond the end/.test(e.message)));
  });

  test('a missing data pack is named; reading data does not report it twice', async () => {
    const at = await copy();
    const { pack } = await bigDataPack(at);
    await rm(packFile(at, pack));
    const r = await check(at, { readData: { kind: 'all' } });
    assert.deepEqual(
      r.errors.map((e) => [e.kind, e.pack, e.message]),
      [['pack-missing', pack, `pack ${pack.slice(0, 8)}: listed in index but missing`]],
    );
    assert.equal(r.packsChecked, r.packs - 1);
  });

  test('a missing tree pack makes the trees in it unreadable', async () => {
    const at = await copy();
    const treePacks = await packsOf(at, 'tree');
    for (const pack of treePacks.keys()) await rm(packFile(at, pack));
    const r = await check(at);
    assert.deepEqual(kinds(r), ['pack-missing', 'tree-damaged']);
    const tree = r.errors.find((e) => e.kind === 'tree-damaged')!;
    assert.ok(snapshots.includes(tree.snapshot!));
    assert.equal(tree.path, '/');
    assert.equal(r.hints.length, 0, 'no unused-blob hint when trees could not be read');
  });

  test('without an index, every pack is unreferenced (a hint) and the trees are missing (an error)', async () => {
    const at = await copy();
    for (const f of await readdir(path.join(at, 'index'))) await rm(path.join(at, 'index', f));
    const r = await check(at, { readData: { kind: 'all' } });
    assert.deepEqual(kinds(r), ['tree-missing']);
    assert.equal(r.errors.length, 3, 'one root tree per snapshot');
    assert.deepEqual(new Set(r.errors.map((e) => e.snapshot)), new Set(snapshots));
    assert.ok(r.hints.length > 0);
    assert.ok(r.hints.every((h) => h.kind === 'pack-unreferenced' && h.pack !== undefined));
    assert.equal(r.packsChecked, 0);
  });

  test('a damaged index file is named and stops the other checks, as in restic', async () => {
    const at = await copy();
    const [index] = (await readdir(path.join(at, 'index'))).sort();
    await flipByte(path.join(at, 'index', index!), 50);
    const r = await check(at, { readData: { kind: 'all' } });
    assert.deepEqual(
      r.errors.map((e) => [e.kind, e.index]),
      [['index-damaged', index]],
    );
    assert.match(r.errors[0]!.message, new RegExp(index!.slice(0, 8)));
    assert.ok(r.skipped);
    assert.equal(r.packsChecked, 0);
  });

  test('a damaged snapshot file is named', async () => {
    const at = await copy();
    await flipByte(path.join(at, 'snapshots', snapshots[1]!), 40);
    const r = await check(at);
    assert.deepEqual(
      r.errors.map((e) => [e.kind, e.snapshot]),
      [['snapshot-damaged', snapshots[1]]],
    );
    assert.equal(r.snapshots, 2);
  });

  test('blobs no snapshot uses are a hint, not an error', async () => {
    const at = await copy();
    await restic(['forget', snapshots[2]!], { repo: at, passwordFile: pw });
    const r = await check(at);
    assert.equal(r.ok, true);
    assert.deepEqual(
      r.hints.map((h) => h.kind),
      ['blobs-unused'],
    );
    assert.ok(r.hints[0]!.count! >= 2, 'at least the third snapshot’s new file and its root tree');
  });

  test('--read-data-subset n/t reads the packs of group n, and the groups cover all packs', async () => {
    let read = 0;
    for (let n = 1; n <= 3; n++) {
      const r = await check(base, { readData: { kind: 'bucket', n, t: 3 } });
      assert.equal(r.ok, true);
      assert.equal(r.packsChecked, r.readData!.packsSelected);
      read += r.packsChecked;
    }
    const all = await check(base);
    assert.equal(read, all.packs);
  });
});
