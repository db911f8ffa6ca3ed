import assert from 'node:assert/strict';
import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { describe, test } from 'node:test';
import { cheapKdf } from '../../test/support/cheap-key.js';
import { tempDir } from '../../test/support/tmp.js';
import { LocalBackend } from '../backend/local.js';
import { encodeBlob, inlineEncoder } from '../repo/blob_codec.js';
import { BlobSaver } from '../repo/blob_saver.js';
import { hashId, type Id } from '../repo/id.js';
import { initRepository } from '../repo/init.js';
import { type BlobType, expectedPackSize, type PackedBlob } from '../repo/pack.js';
import { Packer } from '../repo/packer.js';
import { Repository } from '../repo/repository.js';
import { encodeTree, type Node } from '../repo/tree.js';
import { removeSnapshots } from './forget.js';
import { maxUnusedBytes, type PruneInput, parseMaxUnused, parseSize, planPrune, prune } from './prune.js';
import { blobKey } from './repack.js';

describe('prune options', () => {
  test('--max-unused accepts what restic 0.14 accepts', () => {
    assert.deepEqual(parseMaxUnused('5%'), { kind: 'percent', percent: 5 });
    assert.deepEqual(parseMaxUnused(' 2.5% '), { kind: 'percent', percent: 2.5 });
    assert.deepEqual(parseMaxUnused('0%'), { kind: 'percent', percent: 0 });
    assert.deepEqual(parseMaxUnused('unlimited'), { kind: 'unlimited' });
    assert.deepEqual(parseMaxUnused('10M'), { kind: 'bytes', bytes: 10 * 1024 ** 2 });
    assert.deepEqual(parseMaxUnused('0'), { kind: 'bytes', bytes: 0 });
    for (const bad of ['', '  ', '100%', '150%', '-1%', 'x%', '%', '5X', '-5', '1.5M']) {
      assert.throws(() => parseMaxUnused(bad), { name: 'ArcaError', code: 'usage' }, bad);
    }
  });

  test('sizes take binary suffixes', () => {
    assert.equal(parseSize('100', 'x'), 100);
    assert.equal(parseSize('100b', 'x'), 100);
    assert.equal(parseSize('3k', 'x'), 3072);
    assert.equal(parseSize('2G', 'x'), 2 * 1024 ** 3);
    assert.equal(parseSize('1t', 'x'), 1024 ** 4);
    assert.throws(() => parseSize('1.5k', 'x'), { code: 'usage' });
  });

  test('a percentage p of the repository is p/(100-p) of the used part, truncated', () => {
    assert.equal(maxUnusedBytes({ kind: 'percent', percent: 5 }, 950), 50);
    assert.equal(maxUnusedBytes({ kind: 'percent', percent: 50 }, 1001), 1001);
    assert.equal(maxUnusedBytes({ kind: 'percent', percent: 5 }, 100), 5);
    assert.equal(maxUnusedBytes({ kind: 'bytes', bytes: 7 }, 1e9), 7);
    assert.equal(maxUnusedBytes({ kind: 'unlimited' }, 1), Number.POSITIVE_INFINITY);
  });
});

let serial = 0;
/** A blob of `length` stored bytes (compressed unless told otherwise); offsets are set by {@link pack}. */
function blob(type: BlobType, length: number, compressed = true): PackedBlob {
  return {
    id: hashId(Buffer.from(`blob ${serial++}`)),
    type,
    offset: 0,
    length,
    uncompressedLength: compressed ? length * 2 : 0,
  };
}

/** A pack with a fresh ID holding `blobs` in order. */
function pack(...blobs: PackedBlob[]): [Id, PackedBlob[]] {
  let offset = 0;
  const placed = blobs.map((b) => {
    const p = { ...b, offset };
    offset += b.length;
    return p;
  });
  return [hashId(Buffer.from(`pack ${serial++}`)), placed];
}

/** Planning input: every pack is listed with its correct size unless `listed` says otherwise. */
function input(
  packs: [Id, PackedBlob[]][],
  used: PackedBlob[],
  extra: { listed?: Map<Id, number>; repoVersion?: number } = {},
): PruneInput {
  const listed = extra.listed ?? new Map(packs.map(([id, blobs]) => [id, expectedPackSize(blobs)]));
  return {
    index: new Map(packs),
    listed,
    used: new Set(used.map((b) => blobKey(b.type, b.id))),
    repoVersion: extra.repoVersion ?? 2,
  };
}

const big = 1024 * 1024;

describe('planPrune follows restic 0.14', () => {
  test('keeps fully used packs, deletes unused and unreferenced ones', () => {
    const a = blob('data', big);
    const b = blob('data', big);
    const t = blob('tree', 100);
    const used = pack(a);
    const unused = pack(b);
    const trees = pack(t);
    const listed = new Map([
      [used[0], expectedPackSize(used[1])],
      [unused[0], expectedPackSize(unused[1])],
      [trees[0], expectedPackSize(trees[1])],
      ['f'.repeat(64), 1234],
    ]);
    const plan = planPrune(input([used, unused, trees], [a, t], { listed }));
    assert.deepEqual([...plan.removePacks], [unused[0]]);
    assert.deepEqual([...plan.removePacksFirst], ['f'.repeat(64)]);
    assert.equal(plan.repackPacks.size, 0);
    assert.equal(plan.keepBlobs.size, 0);
    assert.deepEqual(plan.stats.blobs, {
      used: 2,
      duplicate: 0,
      unused: 1,
      remove: 1,
      repack: 0,
      repackrm: 0,
    });
    assert.equal(plan.stats.size.unref, 1234);
    assert.equal(plan.stats.size.remove, big);
    assert.deepEqual(plan.stats.packs, {
      used: 2,
      unused: 1,
      partlyUsed: 0,
      unref: 1,
      keep: 2,
      repack: 0,
      remove: 1,
    });
  });

  test('repacks a partly used data pack only while unused space exceeds --max-unused', () => {
    const keep1 = blob('data', 10 * big);
    const keep2 = blob('data', big);
    const gone = blob('data', big);
    const partly = pack(keep2, gone);
    const full = pack(keep1);
    const all = input([full, partly], [keep1, keep2]);
    const plan = planPrune(all, { maxUnused: { kind: 'percent', percent: 5 } });
    assert.deepEqual([...plan.repackPacks], [partly[0]]);
    assert.deepEqual([...plan.keepBlobs], [blobKey('data', keep2.id)]);
    assert.equal(plan.stats.blobs.repackrm, 1);
    assert.equal(plan.stats.size.repackrm, big);
    // 1 MiB unused of 11 MiB used is below 10%: nothing to do.
    const tolerant = planPrune(all, { maxUnused: { kind: 'percent', percent: 10 } });
    assert.equal(tolerant.repackPacks.size, 0);
    assert.equal(tolerant.stats.packs.keep, 2);
    assert.equal(planPrune(all, { maxUnused: { kind: 'unlimited' } }).repackPacks.size, 0);
    assert.equal(planPrune(all, { maxUnused: { kind: 'bytes', bytes: big } }).repackPacks.size, 1);
    assert.equal(planPrune(all, { maxUnused: { kind: 'bytes', bytes: big + 1 } }).repackPacks.size, 0);
    // --max-repack-size stops before the pack that would exceed it; cacheable-only keeps data packs.
    assert.equal(
      planPrune(all, { maxUnused: { kind: 'bytes', bytes: 0 }, maxRepackBytes: big }).repackPacks.size,
      0,
    );
    assert.equal(
      planPrune(all, { maxUnused: { kind: 'bytes', bytes: 0 }, repackCacheableOnly: true }).repackPacks.size,
      0,
    );
  });

  test('tree packs with unused blobs, mixed packs and uncompressed tree packs are always repacked', () => {
    const t1 = blob('tree', 1000);
    const t2 = blob('tree', 1000);
    const d1 = blob('data', 10 * big);
    const trees = pack(t1, t2);
    const mixed = pack(blob('tree', 500), d1);
    const plain = blob('tree', 700, false);
    const plainTrees = pack(plain);
    const packs = [trees, mixed, plainTrees];
    const plan = planPrune(input(packs, [t1, d1, plain]), { maxUnused: { kind: 'unlimited' } });
    assert.deepEqual([...plan.repackPacks].sort(), [trees[0], mixed[0], plainTrees[0]].sort());
    assert.equal(plan.stats.packs.used, 1);
    assert.equal(plan.stats.packs.partlyUsed, 2);
    // In a v1 repository nothing is compressed, so an uncompressed tree pack is fine.
    const v1 = planPrune(input(packs, [t1, d1, plain], { repoVersion: 1 }), {
      maxUnused: { kind: 'unlimited' },
    });
    assert.ok(!v1.repackPacks.has(plainTrees[0]));
    // --repack-uncompressed also compresses data packs.
    const raw = blob('data', big, false);
    const rawPack = pack(raw);
    assert.equal(planPrune(input([rawPack], [raw])).repackPacks.size, 0);
    assert.equal(planPrune(input([rawPack], [raw]), { repackUncompressed: true }).repackPacks.size, 1);
  });

  test('small fully used packs are repacked only when there are at least ten', () => {
    const few = Array.from({ length: 9 }, () => blob('data', 1000));
    const plan = planPrune(
      input(
        few.map((b) => pack(b)),
        few,
      ),
    );
    assert.equal(plan.repackPacks.size, 0);
    assert.equal(plan.stats.packs.keep, 9);
    const many = Array.from({ length: 10 }, () => blob('data', 1000));
    assert.equal(
      planPrune(
        input(
          many.map((b) => pack(b)),
          many,
        ),
      ).repackPacks.size,
      10,
    );
    // --repack-small raises the bar to 80% of the pack size.
    const mid = Array.from({ length: 10 }, () => blob('data', big));
    assert.equal(
      planPrune(
        input(
          mid.map((b) => pack(b)),
          mid,
        ),
      ).repackPacks.size,
      0,
    );
    assert.equal(
      planPrune(
        input(
          mid.map((b) => pack(b)),
          mid,
        ),
        { repackSmall: true },
      ).repackPacks.size,
      10,
    );
  });

  test('a blob stored twice counts once; the copy beside other used blobs is the used one', () => {
    const shared = blob('data', big);
    const other = blob('data', big);
    const alone = pack(shared);
    const together = pack(other, shared);
    const plan = planPrune(input([alone, together], [shared, other]), {
      maxUnused: { kind: 'bytes', bytes: 0 },
    });
    assert.equal(plan.stats.blobs.duplicate, 1);
    assert.equal(plan.stats.blobs.used, 2);
    // Whichever pack ID sorts first, the lone copy is the unused one and its pack goes.
    assert.deepEqual([...plan.removePacks], [alone[0]]);
    assert.equal(plan.repackPacks.size, 0);
  });

  test('blobs that a kept pack also holds are not copied when repacking', () => {
    const large = blob('data', 10 * big);
    const shared = blob('data', 1000);
    const tree = blob('tree', 100);
    // Kept: only a little is unused. Repacked: it mixes trees and data.
    const kept = pack(large, shared, blob('data', 1000));
    const mixed = pack(tree, { ...shared });
    const plan = planPrune(input([kept, mixed], [large, shared, tree]));
    assert.deepEqual([...plan.repackPacks], [mixed[0]]);
    assert.equal(plan.stats.packs.keep, 1);
    assert.deepEqual([...plan.keepBlobs], [blobKey('tree', tree.id)]);
  });

  test('refuses to prune when data is missing or sizes do not match', () => {
    const a = blob('data', 1000);
    const p = pack(a);
    const notIndexed = blob('data', 1000);
    assert.throws(() => planPrune(input([p], [a, notIndexed])), {
      code: 'corrupt',
      message: /1 blobs that snapshots reference are not in the index .*nothing was changed/,
    });
    assert.throws(() => planPrune(input([p], [a], { listed: new Map([[p[0], 999]]) })), {
      code: 'corrupt',
      message: /calculated size \d+ does not match real size 999/,
    });
    assert.throws(() => planPrune(input([p], [a], { listed: new Map() })), {
      code: 'corrupt',
      message: /references 1 needed pack files which are missing/,
    });
    // Unneeded packs may be missing or of the wrong size: they go either way.
    const u = pack(blob('data', 1000));
    const missing = planPrune(input([p, u], [a], { listed: new Map([[p[0], expectedPackSize(p[1])]]) }));
    assert.deepEqual([...missing.ignorePacks], [u[0]]);
    const wrongSize = planPrune(
      input([p, u], [a], {
        listed: new Map([
          [p[0], expectedPackSize(p[1])],
          [u[0], 5],
        ]),
      }),
    );
    assert.deepEqual([...wrongSize.removePacks], [u[0]]);
  });
});

const t0 = '2024-01-02T03:04:05Z';

function fileNode(name: string, content: Id[]): Node {
  return {
    name: Buffer.from(name),
    type: 'file',
    mode: 0o644,
    mtime: t0,
    atime: t0,
    ctime: t0,
    uid: 0,
    gid: 0,
    content,
  };
}

/** Stores a snapshot of one directory holding `files` (name → content); returns its ID. */
async function snapshotOf(repo: Repository, saver: BlobSaver, files: Record<string, string>): Promise<Id> {
  const nodes: Node[] = [];
  for (const [name, text] of Object.entries(files).sort()) {
    const data = Buffer.from(text);
    const id = hashId(data);
    await saver.save('data', id, new Uint8Array(data));
    nodes.push(fileNode(name, [id]));
  }
  const tree = encodeTree(nodes);
  const treeId = hashId(tree);
  await saver.save('tree', treeId, new Uint8Array(tree));
  await saver.flush();
  return repo.saveJsonUnpacked('snapshots', { time: t0, tree: treeId, paths: ['/x'], hostname: 'h' });
}

async function listing(root: string): Promise<string[]> {
  return (await readdir(root, { recursive: true })).sort();
}

/** Opens the repository afresh, as a new process would (nothing cached from before). */
async function reopen(root: string): Promise<Repository> {
  return Repository.open(new LocalBackend(root), 'pw');
}

describe('prune on a repository', () => {
  test('removes what forgotten snapshots used, repacks, and keeps every remaining snapshot readable', async (t) => {
    const root = path.join(await tempDir(t, 'prune-unit'), 'repo');
    const repo = await initRepository(new LocalBackend(root), 'pw', { kdf: cheapKdf });
    const saver = new BlobSaver(repo, { encoder: inlineEncoder(repo.key) });
    const first = await snapshotOf(repo, saver, { a: 'alpha '.repeat(1000), b: 'beta '.repeat(1000) });
    const second = await snapshotOf(repo, saver, { a: 'alpha '.repeat(1000), c: 'gamma '.repeat(1000) });
    const indexBefore = await repo.listIds('index');

    const before = await reopen(root);
    await removeSnapshots(before, [await before.loadSnapshot(first)]);
    const dry = await listing(root);
    const planned = await prune(await reopen(root), { dryRun: true });
    assert.deepEqual(await listing(root), dry, 'a dry run changes nothing');
    assert.ok(planned.plan.repackPacks.size > 0);

    const done = await prune(await reopen(root), { maxUnused: { kind: 'bytes', bytes: 0 } });
    assert.ok(done.packsWritten > 0);
    assert.equal(done.indexFilesDeleted, indexBefore.length + 1);
    const after = await reopen(root);
    const afterIndex = await after.listIds('index');
    assert.equal(afterIndex.filter((id) => indexBefore.includes(id)).length, 0, 'old index files are gone');
    const snap = await after.loadSnapshot(second);
    const nodes = await after.loadTree(snap.tree);
    for (const n of nodes) for (const id of n.content ?? []) await after.loadBlob(id, 'data');
    // Only the blobs of the remaining snapshot are left: its tree and two files.
    await after.loadIndex();
    assert.equal(after.index.blobCount, 3);
    const again = await prune(await reopen(root), { maxUnused: { kind: 'bytes', bytes: 0 } });
    assert.equal(
      again.plan.repackPacks.size + again.plan.removePacks.size,
      0,
      'a second prune has nothing to do',
    );
  });

  test('refuses, changing nothing, when a snapshot’s tree is missing', async (t) => {
    const root = path.join(await tempDir(t, 'prune-missing'), 'repo');
    const repo = await initRepository(new LocalBackend(root), 'pw', { kdf: cheapKdf });
    const saver = new BlobSaver(repo, { encoder: inlineEncoder(repo.key) });
    const gone = await snapshotOf(repo, saver, { a: 'old' });
    await snapshotOf(repo, saver, { b: 'new' });
    await removeSnapshots(repo, [await repo.loadSnapshot(gone)]);
    await repo.saveJsonUnpacked('snapshots', {
      time: t0,
      tree: hashId(Buffer.from('nothing')),
      paths: ['/y'],
    });
    const before = await listing(root);
    await assert.rejects(prune(await reopen(root)), {
      code: 'corrupt',
      message: /snapshot [0-9a-f]{8} cannot be read completely: tree [0-9a-f]{8}: .*nothing was changed/,
    });
    assert.deepEqual(await listing(root), before);
  });

  test('deletes pack files that no index names', async (t) => {
    const root = path.join(await tempDir(t, 'prune-unref'), 'repo');
    const repo = await initRepository(new LocalBackend(root), 'pw', { kdf: cheapKdf });
    const saver = new BlobSaver(repo, { encoder: inlineEncoder(repo.key) });
    await snapshotOf(repo, saver, { a: 'kept' });
    // A pack whose index was never written, as an interrupted backup leaves it.
    const lost = Buffer.from('lost');
    const packer = new Packer('data');
    packer.add(hashId(lost), encodeBlob(repo.key, lost, 'none').sealed, 0);
    const orphan = packer.finish(repo.key);
    await repo.backend.save({ type: 'data', name: orphan.id }, orphan.data);
    const packsBefore = await repo.listIds('data');
    assert.equal(packsBefore.length, 3);
    const result = await prune(await reopen(root));
    assert.equal(result.plan.stats.packs.unref, 1);
    assert.equal((await repo.listIds('data')).length, 2);
    assert.equal(result.indexFilesWritten, 0, 'the index needs no change');
  });
});
