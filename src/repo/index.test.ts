import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, describe, type TestContext, test } from 'node:test';
import { useCheapKey } from '../../test/support/cheap-key.js';
import { resticBackup, resticCat, resticInit, writePasswordFile } from '../../test/support/restic.js';
import { makeTempDir, removeTree, tempDir } from '../../test/support/tmp.js';
import { requireTool } from '../../test/support/tools.js';
import { LocalBackend } from '../backend/local.js';
import { ArcaError } from '../errors.js';
import { newConfig } from './config.js';
import { newRandomKey } from './crypto.js';
import { encodeIndexFile, type IndexFile, type IndexPack, MasterIndex, parseIndexFile } from './index.js';
import { headerLength, type PackedBlob, parseHeader } from './pack.js';
import { type LoadProblem, Repository } from './repository.js';

const idOf = (s: string): string => createHash('sha256').update(s).digest('hex');
const indexName = 'ee'.repeat(32);

function blob(
  name: string,
  type: 'data' | 'tree',
  offset: number,
  length: number,
  uncompressedLength = 0,
): PackedBlob {
  return { id: idOf(name), type, offset, length, uncompressedLength };
}

function isCorrupt(message?: RegExp): (err: unknown) => boolean {
  return (err) => {
    assert.ok(err instanceof ArcaError, `expected an ArcaError, got ${String(err)}`);
    assert.equal(err.code, 'corrupt', err.message);
    if (message) assert.match(err.message, message);
    return true;
  };
}

const samplePacks: IndexPack[] = [
  {
    id: idOf('pack 1'),
    blobs: [blob('x', 'data', 47, 43, 2), blob('y', 'data', 0, 47), blob('z', 'data', 90, 100_000, 250_000)],
  },
  { id: idOf('pack 2'), blobs: [blob('t', 'tree', 0, 300, 1000)] },
  { id: idOf('pack 3'), blobs: [] },
];

describe('index file encoding', () => {
  test('encodeIndexFile writes restic JSON (Go field order, omitempty, trailing newline) that parses back identically', () => {
    const enc = encodeIndexFile(samplePacks);
    assert.equal(enc.at(-1), 0x0a);
    const firstPack = samplePacks[0]!;
    const expectedStart =
      `{"packs":[{"id":"${firstPack.id}","blobs":[` +
      `{"id":"${idOf('x')}","type":"data","offset":47,"length":43,"uncompressed_length":2},` +
      `{"id":"${idOf('y')}","type":"data","offset":0,"length":47},`;
    assert.ok(enc.toString().startsWith(expectedStart), enc.toString().slice(0, 400));
    assert.ok(!enc.toString().includes('supersedes'));
    assert.deepEqual(parseIndexFile(enc, indexName, 2), { supersedes: [], packs: samplePacks });
  });

  test('parseIndexFile keeps supersedes and treats a missing uncompressed_length as 0', () => {
    const doc = {
      supersedes: [idOf('old index')],
      packs: [{ id: idOf('p'), blobs: [{ id: idOf('b'), type: 'tree', offset: 0, length: 5 }] }],
    };
    const parsed = parseIndexFile(Buffer.from(JSON.stringify(doc)), indexName, 2);
    assert.deepEqual(parsed, {
      supersedes: [idOf('old index')],
      packs: [{ id: idOf('p'), blobs: [blob('b', 'tree', 0, 5)] }],
    });
  });

  test('a v1 repository rejects uncompressed_length, a v2 repository accepts it', () => {
    const withCompression = encodeIndexFile(samplePacks);
    assert.throws(() => parseIndexFile(withCompression, indexName, 1), isCorrupt(/version 1/));
    assert.equal(parseIndexFile(withCompression, indexName, 2).packs.length, 3);
    const plainOnly = encodeIndexFile([{ id: idOf('p'), blobs: [blob('y', 'data', 0, 47)] }]);
    assert.equal(parseIndexFile(plainOnly, indexName, 1).packs[0]!.blobs[0]!.uncompressedLength, 0);
    const explicitZero = Buffer.from(
      JSON.stringify({
        packs: [
          {
            id: idOf('p'),
            blobs: [{ id: idOf('y'), type: 'data', offset: 0, length: 47, uncompressed_length: 0 }],
          },
        ],
      }),
    );
    assert.equal(parseIndexFile(explicitZero, indexName, 1).packs.length, 1);
  });

  test('malformed index files are corrupt', () => {
    const good = { id: idOf('b'), type: 'data', offset: 0, length: 10 };
    const pack = (blobs: unknown[], id: unknown = idOf('p')) => ({ packs: [{ id, blobs }] });
    const bad: [string, unknown][] = [
      ['not JSON', '{"packs":['],
      ['no pack list', {}],
      ['null', null],
      ['packs not an array', { packs: {} }],
      ['short pack id', pack([good], 'abcd')],
      ['upper-case pack id', pack([good], idOf('p').toUpperCase())],
      ['pack without blobs', { packs: [{ id: idOf('p') }] }],
      ['null pack', { packs: [null] }],
      ['unknown blob type', pack([{ ...good, type: 'chunk' }])],
      ['bad blob id', pack([{ ...good, id: 'xyz' }])],
      ['negative offset', pack([{ ...good, offset: -1 }])],
      ['fractional length', pack([{ ...good, length: 1.5 }])],
      ['string offset', pack([{ ...good, offset: '0' }])],
      ['null blob', pack([null])],
      ['negative uncompressed_length', pack([{ ...good, uncompressed_length: -5 }])],
      ['string uncompressed_length', pack([{ ...good, uncompressed_length: '20' }])],
      ['uncompressed_length beyond 32 bits', pack([{ ...good, uncompressed_length: 2 ** 32 }])],
    ];
    for (const [what, doc] of bad) {
      const raw = Buffer.from(typeof doc === 'string' ? doc : JSON.stringify(doc));
      assert.throws(() => parseIndexFile(raw, indexName, 2), isCorrupt(/^index eeeeeeee /), what);
    }
  });
});

describe('MasterIndex', () => {
  test('the same blob in two packs keeps both locations', () => {
    const mi = new MasterIndex();
    mi.addPack(idOf('p1'), [blob('a', 'data', 0, 10), blob('b', 'data', 10, 20)]);
    mi.addPack(idOf('p2'), [blob('a', 'data', 100, 11, 30)]);
    mi.addPack(idOf('p3'), [blob('a', 'data', 5, 12)]);
    assert.deepEqual(mi.lookupAll(idOf('a')), [
      { ...blob('a', 'data', 0, 10), packId: idOf('p1') },
      { ...blob('a', 'data', 100, 11, 30), packId: idOf('p2') },
      { ...blob('a', 'data', 5, 12), packId: idOf('p3') },
    ]);
    assert.deepEqual(mi.lookup(idOf('a')), { ...blob('a', 'data', 0, 10), packId: idOf('p1') });
    assert.equal(mi.blobCount, 2);
    assert.deepEqual([...mi.blobIds()].sort(), [idOf('a'), idOf('b')].sort());
    assert.deepEqual(mi.lookupAll(idOf('missing')), []);
    assert.equal(mi.lookup(idOf('missing')), undefined);
  });

  test('adding the same index twice (overlapping index files) does not duplicate anything', () => {
    const mi = new MasterIndex();
    const file: IndexFile = { supersedes: [], packs: samplePacks };
    mi.addFile(file);
    mi.addFile(file);
    mi.addFile({ supersedes: [], packs: [samplePacks[0]!] });
    assert.equal(mi.blobCount, 4);
    for (const p of samplePacks) {
      assert.deepEqual(
        mi.packs().get(p.id),
        p.blobs.map((b) => ({ ...b, packId: p.id })),
      );
      for (const b of p.blobs) assert.equal(mi.lookupAll(b.id).length, 1);
    }
    assert.equal(mi.packs().size, 3, 'an empty pack is still known');
  });

  test('lookup and has filter by blob type', () => {
    const mi = new MasterIndex();
    mi.addPack(idOf('data pack'), [blob('same', 'data', 0, 10)]);
    mi.addPack(idOf('tree pack'), [blob('same', 'tree', 0, 10)]);
    mi.addPack(idOf('tree pack 2'), [blob('only tree', 'tree', 0, 10)]);
    assert.equal(mi.lookup(idOf('same'), 'tree')?.packId, idOf('tree pack'));
    assert.equal(mi.lookup(idOf('same'), 'data')?.packId, idOf('data pack'));
    assert.equal(mi.has(idOf('only tree'), 'tree'), true);
    assert.equal(mi.has(idOf('only tree'), 'data'), false);
    assert.equal(mi.lookup(idOf('only tree'), 'data'), undefined);
    assert.equal(mi.has(idOf('only tree')), true);
  });
});

describe('Repository.loadIndex', () => {
  async function newRepo(t: TestContext, version: 1 | 2): Promise<Repository> {
    const backend = new LocalBackend(await tempDir(t, `index-v${version}`));
    await backend.create();
    return Repository.fromParts(backend, newRandomKey(), idOf('key'), newConfig('3da3358b4dc173', version));
  }

  /** An index file's JSON as restic writes it, optionally with the old `supersedes` field. */
  function indexDoc(packs: IndexPack[], supersedes?: string[]): unknown {
    const doc = JSON.parse(encodeIndexFile(packs).toString()) as object;
    return supersedes ? { supersedes, ...doc } : doc;
  }

  test('an index named in another index’s supersedes is ignored', async (t) => {
    const repo = await newRepo(t, 2);
    const a = await repo.saveJsonUnpacked(
      'index',
      indexDoc([{ id: idOf('P1'), blobs: [blob('X', 'data', 0, 50)] }]),
    );
    await repo.saveJsonUnpacked(
      'index',
      indexDoc([{ id: idOf('P2'), blobs: [blob('Y', 'data', 0, 60)] }], [a]),
    );
    await repo.saveJsonUnpacked(
      'index',
      indexDoc([{ id: idOf('P3'), blobs: [blob('Z', 'tree', 0, 70, 200)] }]),
    );
    await repo.loadIndex();
    assert.equal(repo.index.has(idOf('X')), false, 'the superseded index is not used');
    assert.equal(repo.index.lookup(idOf('Y'))?.packId, idOf('P2'));
    assert.equal(repo.index.lookup(idOf('Z'), 'tree')?.uncompressedLength, 200);
    assert.deepEqual([...repo.index.packs().keys()].sort(), [idOf('P2'), idOf('P3')].sort());
  });

  test('duplicates across index files are merged; a damaged file is reported through onProblem', async (t) => {
    const repo = await newRepo(t, 2);
    await repo.saveJsonUnpacked('index', indexDoc([{ id: idOf('P1'), blobs: [blob('X', 'data', 0, 50)] }]));
    await repo.saveJsonUnpacked(
      'index',
      indexDoc([
        { id: idOf('P1'), blobs: [blob('X', 'data', 0, 50)] },
        { id: idOf('P2'), blobs: [blob('X', 'data', 10, 50)] },
      ]),
    );
    const damaged = idOf('not an index');
    await repo.backend.save({ type: 'index', name: damaged }, Buffer.alloc(100, 1));
    const problems: LoadProblem[] = [];
    await repo.loadIndex((p) => problems.push(p));
    const locations = repo.index.lookupAll(idOf('X')).map((l) => `${l.packId}@${l.offset}`);
    assert.deepEqual(locations.sort(), [`${idOf('P1')}@0`, `${idOf('P2')}@10`].sort());
    assert.equal(problems.length, 1);
    assert.equal(problems[0]!.what, `index ${damaged.slice(0, 8)}`);
    assert.ok(problems[0]!.error instanceof ArcaError && problems[0]!.error.code === 'corrupt');
  });

  test('without onProblem a damaged index file fails the load', async (t) => {
    const repo = await newRepo(t, 2);
    await repo.saveJsonUnpacked('index', { packs: 'nope' });
    await assert.rejects(() => repo.loadIndex(), isCorrupt(/has no pack list/));
  });

  test('a v1 repository rejects an index that uses uncompressed_length', async (t) => {
    const repo = await newRepo(t, 1);
    await repo.saveJsonUnpacked(
      'index',
      indexDoc([{ id: idOf('P'), blobs: [blob('c', 'data', 0, 50, 80)] }]),
    );
    await assert.rejects(() => repo.loadIndex(), isCorrupt(/repository version 1 does not support/));
  });
});

interface ResticRepo {
  dir: string;
  repo: string;
  passwordFile: string;
}

const fixtures = new Map<1 | 2, Promise<ResticRepo>>();
after(async () => {
  for (const f of fixtures.values()) {
    const r = await f.catch(() => undefined);
    if (r) await removeTree(r.dir);
  }
});

/** A restic repository of the given format version with two backups, so two index files. */
function resticRepo(version: 1 | 2): Promise<ResticRepo> {
  let f = fixtures.get(version);
  if (!f) {
    f = (async () => {
      const dir = await makeTempDir(`index-restic-v${version}`);
      const repo = path.join(dir, 'repo');
      const passwordFile = await writePasswordFile(dir, 'index test');
      await resticInit(repo, passwordFile, { repositoryVersion: version });
      await useCheapKey(repo, 'index test');
      await mkdir(path.join(dir, 'src', 'sub'), { recursive: true });
      await writeFile(path.join(dir, 'src', 'a'), 'first file\n');
      await writeFile(path.join(dir, 'src', 'sub', 'b'), 'second file\n'.repeat(1000));
      await resticBackup(repo, passwordFile, ['src'], { cwd: dir });
      await writeFile(path.join(dir, 'src', 'c'), 'third file, second backup\n');
      await resticBackup(repo, passwordFile, ['src'], { cwd: dir });
      return { dir, repo, passwordFile };
    })();
    fixtures.set(version, f);
  }
  return f;
}

describe('index files written by restic', { concurrency: true }, () => {
  for (const version of [2, 1] as const) {
    test(`v${version}: parseIndexFile agrees with restic cat index, with the pack headers, and re-encodes byte-exactly`, async (t) => {
      if (!requireTool(t, 'restic', 'restic')) return;
      const r = await resticRepo(version);
      const repo = await Repository.open(new LocalBackend(r.repo), 'index test');
      assert.equal(repo.version, version);
      const ids = await repo.listIds('index');
      assert.equal(ids.length, 2);
      let blobs = 0;
      let compressed = 0;
      for (const id of ids) {
        const plain = await repo.loadUnpacked('index', id);
        const shown = await resticCat(r.repo, r.passwordFile, 'index', id);
        assert.deepEqual(JSON.parse(plain.toString()), JSON.parse(shown.toString()));
        const parsed = parseIndexFile(plain, id, version);
        assert.deepEqual(parsed.supersedes, []);
        assert.deepEqual(encodeIndexFile(parsed.packs).toString(), plain.toString(), 'Go-identical encoding');

        for (const p of parsed.packs) {
          const data = await repo.backend.load({ type: 'data', name: p.id });
          const hlen = headerLength(data, data.length, p.id);
          const header = parseHeader(
            repo.key,
            data.subarray(data.length - 4 - hlen, data.length - 4),
            data.length,
            p.id,
          );
          const byOffset = (x: PackedBlob, y: PackedBlob) => x.offset - y.offset;
          assert.deepEqual([...p.blobs].sort(byOffset), header.sort(byOffset), `pack ${p.id.slice(0, 8)}`);
          blobs += p.blobs.length;
          compressed += p.blobs.filter((b) => b.uncompressedLength > 0).length;
        }
      }
      assert.ok(blobs >= 6);
      if (version === 1) assert.equal(compressed, 0);
      else assert.equal(compressed, blobs, 'restic 0.14 compresses every blob by default in v2');

      await repo.loadIndex();
      assert.equal(repo.index.blobCount, blobs, 'the second backup only indexed new blobs');
    });
  }
});
