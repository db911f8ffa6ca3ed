import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { existsSync, lstatSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { cheapKdf } from '../../test/support/cheap-key.js';
import { tempDir } from '../../test/support/tmp.js';
import { LocalBackend } from '../backend/local.js';
import { inlineEncoder } from '../repo/blob_codec.js';
import { BlobSaver } from '../repo/blob_saver.js';
import { hashId, type Id } from '../repo/id.js';
import { initRepository } from '../repo/init.js';
import type { Repository } from '../repo/repository.js';
import { encodeTree, type Node } from '../repo/tree.js';
import { restoreTree } from './restorer.js';

const t0 = '2024-01-02T03:04:05.123456789Z';

function fileNode(name: Buffer | string, content: Id[], size: number): Node {
  return {
    name: typeof name === 'string' ? Buffer.from(name) : name,
    type: 'file',
    mode: 0o644,
    mtime: t0,
    atime: t0,
    ctime: t0,
    uid: 0,
    gid: 0,
    size,
    links: 1,
    content,
  };
}

function dirNode(name: string, subtree: Id): Node {
  return {
    ...fileNode(name, [], 0),
    type: 'dir',
    mode: 2 ** 31 + 0o755,
    content: null,
    subtree,
    size: undefined,
  };
}

async function store(saver: BlobSaver, type: 'data' | 'tree', buf: Buffer): Promise<Id> {
  const id = hashId(buf);
  await saver.save(type, id, new Uint8Array(buf));
  return id;
}

/** A repository holding one hostile tree, built with arca's own writer (restic would never write it). */
async function hostileRepo(dir: string): Promise<{ repo: Repository; tree: Id }> {
  const repo = await initRepository(new LocalBackend(path.join(dir, 'repo')), 'pw', { kdf: cheapKdf });
  const saver = new BlobSaver(repo, { encoder: inlineEncoder(repo.key) });
  const data = await store(saver, 'data', Buffer.from('pwned\n'));
  const inner = await store(saver, 'tree', encodeTree([fileNode('ok.txt', [data], 6)]));
  // Sorted by bytes, as a real tree would be; every one but "ok" and "sub" tries to escape.
  const nodes: Node[] = [
    fileNode('', [data], 6),
    fileNode('.', [data], 6),
    fileNode('..', [data], 6),
    fileNode('../escape.txt', [data], 6),
    fileNode('/etc-passwd', [data], 6),
    fileNode('a/../../b.txt', [data], 6),
    fileNode('ok', [data], 6),
    dirNode('sub', inner),
    fileNode(Buffer.from('nul\0byte'), [data], 6),
  ];
  const tree = await store(saver, 'tree', encodeTree(nodes));
  await saver.flush();
  return { repo, tree };
}

test('restore never writes outside the target, whatever the tree says', async (t) => {
  const dir = await tempDir(t, 'hostile');
  const { repo, tree } = await hostileRepo(dir);
  const target = path.join(dir, 'out', 'target');
  const before = readdirSync(dir).sort();
  const res = await restoreTree(repo, tree, { target });
  assert.deepEqual(readdirSync(dir).sort(), [...new Set([...before, 'out'])].sort());
  assert.deepEqual(readdirSync(path.join(dir, 'out')), ['target']);
  assert.deepEqual(readdirSync(target).sort(), ['ok', 'sub']);
  assert.equal(readFileSync(path.join(target, 'sub', 'ok.txt'), 'utf8'), 'pwned\n');
  assert.equal(res.problems.length, 7, JSON.stringify(res.problems));
  for (const p of res.problems) assert.match(p.message, /unsafe name/);
  assert.ok(!existsSync(path.join(dir, 'out', 'escape.txt')));
  assert.ok(!existsSync(path.join(dir, 'b.txt')));
});

test('a restore into an existing tree keeps what is there unless asked to overwrite', async (t) => {
  const dir = await tempDir(t, 'existing');
  const { repo, tree } = await hostileRepo(dir);
  const target = path.join(dir, 'out');
  await restoreTree(repo, tree, { target });
  const again = await restoreTree(repo, tree, { target });
  assert.ok(again.problems.some((p) => /already exists/.test(p.message)));
  const forced = await restoreTree(repo, tree, { target, overwrite: true });
  assert.equal(forced.problems.filter((p) => !/unsafe name/.test(p.message)).length, 0);
  assert.ok(lstatSync(path.join(target, 'ok')).isFile());
});

test('a large restore writes the same bytes whether it decodes on worker threads or not', async (t) => {
  const dir = await tempDir(t, 'restore-workers');
  const repo = await initRepository(new LocalBackend(path.join(dir, 'repo')), 'pw', { kdf: cheapKdf });
  const saver = new BlobSaver(repo, { encoder: inlineEncoder(repo.key) });
  const chunks = [0, 1, 2, 3, 4].map((i) => randomBytes(8 * 1024 * 1024 + i));
  const ids: Id[] = [];
  for (const c of chunks) ids.push(await store(saver, 'data', c));
  const size = chunks.reduce((a, c) => a + c.length, 0);
  const tree = await store(saver, 'tree', encodeTree([fileNode('big.bin', ids, size)]));
  await saver.flush();
  // Threads are the default only above two cores; both ways must write the same bytes.
  for (const workers of [true, false]) {
    const target = path.join(dir, `out-${workers}`);
    const res = await restoreTree(repo, tree, { target, workers });
    assert.deepEqual(res.problems, []);
    assert.ok(
      readFileSync(path.join(target, 'big.bin')).equals(Buffer.concat(chunks)),
      `workers: ${workers}`,
    );
  }
});

test('every name of an empty hard-linked file is restored as a link', async (t) => {
  const dir = await tempDir(t, 'restore-empty-links');
  const repo = await initRepository(new LocalBackend(path.join(dir, 'repo')), 'pw', { kdf: cheapKdf });
  const saver = new BlobSaver(repo, { encoder: inlineEncoder(repo.key) });
  const linked = (name: string): Node => ({
    ...fileNode(name, [], 0),
    size: undefined,
    links: 2,
    inode: 77n,
    deviceId: 1n,
  });
  const tree = await store(saver, 'tree', encodeTree([linked('a'), linked('b')]));
  await saver.flush();
  const target = path.join(dir, 'out');
  const res = await restoreTree(repo, tree, { target });
  assert.deepEqual(res.problems, []);
  const a = lstatSync(path.join(target, 'a'));
  const b = lstatSync(path.join(target, 'b'));
  assert.equal(a.ino, b.ino);
  assert.equal(a.nlink, 2);
});
