import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { tempDir } from '../../test/support/tmp.js';
import { ArcaError } from '../errors.js';
import { lockDataset } from './dataset_lock.js';

test('a dataset lock is exclusive while its process lives, and released on request', async (t) => {
  const dir = await tempDir(t, 'dataset-lock');
  const lock = lockDataset(dir, 'files');
  const file = path.join(dir, 'locks', 'files.lock');
  const [pid, boot] = readFileSync(file, 'utf8').trim().split(' ');
  assert.equal(pid, String(process.pid));
  // Another dataset is independent.
  lockDataset(dir, 'db').release();
  // A live process holding it: refused, naming the process.
  const sleeper = spawn('sleep', ['30'], { stdio: 'ignore' });
  try {
    lock.release();
    assert.equal(existsSync(file), false);
    writeFileSync(file, `${sleeper.pid} ${boot}\n`);
    assert.throws(
      () => lockDataset(dir, 'files'),
      (e: unknown) =>
        e instanceof ArcaError && e.code === 'locked' && e.message.includes(String(sleeper.pid)),
    );
    // Taken before the last reboot: stale, even though a process with that ID lives now.
    writeFileSync(file, `${sleeper.pid} another-boot\n`);
    lockDataset(dir, 'files').release();
  } finally {
    sleeper.kill();
  }
  await new Promise((resolve) => sleeper.once('exit', resolve));
  // Its process is gone: the lock is stale and taken over.
  writeFileSync(file, `${sleeper.pid} ${boot}\n`);
  const again = lockDataset(dir, 'files');
  assert.equal(readFileSync(file, 'utf8').trim().split(' ')[0], String(process.pid));
  again.release();
});
