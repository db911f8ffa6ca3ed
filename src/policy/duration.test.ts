import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArcaError } from '../errors.js';
import { durationMs, durationSchema, formatMs, parsePolicyDuration, tryParseDuration } from './duration.js';

const M = 60_000;
const H = 60 * M;
const D = 24 * H;

test('policy durations read minutes, hours, days, weeks and years, combined largest first', () => {
  assert.equal(durationMs('15m'), 15 * M);
  assert.equal(durationMs('24h'), 24 * H);
  assert.equal(durationMs('7d'), 7 * D);
  assert.equal(durationMs('4w'), 28 * D);
  assert.equal(durationMs('1y'), 365 * D);
  assert.equal(durationMs('1d12h30m'), D + 12 * H + 30 * M);
  assert.deepEqual(parsePolicyDuration('2y3w'), {
    years: 2,
    weeks: 3,
    days: 0,
    hours: 0,
    minutes: 0,
    seconds: 0,
    ms: 751 * D,
  });
});

test('malformed or zero durations are refused with the hint', () => {
  for (const bad of ['', '24', 'h', '1.5h', '12h1d', '1d1d', '3mo', '-1h', ' 1h', '1 h']) {
    assert.throws(
      () => parsePolicyDuration(bad),
      (e: unknown) =>
        e instanceof ArcaError && e.code === 'usage' && /expected a duration like/.test(e.message),
      bad,
    );
    assert.equal(tryParseDuration(bad), undefined);
  }
  assert.throws(() => parsePolicyDuration('0h'), /longer than zero/);
  assert.equal(durationSchema.safeParse('0m').success, false);
  assert.equal(durationSchema.safeParse(24).success, false);
  assert.equal(durationSchema.safeParse('6h').success, true);
});

test('formatMs writes the largest units first and rounds down to seconds', () => {
  assert.equal(formatMs(36 * H), '1d12h');
  assert.equal(formatMs(14 * D + 5 * M + 59_400), '2w5m59s');
  assert.equal(formatMs(45 * M), '45m');
  assert.equal(formatMs(0), '0s');
  assert.equal(durationMs('1m30s'), 90_000);
  assert.equal(formatMs(Number.POSITIVE_INFINITY), 'forever');
  for (const text of ['15m', '1d12h', '3w2d', '23h59m', '2h5s'])
    assert.equal(formatMs(durationMs(text)), text);
});
