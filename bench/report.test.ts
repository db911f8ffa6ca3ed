import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fmtRatio, median, type RunRecord, summarise } from './report.js';

const run = (n: number, valid: boolean, wall: number): RunRecord => ({
  set: 'quick',
  tool: 'arca',
  run: n,
  valid,
  steps: [{ step: 'restore', status: 'ok', wall, user: 1, sys: 0.5, maxRssKiB: 2048, loadBefore: 0 }],
});

test('median of odd and even counts, ignoring NaN', () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([Number.NaN, 5]), 5);
  assert.ok(Number.isNaN(median([])));
});

test('summarise leaves out invalid runs, and flags medians that only invalid runs give', () => {
  const s = summarise([run(1, true, 10), run(2, false, 1), run(3, true, 12)], 'restore');
  assert.equal(s?.wall, 11);
  assert.equal(s?.n, 2);
  assert.equal(s?.fromInvalid, false);
  const only = summarise([run(1, false, 1)], 'restore');
  assert.equal(only?.fromInvalid, true);
  assert.equal(summarise([run(1, true, 1)], 'check'), undefined);
});

test('fmtRatio is arca over restic', () => {
  assert.equal(fmtRatio(3, 2), '1.50×');
  assert.equal(fmtRatio(1, 0), '—');
});
