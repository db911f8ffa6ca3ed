import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { constants } from 'node:fs';
import {
  chmod,
  lchown,
  lstat,
  mkdir,
  open,
  readFile,
  rename,
  symlink,
  unlink,
  writeFile,
} from 'node:fs/promises';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { compareTrees } from './compare-trees.js';
import { makeFixtureTree } from './fixture-tree.js';
import { runOk } from './run.js';
import { formatNs, setTimes } from './set-times.js';
import { tempDir } from './tmp.js';
import { isRoot, requireTool } from './tools.js';
import { setXattr } from './xattr.js';

test('compareTrees reports each kind of difference, and nothing else', async (t: TestContext) => {
  if (!requireTool(t, 'getfattr', 'attr')) return;
  const dir = await tempDir(t, 'compare');
  const expected = path.join(dir, 'expected');
  const actual = path.join(dir, 'actual');
  const info = await makeFixtureTree(expected);
  await makeFixtureTree(actual);
  const e = (rel: string | Buffer) => Buffer.concat([Buffer.from(expected + '/'), Buffer.from(rel)]);
  const a = (rel: string | Buffer) => Buffer.concat([Buffer.from(actual + '/'), Buffer.from(rel)]);
  const times = async (rel: string) => {
    const s = await lstat(a(rel), { bigint: true });
    return { atimeNs: s.atimeNs, mtimeNs: s.mtimeNs };
  };
  // Each mutation changes one property; the times it disturbs on the way are put back.
  const mutate = async (parent: string, change: () => Promise<void>) => {
    const before = await times(parent);
    await change();
    await setTimes([a(parent).toString()], before);
  };
  const read = (file: Buffer) => readFile(file, { flag: constants.O_RDONLY | constants.O_NOATIME });
  const sha = async (file: Buffer) =>
    createHash('sha256')
      .update(await read(file))
      .digest('hex');
  const want: string[] = [];

  // Same size and times, one byte different.
  const contentTimes = await times('sizes/512KiB');
  const handle = await open(a('sizes/512KiB'), 'r+');
  await handle.write(Buffer.from([(await read(a('sizes/512KiB')))[1000]! ^ 1]), 0, 1, 1000);
  await handle.close();
  await setTimes([a('sizes/512KiB').toString()], contentTimes);
  want.push(
    `"sizes/512KiB": content sha256: expected ${await sha(e('sizes/512KiB'))}, actual ${await sha(a('sizes/512KiB'))}`,
  );

  await chmod(a('modes/file-0600'), 0o640);
  want.push('"modes/file-0600": mode: expected 0600, actual 0640');

  const cafe = 'names/caf\u00e9.txt';
  const cafeTimes = await times(cafe);
  await setTimes([a(cafe).toString()], { ...cafeTimes, mtimeNs: cafeTimes.mtimeNs + 1n });
  want.push(
    `"${cafe}": mtime: expected ${formatNs(cafeTimes.mtimeNs)}, actual ${formatNs(cafeTimes.mtimeNs + 1n)}`,
  );

  const emptyTimes = await times('sizes/empty');
  await setTimes([a('sizes/empty').toString()], { ...emptyTimes, atimeNs: emptyTimes.atimeNs - 1n });
  const atimeLine = `"sizes/empty": atime: expected ${formatNs(emptyTimes.atimeNs)}, actual ${formatNs(emptyTimes.atimeNs - 1n)}`;
  want.push(atimeLine);

  await mutate('many', () => unlink(a('many/f0007')));
  want.push('"many/f0007": missing');

  await mutate('sizes', () => writeFile(a('sizes/extra'), 'extra'));
  want.push('"sizes/extra": unexpected (not in expected)');

  // A non-UTF-8 name renamed to another non-UTF-8 name.
  const bad = (byte: number) =>
    Buffer.concat([Buffer.from('names/bad'), Buffer.from([byte]), Buffer.from('.txt')]);
  await mutate('names', () => rename(a(bad(0xff)), a(bad(0xfe))));
  want.push('"names/bad\\xfe.txt": unexpected (not in expected)', '"names/bad\\xff.txt": missing');

  // The same file under the same name, but a copy instead of a hard link.
  const linkTimes = await times('hardlinks/sub/two');
  await mutate('hardlinks/sub', async () => {
    const content = await read(a('hardlinks/sub/two'));
    await unlink(a('hardlinks/sub/two'));
    await writeFile(a('hardlinks/sub/two'), content, { mode: 0o640 });
    await chmod(a('hardlinks/sub/two'), 0o640);
    await setTimes([a('hardlinks/sub/two').toString()], linkTimes);
  });
  want.push(
    'hard links: expected ["hardlinks/one", "hardlinks/sub/two", "hardlinks-elsewhere/three"] to share one inode,' +
      ' actual ["hardlinks/one", "hardlinks-elsewhere/three"] ["hardlinks/sub/two"]',
  );

  const danglingTimes = await times('symlinks/dangling');
  await mutate('symlinks', async () => {
    await unlink(a('symlinks/dangling'));
    await symlink('does/not/exisT', a('symlinks/dangling'));
    await setTimes([a('symlinks/dangling').toString()], danglingTimes);
  });
  want.push('"symlinks/dangling": symlink target: expected "does/not/exist", actual "does/not/exisT"');

  const fifoTimes = await times('specials/fifo');
  await mutate('specials', async () => {
    await unlink(a('specials/fifo'));
    await writeFile(a('specials/fifo'), '', { mode: 0o640 });
    await chmod(a('specials/fifo'), 0o640);
    await setTimes([a('specials/fifo').toString()], fifoTimes);
  });
  want.push('"specials/fifo": type: expected fifo, actual file');

  if (info.skipped.xattr === undefined) {
    await setXattr(a('xattrs/file').toString(), 'user.plain', Buffer.from('hellO'));
    await setXattr(a('xattrs/dir').toString(), 'user.added', Buffer.from([0]));
    want.push(
      '"xattrs/dir": xattr user.added: expected absent, actual 0x00',
      '"xattrs/file": xattr user.plain: expected 0x68656c6c6f, actual 0x68656c6c4f',
    );
  }

  if (isRoot()) {
    await lchown(a('sizes/one-byte'), 1, 2);
    want.push('"sizes/one-byte": owner: expected 0:0, actual 1:2');
    const deviceTimes = await times('specials/char-null');
    await mutate('specials', async () => {
      await unlink(a('specials/char-null'));
      await runOk('mknod', ['-m', '0666', a('specials/char-null').toString(), 'c', '1', '5']);
      await setTimes([a('specials/char-null').toString()], deviceTimes);
    });
    want.push('"specials/char-null": device: expected 1,3, actual 1,5');
  }

  const diffs = await compareTrees(expected, actual, { atime: true });
  assert.deepEqual([...diffs].sort(), [...want].sort());

  // Left out on request: atimes by default, owners, xattrs, and whatever `ignore` names.
  const narrower = await compareTrees(expected, actual, {
    owner: false,
    xattrs: false,
    ignore: (rel) => rel.toString() === 'many' || rel.toString() === 'sizes/extra',
  });
  const left = want.filter(
    (line) =>
      line !== atimeLine &&
      !line.includes(': owner:') &&
      !line.includes(': xattr ') &&
      !line.startsWith('"many/') &&
      !line.startsWith('"sizes/extra"'),
  );
  assert.deepEqual([...narrower].sort(), [...left].sort());
});

test('compareTrees compares the roots themselves', async (t: TestContext) => {
  if (!requireTool(t, 'getfattr', 'attr')) return;
  const dir = await tempDir(t, 'compare-root');
  const expected = path.join(dir, 'expected');
  const actual = path.join(dir, 'actual');
  await mkdir(expected, { mode: 0o755 });
  await mkdir(actual, { mode: 0o700 });
  await chmod(expected, 0o755);
  await setTimes([expected, actual], { atimeNs: 1n, mtimeNs: 2n });
  assert.deepEqual(await compareTrees(expected, actual), ['".": mode: expected 0755, actual 0700']);
});
