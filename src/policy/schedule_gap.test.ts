import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextRun, parseCron } from './cron.js';
import { GAP_WINDOW_DAYS, largestCronGap, scheduleGap } from './schedule_gap.js';

const start = new Date('2030-01-01T00:00:00Z');
const h = (n: number) => n * 3_600_000;
const iso = (d: Date | undefined) => d?.toISOString().replace('.000Z', 'Z');
const gapOf = (triggers: Parameters<typeof scheduleGap>[0], from = start) => scheduleGap(triggers, from);

test('a daily schedule leaves 24h between backups', () => {
  const gap = gapOf(['30 1 * * *']);
  assert.equal(gap.ms, h(24));
  assert.equal(iso(gap.from), '2030-01-01T01:30:00Z');
  assert.equal(iso(gap.to), '2030-01-02T01:30:00Z');
});

test('the levels count together: weekly full plus incremental on the other days is daily', () => {
  assert.equal(gapOf(['30 1 * * 0', '30 1 * * 3', '30 1 * * 1,2,4-6']).ms, h(24));
  assert.equal(gapOf(['0 1 * * *', '0 13 * * *']).ms, h(12));
  assert.equal(gapOf(['0 1 * * *', '0 4 * * *']).ms, h(21));
});

test('a weekday-only schedule leaves the weekend uncovered', () => {
  const gap = gapOf(['0 2 * * 1-5']);
  assert.equal(gap.ms, h(72));
  // 2030-01-04 is a Friday.
  assert.equal(iso(gap.from), '2030-01-04T02:00:00Z');
  assert.equal(iso(gap.to), '2030-01-07T02:00:00Z');
});

test('gaps within a day, across months and across half a year are found wherever the window starts', () => {
  // Hourly in office hours only: 17:00 to 08:00 the next day.
  const office = gapOf(['0 8-17 * * *']);
  assert.equal(office.ms, h(15));
  assert.equal(iso(office.from), '2030-01-01T17:00:00Z');
  assert.equal(gapOf(['0 0 1 * *'], new Date('2030-02-15T00:00:00Z')).ms, h(31 * 24));
  // Every five minutes, January to June only: the gap is July to December.
  const halfYear = gapOf(['*/5 * * 1-6 *']);
  assert.equal(iso(halfYear.from), '2030-06-30T23:55:00Z');
  assert.equal(iso(halfYear.to), '2031-01-01T00:00:00Z');
  // Once a year, and on 29 February only: the gap runs past the window.
  assert.equal(gapOf(['0 3 1 1 *']).ms, h(365 * 24));
  const leap = gapOf(['0 0 29 2 *']);
  assert.equal(iso(leap.from), '2032-02-29T00:00:00Z');
  assert.equal(iso(leap.to), '2036-02-29T00:00:00Z');
});

test('dense schedules are measured exactly and quickly', () => {
  assert.equal(gapOf(['* * * * *']).ms, 60_000);
  assert.equal(gapOf(['*/10 * * * * *']).ms, 10_000);
  // Every minute except during the 02:00 hour.
  const gap = gapOf(['* 0-1,3-23 * * *']);
  assert.equal(gap.ms, 61 * 60_000);
  assert.equal(iso(gap.from), '2030-01-01T01:59:00Z');
});

test('intervals count by their period, whatever their phase', () => {
  assert.deepEqual(gapOf([{ every: '6h' }]), { ms: h(6) });
  // An interval shorter than the cron gaps bounds the gap…
  assert.deepEqual(gapOf(['0 2 * * 0', { every: '12h' }]), { ms: h(12) });
  // …and a cron schedule denser than the interval does.
  assert.equal(gapOf(['0 2 * * *', { every: '2d' }]).ms, h(24));
  assert.deepEqual(gapOf([{ every: '2d' }, { every: '1d12h' }]), { ms: h(36) });
});

test('largestCronGap agrees with listing every run', () => {
  let seed = 777;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const pick = (min: number, max: number, n: number) =>
    [...new Set(Array.from({ length: n }, () => min + rand(max - min + 1)))].join(',');
  for (let i = 0; i < 40; i++) {
    const exprs = Array.from(
      { length: 1 + rand(3) },
      () =>
        `${pick(0, 59, 1 + rand(2))} ${pick(0, 23, 1 + rand(4))} ${rand(3) === 0 ? pick(1, 31, 3) : '*'} ` +
        `${rand(4) === 0 ? pick(1, 12, 4) : '*'} ${rand(2) ? '*' : pick(0, 6, 1 + rand(5))}`,
    );
    const crons = exprs.map(parseCron);
    const next = (t: number) =>
      Math.min(...crons.map((c) => nextRun(c, new Date(t))?.getTime() ?? Number.POSITIVE_INFINITY));
    // Every run from the window's first day to the first run after its last day, one by one.
    const end = start.getTime() + GAP_WINDOW_DAYS * 86_400_000;
    let largest = 0;
    let from = 0;
    for (let r = next(start.getTime() - 1); r < end; ) {
      const n = next(r);
      if (n - r > largest) [largest, from] = [n - r, r];
      r = n;
    }
    const gap = largestCronGap(crons, start);
    assert.equal(gap.ms, largest, exprs.join(' | '));
    assert.equal(gap.from?.getTime(), from, exprs.join(' | '));
  }
});
