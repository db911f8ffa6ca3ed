import assert from 'node:assert/strict';
import { appendFile, mkdir, mkdtemp, rm, symlink, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { buildManifest, compareManifests } from './manifest.js';

test('compareManifests tells a faithful copy from a wrong one', async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'arca-bench-test-'));
  try {
    for (const side of ['a', 'b']) {
      await mkdir(path.join(dir, side, 'sub'), { recursive: true });
      await writeFile(path.join(dir, side, 'sub', 'f.txt'), 'hello');
      await writeFile(path.join(dir, side, 'g.bin'), Buffer.alloc(3 << 20, 7));
      await symlink('sub/f.txt', path.join(dir, side, 'link'));
    }
    const a = await buildManifest(path.join(dir, 'a'));
    assert.equal(a.files, 2);
    assert.equal(a.symlinks, 1);
    assert.equal(a.dirs, 1);
    const same = compareManifests(a, await buildManifest(path.join(dir, 'b')));
    assert.equal(same.contentEqual, true);

    await appendFile(path.join(dir, 'b', 'sub', 'f.txt'), '!');
    await writeFile(path.join(dir, 'b', 'extra'), '');
    const b = await buildManifest(path.join(dir, 'b'));
    const diff = compareManifests(a, b);
    assert.equal(diff.contentEqual, false);
    assert.equal(diff.contentDiffers, 1);
    assert.equal(diff.extra, 1);
    assert.notEqual(a.contentHash, b.contentHash);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
