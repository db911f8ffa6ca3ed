import assert from 'node:assert/strict';
import { test } from 'node:test';
import { nextRun, parseCron, previousRun } from './cron.js';
import { GAP_WINDOW_DAYS, largestCronGap, scheduleGap } from './schedule_gap.js';

const start = new Date('2030-01-01T00:00:00Z');
const h = (n: number) => n * 3_600_000;
const iso = (d: Date | undefined) => d?.toISOString().replace('.000Z', 'Z');
const gapOf = (triggers: Parameters<typeof scheduleGap>[0], from = start, timezone = 'UTC') =>
  scheduleGap(triggers, from, timezone);

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

test('in a time zone, days are local days and the runs are at local times', () => {
  // 02:00 Berlin time on weekdays: from Friday 01:00Z to Monday 01:00Z in winter.
  const gap = gapOf(['0 2 * * 1-5'], start, 'Europe/Berlin');
  assert.equal(gap.ms, h(72));
  assert.equal(iso(gap.from), '2030-01-04T01:00:00Z');
  assert.equal(iso(gap.to), '2030-01-07T01:00:00Z');
  // Office hours in New York: 17:00 to 08:00 local, whatever the season.
  assert.equal(gapOf(['0 8-17 * * *'], start, 'America/New_York').ms, h(15));
  // Midnight on the 1st, local time: the longest month, from the start of the local day.
  const monthly = gapOf(['0 0 1 * *'], new Date('2030-02-15T00:00:00Z'), 'Asia/Tokyo');
  assert.equal(iso(monthly.from), '2030-02-28T15:00:00Z');
  assert.equal(monthly.ms, h(31 * 24));
});

test('the hour the clocks go back is not counted: a daily job stays 24h apart', () => {
  // 01:30 Berlin runs 23h apart on 2030-03-31 and 25h apart on 2030-10-27; measured as 23h and 24h.
  const daily = gapOf(['30 1 * * *'], start, 'Europe/Berlin');
  assert.equal(daily.ms, h(24));
  assert.equal(iso(daily.from), '2030-01-01T00:30:00Z');
  const autumn = gapOf(['30 1 * * *'], new Date('2030-10-26T12:00:00Z'), 'Europe/Berlin');
  assert.equal(autumn.ms, h(24));
  // A weekly job across the change: 169 real hours, a week on the wall clock.
  assert.equal(gapOf(['0 3 * * 0'], new Date('2030-10-20T12:00:00Z'), 'Europe/Berlin').ms, h(7 * 24));
  // Skipped in spring (02:30 does not exist), it runs at 03:00: 23.5h, then 23.5h; a real gap counts whole.
  const skipped = gapOf(['30 2 * * *'], new Date('2030-03-25T00:00:00Z'), 'Europe/Berlin');
  assert.equal(skipped.ms, h(24));
  // Every 30 minutes: the repeated hour runs twice, the skipped hour leaves 30 minutes.
  assert.equal(gapOf(['*/30 * * * *'], new Date('2030-03-25T00:00:00Z'), 'Europe/Berlin').ms, 30 * 60_000);
  // Midnight, then 05:00 onwards: across the change the night is 6 real hours in autumn,
  // counted as 5, and 4 real hours in spring, counted as 4.
  const autumnNight = largestCronGap(
    ['0 0,5-23 * * *'],
    new Date('2030-10-27T12:00:00Z'),
    'Europe/Berlin',
    1,
  );
  assert.deepEqual(
    [autumnNight.ms, iso(autumnNight.from), iso(autumnNight.to)],
    [h(5), '2030-10-26T22:00:00Z', '2030-10-27T04:00:00Z'],
  );
  const springNight = largestCronGap(
    ['0 0,5-23 * * *'],
    new Date('2030-03-31T12:00:00Z'),
    'Europe/Berlin',
    1,
  );
  assert.deepEqual(
    [springNight.ms, iso(springNight.from), iso(springNight.to)],
    [h(4), '2030-03-30T23:00:00Z', '2030-03-31T03:00:00Z'],
  );
});

test('largestCronGap agrees with listing every run, in UTC and across DST changes', () => {
  let seed = 777;
  const rand = (n: number) => {
    seed = (seed * 1103515245 + 12345) % 2 ** 31;
    return seed % n;
  };
  const pick = (min: number, max: number, n: number) =>
    [...new Set(Array.from({ length: n }, () => min + rand(max - min + 1)))].join(',');
  const zones = ['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Lord_Howe'];
  for (let i = 0; i < 48; i++) {
    const timezone = zones[i % zones.length]!;
    const exprs = Array.from(
      { length: 1 + rand(3) },
      () =>
        `${pick(0, 59, 1 + rand(2))} ${pick(0, 23, 1 + rand(4))} ${rand(3) === 0 ? pick(1, 31, 3) : '*'} ` +
        `${rand(4) === 0 ? pick(1, 12, 4) : '*'} ${rand(2) ? '*' : pick(0, 6, 1 + rand(5))}`,
    );
    const crons = exprs.map((e) => parseCron(e, timezone));
    const next = (t: number) =>
      Math.min(...crons.map((c) => nextRun(c, new Date(t))?.getTime() ?? Number.POSITIVE_INFINITY));
    const format = new Intl.DateTimeFormat('sv-SE', {
      timeZone: timezone,
      dateStyle: 'short',
      timeStyle: 'medium',
    });
    const offset = (t: number) => Date.parse(`${format.format(t).replace(' ', 'T')}Z`) - t;
    // Every run from the window's first local day to the first run after its last day, one by one.
    const from0 = previousRun(parseCron('0 0 * * *', timezone), start)!.getTime();
    const end = from0 + (GAP_WINDOW_DAYS + 1) * 86_400_000;
    let largest = 0;
    let from = 0;
    for (let r = next(from0 - 1); r < end; ) {
      const n = next(r);
      const measured = n - r - Math.max(0, offset(r) - offset(n));
      if (measured > largest) [largest, from] = [measured, r];
      r = n;
    }
    const gap = largestCronGap(exprs, start, timezone);
    const context = `${exprs.join(' | ')} in ${timezone}`;
    assert.equal(gap.ms, largest, context);
    assert.equal(gap.from?.getTime(), from, context);
  }
});
