import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inZone } from '../../test/support/time-zone.js';
import { ArcaError } from '../errors.js';
import type { Snapshot } from '../repo/snapshot.js';
import {
  applyPolicy,
  type Duration,
  defaultGroupBy,
  describePolicy,
  formatDuration,
  groupSnapshots,
  isEmptyPolicy,
  type KeepPolicy,
  type PolicyResult,
  parseDuration,
  parseGroupBy,
  validatePolicy,
} from './retention.js';

/** A snapshot whose ID is a readable label, so results read as lists of labels. */
function snap(id: string, time: string, extra: Partial<Snapshot> = {}): Snapshot {
  return { id, time, tree: '0'.repeat(64), paths: ['/data'], hostname: 'h', ...extra };
}

/** Kept and removed labels, newest first. */
function ids(r: PolicyResult): { keep: string[]; remove: string[] } {
  return { keep: r.keep.map((k) => k.snapshot.id), remove: r.remove.map((s) => s.id) };
}

const days = (n: number): Duration => ({ years: 0, months: 0, days: n, hours: 0 });
const now = new Date('2030-01-01T00:00:00Z');

function usageError(message: RegExp) {
  return (err: unknown) => err instanceof ArcaError && err.code === 'usage' && message.test(err.message);
}

test('parseDuration reads restic durations', () => {
  assert.deepEqual(parseDuration('1y2m3d4h'), { years: 1, months: 2, days: 3, hours: 4 });
  assert.deepEqual(parseDuration('4h3d'), { years: 0, months: 0, days: 3, hours: 4 });
  assert.deepEqual(parseDuration(' \t30d\n'), days(30));
  assert.deepEqual(parseDuration('1d2d'), days(2), 'a later pair replaces an earlier one');
  assert.deepEqual(parseDuration(''), days(0));
  assert.deepEqual(parseDuration('0d'), days(0));
  assert.deepEqual(parseDuration('-1d2h'), { years: 0, months: 0, days: -1, hours: 2 });
  assert.deepEqual(parseDuration('-0d'), days(0));
  assert.ok(!Object.is(parseDuration('-0d').days, -0));
});

test('parseDuration rejects what restic rejects, with restic reasons', () => {
  const cases: [string, RegExp][] = [
    ['2w', /invalid unit 'w' found after number 2$/],
    ['1D', /invalid unit 'D' found after number 1$/],
    ['30', /no unit found after number 30$/],
    ['1h2', /no unit found after number 2$/],
    ['d', /no number found$/],
    ['1d 2h', /no number found$/],
    ['1dx', /no number found$/],
    ['+1d', /no number found$/],
    ['--1d', /no number found$/],
    ['-', /no number found$/],
    ['٣d', /"٣" is not a decimal number$/],
    ['99999999999999999999d', /too large$/],
  ];
  for (const [text, message] of cases) {
    assert.throws(() => parseDuration(text), usageError(message), text);
  }
  assert.throws(() => parseDuration('2w'), {
    message: 'invalid duration "2w": invalid unit \'w\' found after number 2',
  });
});

test('formatDuration prints like restic and round-trips', () => {
  assert.equal(formatDuration({ years: 1, months: 2, days: 3, hours: 4 }), '1y2m3d4h');
  assert.equal(formatDuration({ years: 1, months: 0, days: 0, hours: 12 }), '1y12h');
  assert.equal(formatDuration(days(0)), '');
  for (const text of ['1y', '6m', '1y6m', '30d', '3d12h', '2h'])
    assert.equal(formatDuration(parseDuration(text)), text);
});

test('parseGroupBy accepts restic spellings and rejects anything else', () => {
  assert.deepEqual(parseGroupBy('host,paths'), defaultGroupBy);
  assert.deepEqual(parseGroupBy('hosts,tag'), { host: true, paths: false, tags: true });
  assert.deepEqual(parseGroupBy('path,tags'), { host: false, paths: true, tags: true });
  assert.deepEqual(parseGroupBy(''), { host: false, paths: false, tags: false });
  assert.deepEqual(parseGroupBy(',host,,'), { host: true, paths: false, tags: false });
  for (const bad of ['foo', ' host', 'HOST', 'host, paths']) {
    assert.throws(() => parseGroupBy(bad), usageError(/^unknown grouping option: '.*'$/), bad);
  }
});

test('groupSnapshots: host and sorted paths by default, keys like restic, input order kept', () => {
  const snaps = [
    snap('a1', '2022-01-01T00:00:00Z', { hostname: 'a', paths: ['/y', '/x'], tags: ['t2', 't1'] }),
    snap('b1', '2022-01-02T00:00:00Z', { hostname: 'b', paths: ['/x'] }),
    snap('a2', '2022-01-03T00:00:00Z', { hostname: 'a', paths: ['/x', '/y'] }),
    snap('a3', '2022-01-04T00:00:00Z', { hostname: 'a', paths: ['/x'], tags: ['t1', 't2'] }),
    snap('n1', '2022-01-05T00:00:00Z', { hostname: undefined, paths: ['/x'], tags: [] }),
  ];
  const byDefault = groupSnapshots(snaps, defaultGroupBy);
  assert.deepEqual(
    byDefault.map((g) => [g.key, g.snapshots.map((s) => s.id)]),
    [
      [{ hostname: '', paths: ['/x'], tags: null }, ['n1']],
      [{ hostname: 'a', paths: ['/x'], tags: null }, ['a3']],
      [{ hostname: 'a', paths: ['/x', '/y'], tags: null }, ['a1', 'a2']],
      [{ hostname: 'b', paths: ['/x'], tags: null }, ['b1']],
    ],
  );
  assert.deepEqual(snaps[0]!.paths, ['/y', '/x'], 'input snapshots are not modified');

  const byTags = groupSnapshots(snaps, parseGroupBy('tags'));
  assert.deepEqual(
    byTags.map((g) => [g.key, g.snapshots.map((s) => s.id)]),
    [
      [{ hostname: '', paths: null, tags: null }, ['b1', 'a2']],
      [{ hostname: '', paths: null, tags: [] }, ['n1']],
      [{ hostname: '', paths: null, tags: ['t1', 't2'] }, ['a1', 'a3']],
    ],
  );

  const all = groupSnapshots(snaps, parseGroupBy(''));
  assert.equal(all.length, 1);
  assert.deepEqual(all[0]!.key, { hostname: '', paths: null, tags: null });
  assert.deepEqual(
    all[0]!.snapshots.map((s) => s.id),
    snaps.map((s) => s.id),
  );
  assert.deepEqual(groupSnapshots([], defaultGroupBy), []);
});

test('an empty policy keeps everything, newest first', () => {
  const snaps = [snap('old', '2021-01-01T00:00:00Z'), snap('new', '2022-01-01T00:00:00Z')];
  assert.ok(isEmptyPolicy({}));
  assert.ok(isEmptyPolicy({ last: 0, within: days(0), tags: [] }));
  assert.ok(!isEmptyPolicy({ tags: [''] }));
  assert.ok(!isEmptyPolicy({ withinYearly: days(1) }));
  const r = applyPolicy(snaps, {});
  assert.deepEqual(ids(r), { keep: ['new', 'old'], remove: [] });
  assert.deepEqual(r.keep[0]!.reasons, ['policy is empty']);
  assert.deepEqual(r.keep[0]!.counters, {});
  assert.deepEqual(applyPolicy([], { last: 1 }), { keep: [], remove: [] });
});

test('keep-last keeps the newest n whatever the input order, with counters', () => {
  const snaps = [
    snap('s3', '2022-01-03T00:00:00Z'),
    snap('s1', '2022-01-01T00:00:00Z'),
    snap('s5', '2022-01-05T00:00:00Z'),
    snap('s2', '2022-01-02T00:00:00Z'),
    snap('s4', '2022-01-04T00:00:00Z'),
  ];
  const r = applyPolicy(snaps, { last: 3 });
  assert.deepEqual(ids(r), { keep: ['s5', 's4', 's3'], remove: ['s2', 's1'] });
  assert.deepEqual(
    r.keep.map((k) => [k.reasons, k.counters]),
    [
      [['last snapshot'], { last: 2 }],
      [['last snapshot'], { last: 1 }],
      [['last snapshot'], {}],
    ],
  );
});

test('snapshots with the same time keep their input order; nanoseconds count', () => {
  const tied = [
    snap('x', '2022-01-01T00:00:00Z'),
    snap('y', '2022-01-01T00:00:00Z'),
    snap('z', '2022-01-01T00:00:00Z'),
  ];
  assert.deepEqual(ids(applyPolicy(tied, { last: 2 })), { keep: ['x', 'y'], remove: ['z'] });
  const ns = [
    snap('a', '2022-01-01T00:00:00.000000001Z'),
    snap('b', '2022-01-01T00:00:00.000000002Z'),
    snap('c', '2022-01-01T01:00:00.000000001+01:00'),
  ];
  assert.deepEqual(ids(applyPolicy(ns, { last: 1 })), { keep: ['b'], remove: ['a', 'c'] });
});

test('keep-daily keeps the newest snapshot of each of the newest n days; a day uses one count', () => {
  const snaps = [
    snap('d1-early', '2022-03-01T08:00:00Z'),
    snap('d1-late', '2022-03-01T20:00:00Z'),
    snap('d2', '2022-03-02T12:00:00Z'),
    snap('d4-a', '2022-03-04T01:00:00Z'),
    snap('d4-b', '2022-03-04T23:59:59Z'),
  ];
  const r = applyPolicy(snaps, { daily: 2 });
  assert.deepEqual(ids(r), { keep: ['d4-b', 'd2'], remove: ['d4-a', 'd1-late', 'd1-early'] });
  assert.deepEqual(
    r.keep.map((k) => k.counters),
    [{ daily: 1 }, {}],
  );
  const all = applyPolicy(snaps, { daily: -1 });
  assert.deepEqual(ids(all), { keep: ['d4-b', 'd2', 'd1-late'], remove: ['d4-a', 'd1-early'] });
  assert.deepEqual(
    all.keep.map((k) => k.counters),
    [{ daily: -1 }, { daily: -1 }, { daily: -1 }],
    'unlimited counters stay -1, as restic ≥ 0.15 prints them',
  );
});

test('rules are independent: one snapshot may use a count of several rules', () => {
  const snaps = [
    snap('jan', '2022-01-15T00:00:00Z'),
    snap('feb1', '2022-02-01T00:00:00Z'),
    snap('feb2', '2022-02-02T00:00:00Z'),
    snap('feb3', '2022-02-03T00:00:00Z'),
  ];
  const r = applyPolicy(snaps, { last: 1, daily: 2, monthly: 2 });
  assert.deepEqual(ids(r), { keep: ['feb3', 'feb2', 'jan'], remove: ['feb1'] });
  assert.deepEqual(
    r.keep.map((k) => [k.reasons, k.counters]),
    [
      [['last snapshot', 'daily snapshot', 'monthly snapshot'], { daily: 1, monthly: 1 }],
      [['daily snapshot'], { monthly: 1 }],
      [['monthly snapshot'], {}],
    ],
  );
});

test('restic 0.14 does not keep the oldest snapshot extra while counts are left', () => {
  const snaps = [snap('a', '2022-01-01T00:00:00Z'), snap('b', '2022-06-01T00:00:00Z')];
  assert.deepEqual(ids(applyPolicy(snaps, { yearly: 5 })), { keep: ['b'], remove: ['a'] });
});

test('weeks are ISO weeks: 2021-01-03 belongs to week 53 of 2020', () => {
  const snaps = [
    snap('thu-2020-w53', '2020-12-31T12:00:00Z'),
    snap('sun-2020-w53', '2021-01-03T12:00:00Z'),
    snap('mon-2021-w01', '2021-01-04T12:00:00Z'),
    snap('sun-2021-w01', '2021-01-10T12:00:00Z'),
    snap('sun-2019-w52', '2019-12-29T12:00:00Z'),
    snap('mon-2020-w01', '2019-12-30T12:00:00Z'),
  ];
  assert.deepEqual(ids(applyPolicy(snaps, { weekly: -1 })), {
    keep: ['sun-2021-w01', 'sun-2020-w53', 'mon-2020-w01', 'sun-2019-w52'],
    remove: ['mon-2021-w01', 'thu-2020-w53'],
  });
});

test('buckets use the offset recorded in the snapshot, whatever the process zone (month/year edges, DST)', () => {
  const snaps = [
    // 2022-01-01T04:30Z, but recorded in New York on New Year's Eve: a 2021 snapshot.
    snap('nye-ny', '2021-12-31T23:30:00-05:00'),
    // 2021-12-31T23:30Z, recorded in Berlin after midnight: a 2022 snapshot.
    snap('ny-berlin', '2022-01-01T00:30:00+01:00'),
    snap('mid-2021', '2021-06-30T12:00:00Z'),
    // Berlin's spring-forward night: 01:59 CET and 03:01 CEST are two different hours.
    snap('pre-dst', '2022-03-27T01:59:00+01:00'),
    snap('post-dst', '2022-03-27T03:01:00+02:00'),
    snap('same-hour', '2022-03-27T03:30:00+02:00'),
  ];
  // Newest first: same-hour, post-dst, pre-dst, nye-ny, ny-berlin, mid-2021. A bucket is only
  // compared with the last kept one, so nye-ny (newer, but 2021) opens the 2022 bucket again.
  const expected = {
    yearly: { keep: ['same-hour', 'nye-ny', 'ny-berlin', 'mid-2021'], remove: ['post-dst', 'pre-dst'] },
    monthly: { keep: ['same-hour', 'nye-ny', 'ny-berlin', 'mid-2021'], remove: ['post-dst', 'pre-dst'] },
    hourly: { keep: ['same-hour', 'pre-dst', 'nye-ny', 'ny-berlin', 'mid-2021'], remove: ['post-dst'] },
  };
  for (const tz of ['UTC', 'Europe/Berlin', 'America/New_York', 'Asia/Kolkata']) {
    assert.deepEqual(ids(inZone(tz, () => applyPolicy(snaps, { yearly: 9 }))), expected.yearly, tz);
    assert.deepEqual(ids(inZone(tz, () => applyPolicy(snaps, { monthly: 9 }))), expected.monthly, tz);
    assert.deepEqual(ids(inZone(tz, () => applyPolicy(snaps, { hourly: 9 }))), expected.hourly, tz);
  }
});

test('keep-within counts back from the newest snapshot, not from now; the boundary itself is outside', () => {
  const snaps = [
    snap('newest', '2022-05-10T12:00:00Z'),
    snap('just-in', '2022-04-10T12:00:00.000000001Z'),
    snap('boundary', '2022-04-10T12:00:00Z'),
    snap('old', '2022-01-01T00:00:00Z'),
  ];
  const r = applyPolicy(snaps, { within: days(30) }, new Date('2040-01-01T00:00:00Z'));
  assert.deepEqual(ids(r), { keep: ['newest', 'just-in'], remove: ['boundary', 'old'] });
  assert.deepEqual(r.keep[0]!.reasons, ['within 30d']);
  assert.deepEqual(r.keep[0]!.counters, {});
  const withHours = applyPolicy(snaps, { within: parseDuration('29d24h') }, now);
  assert.deepEqual(ids(withHours), { keep: ['newest', 'just-in'], remove: ['boundary', 'old'] });
  assert.deepEqual(ids(applyPolicy(snaps, { within: parseDuration('30d1h') }, now)).remove, ['old']);
});

test('keep-within steps calendar months like Go AddDate: 31 March minus 1m is 3 March', () => {
  const snaps = [
    snap('newest', '2022-03-31T10:00:00Z'),
    snap('in', '2022-03-03T10:00:01Z'),
    snap('at', '2022-03-03T10:00:00Z'),
    snap('feb-28', '2022-02-28T10:00:00Z'),
  ];
  assert.deepEqual(ids(applyPolicy(snaps, { within: parseDuration('1m') }, now)), {
    keep: ['newest', 'in'],
    remove: ['at', 'feb-28'],
  });
  const leap = [snap('newest', '2024-02-29T00:00:00Z'), snap('at', '2023-03-01T00:00:00Z')];
  assert.deepEqual(ids(applyPolicy(leap, { within: parseDuration('1y') }, now)).remove, ['at']);
});

test('future snapshots are not the keep-within reference; a snapshot exactly at now is future', () => {
  const snaps = [
    snap('future', '2099-01-01T00:00:00Z'),
    snap('at-now', '2023-01-01T00:00:00Z'),
    snap('newest-past', '2022-12-31T00:00:00Z'),
    snap('in', '2022-12-30T12:00:00Z'),
    snap('out', '2022-12-29T00:00:00Z'),
  ];
  const r = applyPolicy(snaps, { within: days(1) }, new Date('2023-01-01T00:00:00Z'));
  assert.deepEqual(ids(r), { keep: ['future', 'at-now', 'newest-past', 'in'], remove: ['out'] });
  const allFuture = applyPolicy(snaps, { within: days(1) }, new Date('2000-01-01T00:00:00Z'));
  assert.deepEqual(ids(allFuture).remove, [], 'with no past snapshot the reference is year 1: all within');
});

test('keep-within in a DST zone follows local rules only when the process zone matches (as Go does)', () => {
  const snaps = [
    snap('newest', '2022-04-10T02:00:00+02:00'),
    snap('after', '2022-03-11T02:30:00+01:00'),
    snap('boundary', '2022-03-11T02:00:00+01:00'),
    snap('before', '2022-03-11T01:30:00+01:00'),
  ];
  const policy: KeepPolicy = { within: days(30) };
  // In Berlin, 30 days before 02:00 CEST is 02:00 CET: an hour later than fixed-offset arithmetic.
  assert.deepEqual(ids(inZone('Europe/Berlin', () => applyPolicy(snaps, policy, now))), {
    keep: ['newest', 'after'],
    remove: ['boundary', 'before'],
  });
  for (const tz of ['UTC', 'Asia/Tokyo', 'America/New_York']) {
    assert.deepEqual(ids(inZone(tz, () => applyPolicy(snaps, policy, now))), {
      keep: ['newest', 'after', 'boundary', 'before'],
      remove: [],
    });
  }
  // The hours part is exact time, not wall clock: 30d in Berlin reaches further than 720h.
  assert.deepEqual(
    ids(inZone('Europe/Berlin', () => applyPolicy(snaps, { within: parseDuration('720h') }, now))).remove,
    [],
  );
});

test('keep-tag: all tags of a list, any list; trimmed; empty tag means untagged, order quirk included', () => {
  const snaps = [
    snap('ab', '2022-01-05T00:00:00Z', { tags: ['a', 'b'] }),
    snap('a', '2022-01-04T00:00:00Z', { tags: ['a'] }),
    snap('c', '2022-01-03T00:00:00Z', { tags: ['c'] }),
    snap('untagged', '2022-01-02T00:00:00Z'),
    snap('empty-tags', '2022-01-01T00:00:00Z', { tags: [] }),
  ];
  const r = applyPolicy(snaps, { tags: ['a, b', 'c'] });
  assert.deepEqual(ids(r), { keep: ['ab', 'c'], remove: ['a', 'untagged', 'empty-tags'] });
  assert.deepEqual(r.keep[0]!.reasons, ['has tags [a, b]']);
  assert.deepEqual(r.keep[0]!.counters, {});
  const both = applyPolicy(snaps, { tags: ['a', 'b'] });
  assert.deepEqual(both.keep[0]!.reasons, ['has tags [a]', 'has tags [b]']);
  assert.deepEqual(ids(applyPolicy(snaps, { tags: [''] })).keep, ['untagged', 'empty-tags']);
  assert.deepEqual(applyPolicy(snaps, { tags: [''] }).keep[0]!.reasons, ['has tags []']);
  assert.deepEqual(ids(applyPolicy(snaps, { tags: [',a'] })).keep, ['untagged', 'empty-tags']);
  assert.deepEqual(ids(applyPolicy(snaps, { tags: ['a,'] })).keep, []);
});

test('keep-within-* keep one per bucket within the span, with no count', () => {
  const snaps = [
    snap('jun-2', '2022-06-02T10:00:00Z'),
    snap('jun-1b', '2022-06-01T20:00:00Z'),
    snap('jun-1a', '2022-06-01T08:00:00Z'),
    snap('may', '2022-05-15T00:00:00Z'),
    snap('jan', '2022-01-10T00:00:00Z'),
    snap('2021', '2021-07-01T00:00:00Z'),
  ];
  const r = applyPolicy(snaps, {
    withinDaily: days(3),
    withinMonthly: parseDuration('6m'),
    withinYearly: parseDuration('2y'),
  });
  assert.deepEqual(ids(r), { keep: ['jun-2', 'jun-1b', 'may', 'jan', '2021'], remove: ['jun-1a'] });
  assert.deepEqual(
    r.keep.map((k) => k.reasons),
    [
      ['daily within 3d', 'monthly within 6m', 'yearly within 2y'],
      ['daily within 3d'],
      ['monthly within 6m'],
      ['monthly within 6m'],
      ['yearly within 2y'],
    ],
  );
  const hourly = applyPolicy(snaps, { withinHourly: parseDuration('15h'), withinWeekly: days(10) });
  assert.deepEqual(ids(hourly).keep, ['jun-2', 'jun-1b']);
  assert.deepEqual(hourly.keep[1]!.reasons, ['hourly within 15h']);
});

test('reasons come in restic order: tags, within, counted rules, within-rules', () => {
  const snaps = [snap('s', '2022-01-01T00:00:00Z', { tags: ['x'] })];
  const r = applyPolicy(snaps, {
    tags: ['x'],
    within: days(1),
    last: 1,
    hourly: 1,
    daily: 1,
    weekly: 1,
    monthly: 1,
    yearly: 1,
    withinHourly: days(1),
    withinDaily: days(1),
    withinWeekly: days(1),
    withinMonthly: days(1),
    withinYearly: days(1),
  });
  assert.deepEqual(r.keep[0]!.reasons, [
    'has tags [x]',
    'within 1d',
    'last snapshot',
    'hourly snapshot',
    'daily snapshot',
    'weekly snapshot',
    'monthly snapshot',
    'yearly snapshot',
    'hourly within 1d',
    'daily within 1d',
    'weekly within 1d',
    'monthly within 1d',
    'yearly within 1d',
  ]);
});

test('the policy applies to each group separately', () => {
  const snaps = [
    snap('a1', '2022-01-01T00:00:00Z', { hostname: 'a' }),
    snap('b1', '2022-01-02T00:00:00Z', { hostname: 'b' }),
    snap('a2', '2022-01-03T00:00:00Z', { hostname: 'a' }),
    snap('b2', '2022-01-04T00:00:00Z', { hostname: 'b' }),
    snap('a3', '2022-01-05T00:00:00Z', { hostname: 'a', paths: ['/other'] }),
  ];
  const outcome = groupSnapshots(snaps, defaultGroupBy).map((g) => [
    g.key.hostname,
    ids(applyPolicy(g.snapshots, { last: 1 })),
  ]);
  assert.deepEqual(outcome, [
    ['a', { keep: ['a2'], remove: ['a1'] }],
    ['a', { keep: ['a3'], remove: [] }],
    ['b', { keep: ['b2'], remove: ['b1'] }],
  ]);
});

test('validatePolicy: counts ≥ -1, whole numbers, durations without negative parts', () => {
  validatePolicy({ last: -1, daily: 0, yearly: 100, within: days(0) });
  assert.throws(() => validatePolicy({ last: -2 }), usageError(/keep-last must be a whole number/));
  assert.throws(() => validatePolicy({ weekly: 1.5 }), usageError(/keep-weekly/));
  assert.throws(() => validatePolicy({ within: parseDuration('-1d') }), usageError(/negative values/));
  assert.throws(
    () => validatePolicy({ withinDaily: { years: 0, months: 0, days: 0.5, hours: 0 } }),
    usageError(/withinDaily/),
  );
  assert.throws(
    () => applyPolicy([snap('s', '2022-01-01T00:00:00Z')], { hourly: -3 }),
    usageError(/keep-hourly/),
  );
  assert.throws(
    () => applyPolicy([snap('s', 'yesterday')], { last: 1 }),
    (err: unknown) => err instanceof ArcaError && err.code === 'corrupt',
  );
});

test('describePolicy prints restic’s “Applying Policy” text', () => {
  assert.equal(
    describePolicy({
      last: 2,
      daily: 3,
      within: days(1),
      withinHourly: days(2),
      tags: ['a, b', 'c'],
    }),
    'keep 2 latest, 3 daily snapshots, hourly snapshots within 2d and all snapshots with tags [[a, b] [c]] and all snapshots within 1d of the newest',
  );
  assert.equal(describePolicy({ withinDaily: days(2) }), 'keep daily snapshots within 2d');
  assert.equal(
    describePolicy({ monthly: -1, tags: ['x'] }),
    'keep all monthly snapshots and all snapshots with tags [[x]]',
  );
});
