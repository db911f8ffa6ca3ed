import assert from 'node:assert/strict';
import { existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { gnuTime, measure, parseTimeLine } from './measure.js';

test('parseTimeLine reads the last line, after a non-zero exit notice', () => {
  assert.deepEqual(parseTimeLine('Command exited with non-zero status 3\n1.50 0.75 0.25 123456\n'), {
    wall: 1.5,
    user: 0.75,
    sys: 0.25,
    maxRssKiB: 123456,
  });
  assert.equal(parseTimeLine(''), null);
  assert.equal(parseTimeLine('Command terminated by signal 9\n'), null);
});

test('measure reports exit codes and kills a command that outlives its timeout', {
  skip: existsSync(gnuTime) ? false : 'GNU time not installed',
}, async () => {
  const dir = await mkdtemp(path.join(os.tmpdir(), 'arca-bench-test-'));
  try {
    const o = { env: process.env, timeoutMs: 10_000, timeFile: path.join(dir, 't') };
    const ok = await measure('sh', ['-c', 'echo hi; exit 3'], o);
    assert.equal(ok.exitCode, 3);
    assert.equal(ok.timedOut, false);
    assert.ok(ok.maxRssKiB > 0 && Number.isFinite(ok.user));
    assert.match(ok.outputTail, /hi/);
    const slow = await measure('sh', ['-c', 'sleep 30 & wait'], { ...o, timeoutMs: 300 });
    assert.equal(slow.timedOut, true);
    assert.ok(slow.wall < 10);
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
});
