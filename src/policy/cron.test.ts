import assert from 'node:assert/strict';
import { test } from 'node:test';
import { ArcaError } from '../errors.js';
import { nextRun, parseCron, previousRun } from './cron.js';

const iso = (d: Date | null) => (d === null ? null : d.toISOString().replace('.000Z', 'Z'));

/** The next `n` runs of `expr` after `from`, as ISO strings. */
function runs(expr: string, from: string, n: number, timezone = 'UTC'): (string | null)[] {
  const c = parseCron(expr, timezone);
  const out: (string | null)[] = [];
  let t: Date | null = new Date(from);
  for (let i = 0; i < n && t !== null; i++) {
    t = nextRun(c, t);
    out.push(iso(t));
  }
  return out;
}

test('the syntax arca accepts, croner evaluating it', () => {
  for (const expr of [
    '30 1 * * *',
    '0 30 1 * * *',
    '*/15 0-6,22-23 * * MON-FRI',
    '0 2 1-7 jan,Jul *',
    '0 0 ? * 7',
    '0 0 1-31/2 * 5-7',
    '  0\t0   * * *  ',
    '0 0 L * *',
    '0 0 15W * *',
    '0 0 * * 5#2',
    '0 0 * * FRI#L',
    '0 12 1 * +MON',
    '@hourly',
    '@Daily',
    '@midnight',
    '@weekly',
    '@monthly',
    '@yearly',
    '@annually',
  ]) {
    assert.doesNotThrow(() => parseCron(expr, 'UTC'), expr);
  }
});

test('malformed expressions are refused, quoting them and naming what is wrong', () => {
  const cases: [string, RegExp][] = [
    ['* * * *', /^cron expression "\* \* \* \*": expected 5 fields .* got 4$/],
    ['* * * * * * *', /got 7/],
    ['', /got 0/],
    ['2030-01-01T00:00:00', /got 1/],
    ['60 * * * *', /: minute 60 is out of range 0-59$/],
    ['0 25 * * *', /hour 25 is out of range 0-23/],
    ['0 0 0 * *', /day of month 0 is out of range 1-31/],
    ['0 0 32W * *', /day of month 32 is out of range 1-31/],
    ['0 0 * 1,13 *', /month 13 is out of range 1-12/],
    ['0 0 * * 3-8', /day of week 8 is out of range 0-7/],
    ['61 * * * * *', /second 61 is out of range 0-59/],
    ['* * * foo *', /"foo" is not a valid month/],
    ['*/x * * * *', /"\*\/x" is not a valid minute/],
    ['1,,2 * * * *', /empty item in the minute field "1,,2"/],
    ['5-1 * * * *', /larger than .*'5-1'/],
    ['*/0 * * * *', /illegal stepping/],
    ['5/15 * * * *', /stepping with numeric prefix \('5\/15'\) is not allowed\. Use wildcard/],
    ['1-2-3 * * * *', /illegal range: '1-2-3'/],
    ['0 0 * * 1#6', /nth weekday out of range/],
    ['@often', /unknown nickname \(use one of @yearly, .*@hourly\)/],
    ['@reboot', /unknown nickname/],
  ];
  for (const [expr, why] of cases) {
    assert.throws(
      () => parseCron(expr, 'UTC'),
      (e: unknown) => e instanceof ArcaError && e.code === 'usage' && why.test(e.message),
      `${expr} should fail with ${why}`,
    );
  }
  assert.throws(
    () => parseCron('* * * * *', 'Mars/Olympus'),
    (e: unknown) => e instanceof ArcaError && /time zone "Mars\/Olympus" is not known/.test(e.message),
  );
});

test('nextRun gives the following runs, strictly after the given moment', () => {
  assert.deepEqual(runs('*/15 * * * *', '2030-01-01T00:00:00Z', 3), [
    '2030-01-01T00:15:00Z',
    '2030-01-01T00:30:00Z',
    '2030-01-01T00:45:00Z',
  ]);
  assert.deepEqual(runs('30 1 * * *', '2030-12-31T01:30:00Z', 2), [
    '2031-01-01T01:30:00Z',
    '2031-01-02T01:30:00Z',
  ]);
  assert.deepEqual(runs('30 1 * * *', '2030-12-31T01:29:59.999Z', 1), ['2030-12-31T01:30:00Z']);
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
  assert.deepEqual(runs('0 0 29 2 *', '2030-01-01T00:00:00Z', 2), [
    '2032-02-29T00:00:00Z',
    '2036-02-29T00:00:00Z',
  ]);
  assert.deepEqual(runs('0 3 L * *', '2030-01-01T00:00:00Z', 2), [
    '2030-01-31T03:00:00Z',
    '2030-02-28T03:00:00Z',
  ]);
});

test('a sixth field in front gives seconds', () => {
  assert.deepEqual(runs('*/20 * * * * *', '2030-01-01T00:00:05.500Z', 3), [
    '2030-01-01T00:00:20Z',
    '2030-01-01T00:00:40Z',
    '2030-01-01T00:01:00Z',
  ]);
  assert.deepEqual(runs('15 30 1 * * *', '2030-01-01T00:00:00Z', 1), ['2030-01-01T01:30:15Z']);
});

test('nicknames, in any case', () => {
  assert.deepEqual(runs('@weekly', '2030-01-01T00:00:00Z', 2), [
    '2030-01-06T00:00:00Z',
    '2030-01-13T00:00:00Z',
  ]);
  assert.deepEqual(runs('@HOURLY', '2030-01-01T00:00:00Z', 1), ['2030-01-01T01:00:00Z']);
  assert.deepEqual(runs('@monthly', '2030-01-01T00:00:00Z', 1), ['2030-02-01T00:00:00Z']);
  assert.deepEqual(runs('@annually', '2030-01-01T00:00:00Z', 1), ['2031-01-01T00:00:00Z']);
});

test('day of month and day of week: either when both are restricted, both when one starts with * or ?', () => {
  // The 13th, or any Friday.
  assert.deepEqual(runs('0 0 13 * 5', '2030-01-01T00:00:00Z', 4), [
    '2030-01-04T00:00:00Z',
    '2030-01-11T00:00:00Z',
    '2030-01-13T00:00:00Z',
    '2030-01-18T00:00:00Z',
  ]);
  // 1-31 is a restriction, so with a weekday every day runs.
  assert.deepEqual(runs('0 0 1-31 * 5', '2030-01-01T00:00:00Z', 2), [
    '2030-01-02T00:00:00Z',
    '2030-01-03T00:00:00Z',
  ]);
  // Every other day that is also a Friday: */2 starts with a star (croner alone would take either).
  assert.deepEqual(runs('0 0 */2 * fri', '2030-01-01T00:00:00Z', 2), [
    '2030-01-11T00:00:00Z',
    '2030-01-25T00:00:00Z',
  ]);
  assert.deepEqual(runs('0 0 ? * 5', '2030-01-01T00:00:00Z', 1), ['2030-01-04T00:00:00Z']);
  // The same with the star in the day of week: the 1st when it is a Sunday, Wednesday or Saturday.
  assert.deepEqual(runs('0 0 1 * */3', '2030-01-01T00:00:00Z', 2), [
    '2030-05-01T00:00:00Z',
    '2030-06-01T00:00:00Z',
  ]);
  // + asks for both explicitly: the 1st when it is a Monday (2030-04-01 is one).
  assert.deepEqual(runs('0 12 1 * +MON', '2030-01-01T00:00:00Z', 1), ['2030-04-01T12:00:00Z']);
});

test('time zones: 01:30 in Berlin is 00:30Z in winter and 23:30Z the day before in summer', () => {
  assert.deepEqual(runs('30 1 * * *', '2030-01-10T00:00:00Z', 1, 'Europe/Berlin'), ['2030-01-10T00:30:00Z']);
  assert.deepEqual(runs('30 1 * * *', '2030-07-10T00:00:00Z', 1, 'Europe/Berlin'), ['2030-07-10T23:30:00Z']);
  // Clocks go forward on 2030-03-31 and back on 2030-10-27: 23h, then 25h between runs.
  assert.deepEqual(runs('30 1 * * *', '2030-03-31T00:00:00Z', 2, 'Europe/Berlin'), [
    '2030-03-31T00:30:00Z',
    '2030-03-31T23:30:00Z',
  ]);
  assert.deepEqual(runs('30 1 * * *', '2030-10-26T00:00:00Z', 2, 'Europe/Berlin'), [
    '2030-10-26T23:30:00Z',
    '2030-10-28T00:30:00Z',
  ]);
  assert.deepEqual(runs('30 1 * * *', '2030-07-10T00:00:00Z', 1, 'America/New_York'), [
    '2030-07-10T05:30:00Z',
  ]);
  assert.deepEqual(runs('30 1 * * *', '2030-07-10T00:00:00Z', 1, 'UTC'), ['2030-07-10T01:30:00Z']);
});

test('DST: a fixed time skipped runs after the gap, a repeated one runs once; an hourly job runs in both passes', () => {
  // 02:30 does not exist on 2030-03-31 in Berlin: it runs at 03:00 CEST (01:00Z).
  assert.deepEqual(runs('30 2 * * *', '2030-03-30T12:00:00Z', 2, 'Europe/Berlin'), [
    '2030-03-31T01:00:00Z',
    '2030-04-01T00:30:00Z',
  ]);
  // A list of fixed times is a fixed-time job too (as in Vixie cron): its 02:00 run is not dropped.
  assert.deepEqual(runs('0 2,14 * * *', '2030-03-30T12:00:00Z', 3, 'Europe/Berlin'), [
    '2030-03-30T13:00:00Z',
    '2030-03-31T01:00:00Z',
    '2030-03-31T12:00:00Z',
  ]);
  // 02:30 happens twice on 2030-10-27: it runs at the first.
  assert.deepEqual(runs('30 2 * * *', '2030-10-26T12:00:00Z', 2, 'Europe/Berlin'), [
    '2030-10-27T00:30:00Z',
    '2030-10-28T01:30:00Z',
  ]);
  assert.deepEqual(runs('30 * * * *', '2030-10-26T23:00:00Z', 4, 'Europe/Berlin'), [
    '2030-10-26T23:30:00Z',
    '2030-10-27T00:30:00Z',
    '2030-10-27T01:30:00Z',
    '2030-10-27T02:30:00Z',
  ]);
});

test('without a time zone the machine’s local time is used', () => {
  const run = nextRun(parseCron('30 1 * * *'), new Date(2030, 0, 15, 12, 0, 0))!;
  assert.deepEqual([run.getDate(), run.getHours(), run.getMinutes()], [16, 1, 30]);
});

test('previousRun counts a run exactly at the moment, and nextRun does not', () => {
  const c = parseCron('*/15 * * * *', 'UTC');
  const at = new Date('2030-01-01T00:15:00Z');
  assert.equal(iso(previousRun(c, at)), '2030-01-01T00:15:00Z');
  assert.equal(iso(previousRun(c, new Date('2030-01-01T00:15:00.999Z'))), '2030-01-01T00:15:00Z');
  assert.equal(iso(previousRun(c, new Date('2030-01-01T00:14:59.999Z'))), '2030-01-01T00:00:00Z');
  assert.equal(iso(nextRun(c, at)), '2030-01-01T00:30:00Z');
  assert.equal(iso(nextRun(c, new Date('2030-01-01T00:14:59.999Z'))), '2030-01-01T00:15:00Z');
  const seconds = parseCron('*/10 * * * * *', 'UTC');
  assert.equal(iso(previousRun(seconds, new Date('2030-01-01T00:00:10Z'))), '2030-01-01T00:00:10Z');
  assert.equal(iso(previousRun(seconds, new Date('2030-01-01T00:00:09.999Z'))), '2030-01-01T00:00:00Z');
  // Across a year end, a month end and in a time zone.
  assert.equal(
    iso(previousRun(parseCron('@yearly', 'UTC'), new Date('2030-06-01T00:00:00Z'))),
    '2030-01-01T00:00:00Z',
  );
  assert.equal(
    iso(previousRun(parseCron('0 0 L * *', 'UTC'), new Date('2030-03-15T00:00:00Z'))),
    '2030-02-28T00:00:00Z',
  );
  const berlin = parseCron('30 1 * * *', 'Europe/Berlin');
  assert.equal(iso(previousRun(berlin, new Date('2030-07-10T23:30:00Z'))), '2030-07-10T23:30:00Z');
  assert.equal(iso(previousRun(berlin, new Date('2030-07-10T23:29:59Z'))), '2030-07-09T23:30:00Z');
});

test('previousRun looks back at most 400 days', () => {
  const leap = parseCron('0 0 29 2 *', 'UTC');
  assert.equal(iso(previousRun(leap, new Date('2029-01-01T00:00:00Z'))), '2028-02-29T00:00:00Z');
  assert.equal(previousRun(leap, new Date('2030-01-01T00:00:00Z')), null);
});

test('an expression that never runs gives null both ways', () => {
  for (const expr of ['0 0 30 2 *', '0 0 31 4,6,9,11 *']) {
    const c = parseCron(expr, 'UTC');
    assert.equal(nextRun(c, new Date('2030-01-01T00:00:00Z')), null, expr);
    assert.equal(previousRun(c, new Date('2030-01-01T00:00:00Z')), null, expr);
  }
});

test('previousRun and nextRun agree on generated expressions, across DST changes', () => {
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
  const zones = ['UTC', 'Europe/Berlin', 'America/New_York', 'Australia/Sydney'];
  for (let i = 0; i < 120; i++) {
    const expr = [
      field(0, 59),
      field(0, 23),
      field(1, 31),
      rand(3) === 0 ? field(1, 12) : '*',
      field(0, 6),
    ].join(' ');
    const timezone = zones[i % zones.length]!;
    const c = parseCron(expr, timezone);
    // Near a DST change (late March or late October) half of the time.
    const month = rand(2) === 0 ? [2, 9][rand(2)]! : rand(12);
    let t = new Date(
      Date.UTC(2030, month, rand(2) === 0 ? 24 + rand(7) : 1 + rand(28), rand(24), rand(60), rand(60)),
    );
    for (let k = 0; k < 4; k++) {
      const next = nextRun(c, t);
      if (next === null) break;
      const context = `${expr} in ${timezone} after ${t.toISOString()}`;
      assert.ok(next > t, context);
      assert.equal(iso(previousRun(c, next)), iso(next), context);
      const before = previousRun(c, new Date(next.getTime() - 1));
      if (before !== null) {
        assert.ok(before < next, context);
        assert.equal(iso(nextRun(c, before)), iso(next), context);
      }
      t = next;
    }
  }
});
