import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArcaError } from '../errors.js';
import { type CronExpression, nextRun, parseCron } from './cron.js';

/** The next `n` runs after `from`, as ISO strings. */
function runs(expr: string, from: string, n: number): string[] {
  const c = parseCron(expr);
  const out: string[] = [];
  let t = new Date(from);
  for (let i = 0; i < n; i++) {
    const next = nextRun(c, t);
    if (next === null) break;
    out.push(next.toISOString().replace('.000Z', 'Z'));
    t = next;
  }
  return out;
}

function values(set: readonly boolean[]): number[] {
  return set.flatMap((on, i) => (on ? [i] : []));
}

test('fields accept numbers, ranges, steps, lists and names', () => {
  const c: CronExpression = parseCron('*/15 1-3,22 1,15 jan-MAR,Dec mon-fri');
  assert.deepEqual(values(c.minutes), [0, 15, 30, 45]);
  assert.deepEqual(values(c.hours), [1, 2, 3, 22]);
  assert.deepEqual(values(c.days), [1, 15]);
  assert.deepEqual(values(c.months), [1, 2, 3, 12]);
  assert.deepEqual(values(c.weekdays), [1, 2, 3, 4, 5]);
  assert.deepEqual(values(c.seconds), [0]);
  assert.equal(c.dayOr, true);
  assert.deepEqual(values(parseCron('5/20 * * * *').minutes), [5, 25, 45]);
  assert.deepEqual(values(parseCron('0 10-20/5 * * *').hours), [10, 15, 20]);
  assert.deepEqual(values(parseCron('0 0 * * 5-7').weekdays), [0, 5, 6]);
  assert.deepEqual(values(parseCron('0 0 * * 7').weekdays), [0]);
  assert.deepEqual(values(parseCron('10,40 * * * * *').seconds), [10, 40]);
  assert.equal(parseCron('0 0 * * 1').dayOr, false);
  assert.equal(parseCron('0 0 */2 * 1').dayOr, false);
  assert.equal(parseCron('0 0 ? * 1').dayOr, false);
});

test('malformed expressions are refused, naming what is wrong', () => {
  const cases: [string, RegExp][] = [
    ['* * * *', /expected 5 fields .* got 4/],
    ['* * * * * * *', /got 7/],
    ['60 * * * *', /minute 60 is out of range 0-59/],
    ['* 24 * * *', /hour 24 is out of range/],
    ['* * 0 * *', /day of month 0 is out of range 1-31/],
    ['* * * 13 *', /month 13 is out of range/],
    ['* * * * 8', /day of week 8 is out of range 0-7/],
    ['5-1 * * * *', /range "5-1" in the minute field runs backwards/],
    ['*/0 * * * *', /step "0" .* above 0/],
    ['*/x * * * *', /step "x"/],
    ['1/2/3 * * * *', /more than one step/],
    ['1,,2 * * * *', /empty item/],
    ['* * * foo *', /"foo" is not a valid month/],
    ['* * L * *', /L, W and # are not supported/],
    ['* * * * 5#2', /L, W and # are not supported/],
    ['? * * * *', /"\?" is not a valid minute/],
    ['1-2-3 * * * *', /"2-3" is not a valid minute/],
    ['@often', /unknown nickname/],
    ['', /got 0/],
  ];
  for (const [expr, why] of cases) {
    assert.throws(
      () => parseCron(expr),
      (e: unknown) => e instanceof ArcaError && e.code === 'usage' && why.test(e.message),
      `${expr} should fail with ${why}`,
    );
  }
});

test('nextRun finds the following runs in UTC, strictly after the given moment', () => {
  assert.deepEqual(runs('*/15 * * * *', '2030-01-01T00:00:00Z', 3), [
    '2030-01-01T00:15:00Z',
    '2030-01-01T00:30:00Z',
    '2030-01-01T00:45:00Z',
  ]);
  assert.deepEqual(runs('30 1 * * *', '2030-12-31T01:30:00Z', 2), [
    '2031-01-01T01:30:00Z',
    '2031-01-02T01:30:00Z',
  ]);
  // 2030-01-04 is a Friday.
  assert.deepEqual(runs('0 2 * * mon-fri', '2030-01-03T12:00:00Z', 3), [
    '2030-01-04T02:00:00Z',
    '2030-01-07T02:00:00Z',
    '2030-01-08T02:00:00Z',
  ]);
  assert.deepEqual(runs('0 0 1 */3 *', '2030-01-15T00:00:00Z', 3), [
    '2030-04-01T00:00:00Z',
    '2030-07-01T00:00:00Z',
    '2030-10-01T00:00:00Z',
  ]);
  assert.deepEqual(runs('*/20 * * * * *', '2030-01-01T00:00:05.500Z', 3), [
    '2030-01-01T00:00:20Z',
    '2030-01-01T00:00:40Z',
    '2030-01-01T00:01:00Z',
  ]);
  assert.deepEqual(runs('@weekly', '2030-01-01T00:00:00Z', 2), [
    '2030-01-06T00:00:00Z',
    '2030-01-13T00:00:00Z',
  ]);
  assert.deepEqual(runs('0 0 29 2 *', '2030-01-01T00:00:00Z', 2), [
    '2032-02-29T00:00:00Z',
    '2036-02-29T00:00:00Z',
  ]);
});

test('day of month and day of week: either when both are restricted, both when one is a star', () => {
  // The 13th, or any Friday (Vixie cron and croner's default).
  assert.deepEqual(runs('0 0 13 * 5', '2030-01-01T00:00:00Z', 4), [
    '2030-01-04T00:00:00Z',
    '2030-01-11T00:00:00Z',
    '2030-01-13T00:00:00Z',
    '2030-01-18T00:00:00Z',
  ]);
  // Every other day that is also a Friday: */2 starts with a star, so both must match.
  assert.deepEqual(runs('0 0 */2 * fri', '2030-01-01T00:00:00Z', 2), [
    '2030-01-11T00:00:00Z',
    '2030-01-25T00:00:00Z',
  ]);
});

test('an expression that cannot run gives null', () => {
  assert.equal(nextRun(parseCron('0 0 30 2 *'), new Date('2030-01-01T00:00:00Z')), null);
  assert.equal(nextRun(parseCron('0 0 31 4,6,9,11 *'), new Date('2030-01-01T00:00:00Z')), null);
});

test('nextRun agrees with a minute-by-minute search on generated expressions', () => {
  // A deterministic generator, so a failure can be reproduced.
  let seed = 12345;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const field = (min: number, max: number) => {
    switch (rand(5)) {
      case 0:
        return '*';
      case 1:
        return `*/${1 + rand(Math.min(12, max))}`;
      case 2: {
        const a = min + rand(max - min + 1);
        return `${a}-${a + rand(max - a + 1)}`;
      }
      case 3:
        return `${min + rand(max - min + 1)},${min + rand(max - min + 1)}`;
      default:
        return String(min + rand(max - min + 1));
    }
  };
  const slowNext = (c: CronExpression, after: number): number | null => {
    // Whole days first (the day fields are matched by hand here), then every minute of a matching day.
    const start = Math.floor(after / 60_000) * 60_000 + 60_000;
    for (
      let day = Math.floor(start / 86_400_000) * 86_400_000;
      day < start + 400 * 86_400_000;
      day += 86_400_000
    ) {
      const d = new Date(day);
      const dom = c.days[d.getUTCDate()] === true;
      const dow = c.weekdays[d.getUTCDay()] === true;
      if (c.months[d.getUTCMonth() + 1] !== true || !(c.dayOr ? dom || dow : dom && dow)) continue;
      for (let t = Math.max(day, start); t < day + 86_400_000; t += 60_000) {
        const m = new Date(t);
        if (c.hours[m.getUTCHours()] === true && c.minutes[m.getUTCMinutes()] === true) return t;
      }
    }
    return null;
  };
  for (let i = 0; i < 150; i++) {
    const expr = [field(0, 59), field(0, 23), field(1, 31), field(1, 12), field(0, 6)].join(' ');
    const c = parseCron(expr);
    let t = Date.UTC(2030, rand(12), 1 + rand(28), rand(24), rand(60), rand(60));
    for (let k = 0; k < 3; k++) {
      const fast = nextRun(c, new Date(t))?.getTime() ?? null;
      const slow = slowNext(c, t);
      if (slow === null) break; // beyond the slow search's reach
      assert.equal(fast, slow, `${expr} after ${new Date(t).toISOString()}`);
      t = slow;
    }
  }
});
