import assert from 'node:assert/strict';
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { after, before, test } from 'node:test';
import { resticBackup, resticInit, writePasswordFile } from '../../test/support/restic.js';
import { makeTempDir, removeTree } from '../../test/support/tmp.js';
import { hasTool } from '../../test/support/tools.js';
import type { Handle } from '../backend/backend.js';
import { LocalBackend } from '../backend/local.js';
import type { Id } from './id.js';
import { Repository } from './repository.js';

const noRestic = 'restic is not installed (apt-get install restic)';
const haveRestic = hasTool('restic');
if (!haveRestic && process.env.CI === 'true') throw new Error(noRestic);

/** A local backend that records what is read from pack files, and in what order locks are written and index files read. */
class RecordingBackend extends LocalBackend {
  readonly loads: { name: string; whole: boolean }[] = [];
  readonly events: string[] = [];
  override save(h: Handle, data: Buffer): Promise<void> {
    if (h.type === 'locks') this.events.push('lock written');
    return super.save(h, data);
  }
  override load(h: Handle, offset = 0, length?: number): Promise<Buffer> {
    if (h.type === 'data') this.loads.push({ name: h.name, whole: offset === 0 && length === undefined });
    if (h.type === 'index') this.events.push('index read');
    return super.load(h, offset, length);
  }
}

let dir = '';
let repoDir = '';
const password = 'trees';

before(async () => {
  if (!haveRestic) return;
  dir = await makeTempDir('repository');
  repoDir = path.join(dir, 'repo');
  const pw = await writePasswordFile(dir, password);
  // 40 directories: 41 trees, all in one tree pack.
  for (let i = 0; i < 40; i++) {
    await mkdir(path.join(dir, 'src', `d${i}`), { recursive: true });
    await writeFile(path.join(dir, 'src', `d${i}`, 'f.txt'), `file ${i}\n`);
  }
  await resticInit(repoDir, pw);
  await resticBackup(repoDir, pw, ['src'], { cwd: dir });
});
after(async () => {
  if (dir) await removeTree(dir);
});

test('trees of one pack are read with one read of the pack', {
  skip: haveRestic ? false : noRestic,
}, async () => {
  const backend = new RecordingBackend(repoDir);
  const repo = await Repository.open(backend, password);
  try {
    const [snap] = await repo.listSnapshots();
    const names: string[] = [];
    const walk = async (tree: Id): Promise<void> => {
      for (const n of await repo.loadTree(tree)) {
        names.push(n.name.toString());
        if (n.type === 'dir') await walk(n.subtree!);
      }
    };
    await walk(snap!.tree);
    assert.equal(names.filter((n) => n === 'f.txt').length, 40);
    const treePacks = new Set(
      [...repo.index.packs()].filter(([, blobs]) => blobs[0]?.type === 'tree').map(([id]) => id),
    );
    assert.equal(treePacks.size, 1);
    assert.deepEqual(backend.loads, [{ name: [...treePacks][0]!, whole: true }]);
  } finally {
    await backend.close();
  }
});

test('with loadIndex, the index is read while the lock waits, never before our lock file exists', {
  skip: haveRestic ? false : noRestic,
}, async () => {
  const backend = new RecordingBackend(repoDir);
  const repo = await Repository.open(backend, password);
  try {
    const lock = await repo.lock(false, { loadIndex: true });
    // Read during the wait: by now the index is there without another read.
    const reads = backend.events.filter((e) => e === 'index read').length;
    assert.ok(reads > 0, 'the index was not read while waiting for the lock');
    assert.equal(backend.events[0], 'lock written');
    await repo.loadIndex();
    assert.equal(backend.events.filter((e) => e === 'index read').length, reads);
    assert.ok(repo.index.packs().size > 0);
    await lock.release();
  } finally {
    await backend.close();
  }
  // A conflicting lock still wins: the loaded index is simply not used.
  const other = new RecordingBackend(repoDir);
  const held = await (await Repository.open(new LocalBackend(repoDir), password)).lock(true);
  const second = await Repository.open(other, password);
  try {
    await assert.rejects(second.lock(false, { loadIndex: true }), /locked/);
    assert.deepEqual(other.events, [], 'nothing was read or written past the first check');
  } finally {
    await held.release();
    await other.close();
  }
});
