/**
 * Temporary directories for tests. Trees made here can be hard to delete without root:
 * restic writes its repository files read-only and fixtures contain read-only
 * directories, so removal first makes every directory writable.
 */
import { chmod, lstat, mkdtemp, readdir, realpath, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import type { TestContext } from 'node:test';
import { isErrno } from '../../src/errors.js';
import { joinPath } from './buffer-path.js';
import { isRoot } from './tools.js';

/** A new empty directory under the OS temp directory, named `arca-<prefix>-XXXXXX`. */
export async function makeTempDir(prefix: string): Promise<string> {
  return realpath(await mkdtemp(path.join(os.tmpdir(), `arca-${prefix}-`)));
}

/** Deletes `dir` and everything below it, including read-only directories; a missing `dir` is fine. */
export async function removeTree(dir: string): Promise<void> {
  // Before, not after a failed rm: fs.rm removes entries concurrently, and its other
  // branches keep running after one of them fails, so a retry would race with them.
  if (!isRoot()) {
    try {
      await makeDirsWritable(Buffer.from(dir));
    } catch (err) {
      if (!isErrno(err, 'ENOENT')) throw err;
    }
  }
  await rm(dir, { recursive: true, force: true });
}

/** A temporary directory that is removed when test `t` ends. */
export async function tempDir(t: TestContext, prefix: string): Promise<string> {
  const dir = await makeTempDir(prefix);
  t.after(() => removeTree(dir));
  return dir;
}

async function makeDirsWritable(dir: Buffer): Promise<void> {
  const stat = await lstat(dir);
  if (!stat.isDirectory()) return;
  if ((stat.mode & 0o700) !== 0o700) await chmod(dir, (stat.mode & 0o7777) | 0o700);
  for (const name of await readdir(dir, { encoding: 'buffer' })) {
    await makeDirsWritable(joinPath(dir, name));
  }
}
