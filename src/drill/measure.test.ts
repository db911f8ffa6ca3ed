import assert from 'node:assert/strict';
import { test } from 'node:test';
import { restoreTiming } from './measure.js';

test('a full drill reports the measured time', () => {
  const t = restoreTiming({
    restoreSeconds: 2,
    bytesRestored: 4000,
    filesRestored: 10,
    snapshotBytes: 4000,
    snapshotFiles: 10,
    sample: false,
  });
  assert.deepEqual(t, {
    bytes_per_second: 2000,
    files_per_second: 5,
    restore_time_kind: 'measured',
    restore_time_seconds: 2,
  });
});

test('a sample forecasts snapshot bytes divided by the measured throughput', () => {
  const t = restoreTiming({
    restoreSeconds: 2,
    bytesRestored: 1000,
    filesRestored: 4,
    snapshotBytes: 10_000,
    snapshotFiles: 40,
    sample: true,
  });
  assert.equal(t.restore_time_kind, 'forecast');
  assert.equal(t.bytes_per_second, 500);
  assert.equal(t.restore_time_seconds, 20);
});

test('a sample of empty files forecasts by files per second', () => {
  const t = restoreTiming({
    restoreSeconds: 1,
    bytesRestored: 0,
    filesRestored: 2,
    snapshotBytes: 0,
    snapshotFiles: 8,
    sample: true,
  });
  assert.equal(t.restore_time_seconds, 4);
});
