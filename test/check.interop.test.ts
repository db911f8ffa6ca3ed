/**
 * `arca check` against `restic check` on the same damaged repositories: for every kind of
 * damage both must agree on pass or fail, and arca must name what is damaged (pack, blob,
 * snapshot, index). Damage restic's own writer never makes (broken zstd streams under a
 * valid MAC, bad nodes) is crafted with arca's repository layer and the master key.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { cp, mkdir, readdir, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { LocalBackend } from '../src/backend/local.js';
import { compress } from '../src/repo/compression.js';
import { seal } from '../src/repo/crypto.js';
import { hashId, type Id } from '../src/repo/id.js';
import { encodeIndexFile } from '../src/repo/index.js';
import { Packer } from '../src/repo/packer.js';
import { Repository } from '../src/repo/repository.js';
import { saveUnpacked } from '../src/repo/unpacked.js';
import { arca } from './support/arca.js';
import { type ResticResult, restic, resticBackup, resticInit, writePasswordFile } from './support/restic.js';
import { runOk } from './support/run.js';
import { makeTempDir, removeTree } from './support/tmp.js';
import { skipUnless } from './support/tools.js';

const skip = skipUnless('restic', 'restic');

const password = 'interop check';
const short = (id: Id): string => id.slice(0, 8);

/** Facts about the pristine repository that corruptions and expectations refer to. */
interface Layout {
  repo: Repository;
  snapshots: { id: Id; tree: Id }[];
  /** Data packs, biggest first, with their blobs. */
  dataPacks: { id: Id; blobs: { id: Id; offset: number; length: number }[] }[];
  treePackOf: (tree: Id) => Id;
  indexFiles: Id[];
}

/** One way to damage a copy of the repository, and what arca must name afterwards. */
interface Damage {
  name: string;
  /** Damages the repository at `at`; returns strings arca's output must contain. */
  apply: (at: string, l: Layout) => Promise<string[]>;
}

/** A node as it appears in a tree's JSON (only what these tests need). */
type NodeJson = Record<string, unknown>;

function fileNode(name: string, content: Id[] | null): NodeJson {
  return { name, type: 'file', mode: 0o644, mtime: '2024-01-02T03:04:05Z', uid: 0, gid: 0, size: 0, content };
}

/**
 * Adds to the repository at `at` a snapshot whose root tree has `nodes`, plus data blobs
 * (already sealed) in a pack of their own, and one index file for both packs.
 */
async function addSnapshot(
  l: Layout,
  at: string,
  nodes: NodeJson[],
  data: { id: Id; sealed: Buffer; uncompressedLength: number }[] = [],
): Promise<Id> {
  const backend = new LocalBackend(at);
  const { key, version } = l.repo;
  const tree = Buffer.from(`${JSON.stringify({ nodes })}\n`);
  const treeId = hashId(tree);
  const trees = new Packer('tree');
  trees.add(treeId, seal(key, compress(tree)), tree.length);
  const packs = [trees.finish(key)];
  if (data.length > 0) {
    const blobs = new Packer('data');
    for (const d of data) blobs.add(d.id, d.sealed, d.uncompressedLength);
    packs.push(blobs.finish(key));
  }
  for (const p of packs) await backend.save({ type: 'data', name: p.id }, p.data);
  await saveUnpacked(
    backend,
    key,
    version,
    'index',
    encodeIndexFile(packs.map((p) => ({ id: p.id, blobs: p.blobs }))),
  );
  const snapshot = {
    time: new Date().toISOString(),
    tree: treeId,
    paths: ['/crafted'],
    hostname: 'crafted',
    username: 'test',
  };
  return saveUnpacked(backend, key, version, 'snapshots', Buffer.from(JSON.stringify(snapshot)));
}

async function flipByte(file: string, offset: number): Promise<void> {
  const buf = await readFile(file);
  buf[offset]! ^= 0x01;
  await writeFile(file, buf);
}

const packFile = (at: string, pack: Id): string => path.join(at, 'data', pack.slice(0, 2), pack);

const damages: Damage[] = [
  { name: 'nothing (a clean repository)', apply: async () => ['no errors were found'] },
  {
    name: 'a flipped byte inside a data blob (MAC failure)',
    apply: async (at, l) => {
      const p = l.dataPacks[0]!;
      const blob = p.blobs.find((b) => b.offset <= 100 && 100 < b.offset + b.length)!;
      await flipByte(packFile(at, p.id), 100);
      return [short(p.id), short(blob.id), 'MAC'];
    },
  },
  {
    name: 'a truncated pack',
    apply: async (at, l) => {
      await truncate(packFile(at, l.dataPacks[0]!.id), 1_000_000);
      return [short(l.dataPacks[0]!.id), 'file is 1000000 bytes'];
    },
  },
  {
    name: 'a deleted data pack',
    apply: async (at, l) => {
      await rm(packFile(at, l.dataPacks[0]!.id));
      return [`pack ${short(l.dataPacks[0]!.id)}: listed in index but missing`];
    },
  },
  {
    name: 'a flipped byte in a pack header',
    apply: async (at, l) => {
      const file = packFile(at, l.dataPacks[0]!.id);
      await flipByte(file, (await readFile(file)).length - 10);
      return [`pack ${short(l.dataPacks[0]!.id)} header`];
    },
  },
  {
    name: 'deleted index files (every pack unreferenced)',
    apply: async (at, l) => {
      for (const f of l.indexFiles) await rm(path.join(at, 'index', f));
      return ['not referenced in any index', ...l.snapshots.map((s) => `snapshot ${short(s.id)}`)];
    },
  },
  {
    name: 'an unreferenced pack and nothing else',
    apply: async (at, l) => {
      // A pack no index lists, as an interrupted backup leaves it: restic says so and passes.
      const p = new Packer('data');
      const plain = randomBytes(5000);
      p.add(hashId(plain), seal(l.repo.key, compress(plain)), plain.length);
      const pack = p.finish(l.repo.key);
      await new LocalBackend(at).save({ type: 'data', name: pack.id }, pack.data);
      return [`pack ${short(pack.id)}: not referenced in any index`, 'no errors were found'];
    },
  },
  {
    name: 'a flipped byte in a snapshot file',
    apply: async (at, l) => {
      await flipByte(path.join(at, 'snapshots', l.snapshots[1]!.id), 60);
      return [`snapshot ${short(l.snapshots[1]!.id)}`];
    },
  },
  {
    name: 'a flipped byte in an index file',
    apply: async (at, l) => {
      await flipByte(path.join(at, 'index', l.indexFiles[0]!), 60);
      return [`index ${short(l.indexFiles[0]!)}`, 'skipped'];
    },
  },
  {
    name: 'a deleted tree pack (trees missing)',
    apply: async (at, l) => {
      const s = l.snapshots[0]!;
      const pack = l.treePackOf(s.tree);
      await rm(packFile(at, pack));
      return [`pack ${short(pack)}: listed in index but missing`, `snapshot ${short(s.id)}: dir /`];
    },
  },
  {
    name: 'a broken zstd stream under a valid MAC',
    apply: async (at, l) => {
      const plain = randomBytes(20_000);
      const z = compress(plain);
      z[0]! ^= 0xff; // the frame magic: no zstd decoder accepts this
      const id = hashId(plain);
      await addSnapshot(
        l,
        at,
        [fileNode('broken.bin', [id])],
        [{ id, sealed: seal(l.repo.key, z), uncompressedLength: plain.length }],
      );
      return [`data blob ${short(id)}`, 'zstd decompression failed'];
    },
  },
  {
    name: 'a blob whose plaintext does not match its ID (valid MAC)',
    apply: async (at, l) => {
      const plain = randomBytes(20_000);
      const id = hashId(Buffer.concat([plain, Buffer.from('x')]));
      await addSnapshot(
        l,
        at,
        [fileNode('wrong.bin', [id])],
        [{ id, sealed: seal(l.repo.key, compress(plain)), uncompressedLength: plain.length }],
      );
      return [`data blob ${short(id)}`, 'does not match its ID'];
    },
  },
  {
    name: 'a file node without a content list',
    apply: async (at, l) => {
      const snap = await addSnapshot(l, at, [fileNode('nocontent', null)]);
      return [`snapshot ${short(snap)}`, 'file /nocontent has no content list'];
    },
  },
  {
    name: 'a file whose data blob is not in the index',
    apply: async (at, l) => {
      const blob = hashId(Buffer.from('never stored'));
      const snap = await addSnapshot(l, at, [fileNode('lost', [blob])]);
      return [`snapshot ${short(snap)}`, `file /lost: data blob ${short(blob)} not found in index`];
    },
  },
  {
    name: 'a dir node without a subtree',
    apply: async (at, l) => {
      const snap = await addSnapshot(l, at, [
        { name: 'emptydir', type: 'dir', mode: 2147484141, content: null },
      ]);
      return [`snapshot ${short(snap)}`, 'dir /emptydir has no subtree'];
    },
  },
  {
    name: 'a node with an empty name',
    apply: async (at, l) => {
      const snap = await addSnapshot(l, at, [fileNode('', [])]);
      return [`snapshot ${short(snap)}`, 'empty name'];
    },
  },
  {
    name: 'a node with an invalid type',
    apply: async (at, l) => {
      const snap = await addSnapshot(l, at, [{ name: 'odd', type: 'bogus' }]);
      return [`snapshot ${short(snap)}`, 'odd'];
    },
  },
  {
    name: 'tree nodes out of order (a hint only)',
    apply: async (at, l) => {
      await addSnapshot(l, at, [fileNode('b', []), fileNode('a', [])]);
      return ['not sorted', 'no errors were found'];
    },
  },
];

describe('arca check agrees with restic check', { skip }, () => {
  let dir: string;
  let base: string;
  let pw: string;
  let layout: Layout;
  const cases = new Map<string, { at: string; expect: string[]; restic: ResticResult }>();

  before(async () => {
    dir = await makeTempDir('check-interop');
    base = path.join(dir, 'base');
    pw = await writePasswordFile(dir, password);
    const src = path.join(dir, 'src');
    await mkdir(path.join(src, 'docs', 'deep'), { recursive: true });
    await writeFile(path.join(src, 'random.bin'), randomBytes(2_000_000));
    await writeFile(path.join(src, 'docs', 'deep', 'small.txt'), 'hello\n');
    await writeFile(
      path.join(src, 'docs', 'lines.txt'),
      Array.from({ length: 30_000 }, (_, i) => `${i}\n`).join(''),
    );
    await resticInit(base, pw);
    await resticBackup(base, pw, ['src'], { cwd: dir });
    for (let i = 0; i < 3; i++) {
      await writeFile(path.join(src, `more-${i}.bin`), randomBytes(100_000));
      await resticBackup(base, pw, ['src'], { cwd: dir });
    }
    layout = await readLayout(base);

    // Damage every copy first, then let restic check them all at once: restic retries a
    // missing file for about a minute, so one after the other would take many minutes.
    for (const [i, d] of damages.entries()) {
      const at = path.join(dir, `case-${i}`);
      await cp(base, at, { recursive: true });
      await runOk('chmod', ['-R', 'u+w', at]);
      cases.set(d.name, { at, expect: await d.apply(at, layout), restic: undefined as never });
    }
    await Promise.all(
      [...cases.values()].map(async (c) => {
        c.restic = await restic(['check', '--read-data'], {
          repo: c.at,
          passwordFile: pw,
          allowFail: true,
          timeoutMs: 600_000,
        });
      }),
    );
  });
  after(async () => {
    if (dir) await removeTree(dir);
  });

  async function readLayout(at: string): Promise<Layout> {
    const repo = await Repository.open(new LocalBackend(at), password);
    await repo.loadIndex();
    const snapshots = (await repo.listSnapshots()).map((s) => ({ id: s.id, tree: s.tree }));
    const dataPacks = [...repo.index.packs()]
      .filter(([, blobs]) => blobs[0]?.type === 'data')
      .map(([id, blobs]) => ({ id, blobs: [...blobs], size: blobs.reduce((s, b) => s + b.length, 0) }))
      .sort((a, b) => b.size - a.size);
    return {
      repo,
      snapshots,
      dataPacks,
      treePackOf: (tree) => repo.index.lookup(tree, 'tree')!.packId,
      indexFiles: await repo.listIds('index'),
    };
  }

  const checkArgs = (at: string, ...more: string[]): string[] => ['-r', at, '--password-file', pw, ...more];

  for (const d of damages) {
    test(`${d.name}: same verdict as restic, and arca names the damage`, async () => {
      const c = cases.get(d.name)!;
      const r = await arca(checkArgs(c.at, 'check', '--read-data'));
      const said = r.out + r.err;
      assert.ok(r.code === 0 || r.code === 1, `exit ${r.code}: ${said}`);
      assert.equal(
        r.code === 0,
        c.restic.code === 0,
        `arca exit ${r.code}, restic exit ${c.restic.code}\narca:\n${said}\nrestic:\n${c.restic.stdout}${c.restic.stderr}`,
      );
      for (const s of c.expect)
        assert.ok(said.includes(s), `arca did not say ${JSON.stringify(s)}:\n${said}`);
      assert.ok(!said.includes('internal error'), said);
    });
  }

  test('--json prints one summary object with the errors and what was read', async () => {
    const c = cases.get(damages[1]!.name)!;
    const r = await arca(checkArgs(c.at, '--json', 'check', '--read-data'));
    assert.equal(r.code, 1);
    const lines = r.out.trim().split('\n');
    assert.equal(lines.length, 1, r.out);
    const j = JSON.parse(lines[0]!) as {
      ok: boolean;
      errors: { kind: string; message: string; pack?: string; blob?: string }[];
      hints: unknown[];
      packs_checked: number;
      blobs_checked: number;
    };
    assert.equal(j.ok, false);
    const pack = layout.dataPacks[0]!.id;
    assert.ok(j.errors.some((e) => e.kind === 'pack-hash' && e.pack === pack));
    assert.ok(j.errors.some((e) => e.kind === 'blob-damaged' && e.pack === pack && e.blob !== undefined));
    assert.equal(j.packs_checked, layout.repo.index.packs().size);
    assert.equal(j.blobs_checked, layout.repo.index.blobCount);
  });

  test('--read-data-subset 1/3 reads the packs restic reads', async () => {
    const group = /read group #1 of (\d+) data packs \(out of total (\d+) packs in 3 groups\)/;
    const theirs = await restic(['check', '--read-data-subset', '1/3'], {
      repo: base,
      passwordFile: pw,
      allowFail: true,
    });
    const ours = await arca(checkArgs(base, 'check', '--read-data-subset', '1/3'));
    assert.equal(theirs.code, 0, theirs.stderr);
    assert.equal(ours.code, 0, ours.err);
    const want = group.exec(theirs.stdout);
    const got = group.exec(ours.out);
    assert.ok(want && got, `${theirs.stdout}\n${ours.out}`);
    assert.deepEqual(got.slice(1), want.slice(1));
    const json = await arca(checkArgs(base, '--json', 'check', '--read-data-subset', '1/3'));
    const j = JSON.parse(json.out) as { packs_checked: number };
    assert.equal(j.packs_checked, Number(want[1]));
    const expected = [...layout.repo.index.packs().keys()].filter(
      (id) => Number.parseInt(id.slice(0, 2), 16) % 3 === 0,
    );
    assert.equal(j.packs_checked, expected.length);
  });

  test('bad arguments, a wrong password and a missing repository have their exit codes', async () => {
    const wrong = await writePasswordFile(await mkdirIn(dir, 'wrongpw'), 'not the password');
    assert.equal((await arca(['-r', base, '--password-file', wrong, 'check'])).code, 12);
    assert.equal((await arca(checkArgs(path.join(dir, 'nothing-here'), 'check'))).code, 10);
    assert.equal((await arca(checkArgs(base, 'check', '--read-data-subset', '4/3'))).code, 2);
    assert.equal((await arca(checkArgs(base, 'check', '--read-data', '--read-data-subset', '1/3'))).code, 2);
  });

  test('takes an exclusive lock, as restic 0.14 does, and releases it', async () => {
    const shared = await layout.repo.lock(false);
    try {
      const r = await arca(checkArgs(base, 'check'));
      assert.equal(r.code, 11, `a shared lock must keep check out: ${r.err}`);
    } finally {
      await shared.release();
    }
    const r = await arca(checkArgs(base, 'check'));
    assert.equal(r.code, 0, r.err);
    assert.deepEqual(await readdir(path.join(base, 'locks')), []);
    assert.ok(!/\r|\[#/.test(r.err), 'no progress bar when not on a terminal');
  });
});

async function mkdirIn(parent: string, name: string): Promise<string> {
  const d = path.join(parent, name);
  await mkdir(d, { recursive: true });
  return d;
}
