import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { JournalRecord } from '../journal/record.js';
import type { Policy } from '../policy/schema.js';
import { makePlan } from './plan.js';

function policy(
  schedule: Policy['datasets'][string]['schedule'],
  extra: Partial<Policy> = {},
  rpo = '26h',
): Policy {
  return {
    metadata: {
      id: 'POL-1',
      version: '1',
      owner: 'o',
      approved_by: 'a',
      approved_on: '2026-01-01',
      next_review: '2027-01-01',
    },
    repositories: {
      local: {
        location: '/r',
        site: 'main',
        media: 'disk',
        offsite: false,
        immutable: false,
        password: { env: 'P' },
      },
    },
    datasets: {
      files: {
        owner: 'o',
        classification: 'internal',
        tier: 2,
        rpo,
        rto: '8h',
        mtd: '3d',
        sources: { paths: ['/data'] },
        schedule,
        copies: ['local'],
      },
    },
    scheduler: { timezone: 'UTC' },
    ...extra,
  };
}

let seq = 0;
function rec(operation: string, started: string, fields: Partial<JournalRecord> = {}): JournalRecord {
  seq++;
  return {
    seq,
    prev_hash: '',
    hash: '',
    recorded_at: started,
    who: 't@h',
    operation,
    started_at: started,
    ended_at: started,
    duration_ms: 0,
    dataset: 'files',
    repository: '/r',
    level: null,
    snapshot_id: null,
    bytes_read: null,
    files_read: null,
    bytes_added: null,
    files_added: null,
    result: 'success',
    error: null,
    policy_hash: null,
    details: {},
    ...fields,
  };
}

const weekly = { full: '30 1 * * 0', differential: '30 1 * * 3', incremental: '30 1 * * 1,2,4-6' };

test('a dataset never run is due at once, at its highest level, and is not yet in breach', () => {
  const plan = makePlan(policy(weekly), [], new Date('2026-11-25T12:00:00Z'));
  const d = plan.datasets[0]!;
  assert.equal(d.run, 'full');
  assert.equal(d.status, 'never-run');
  assert.match(d.reason, /^full: never run/);
  assert.equal(d.rpoBreach, false);
  assert.equal(d.next?.toISOString(), '2026-11-26T01:30:00.000Z');
});

test('the level whose scheduled moment came since its last run is due; a full covers the lower levels', () => {
  // Sunday 2026-11-22 01:30 full ran; now is Monday 02:00: Monday's incremental is due.
  const records = [rec('backup', '2026-11-22T01:30:02Z', { level: 'full' })];
  let plan = makePlan(policy(weekly), records, new Date('2026-11-23T02:00:00Z'));
  assert.equal(plan.datasets[0]!.run, 'incremental');
  assert.match(plan.datasets[0]!.reason, /incremental: scheduled 2026-11-23T01:30:00.000Z/);
  assert.equal(plan.datasets[0]!.status, 'due');
  // Sunday 01:45: the full ran at 01:30 and covers the incremental (not scheduled on Sundays anyway).
  plan = makePlan(policy(weekly), records, new Date('2026-11-22T01:45:00Z'));
  assert.equal(plan.datasets[0]!.run, null);
  assert.equal(plan.datasets[0]!.status, 'ok');
  assert.equal(plan.datasets[0]!.next?.toISOString(), '2026-11-23T01:30:00.000Z');
  // Wednesday 01:31 after Monday's and Tuesday's incrementals: the differential is due.
  records.push(
    rec('backup', '2026-11-23T01:30:01Z', { level: 'incremental' }),
    rec('backup', '2026-11-24T01:30:01Z', { level: 'incremental' }),
  );
  plan = makePlan(policy(weekly), records, new Date('2026-11-25T01:31:00Z'));
  assert.equal(plan.datasets[0]!.run, 'differential');
});

test('moments missed while nothing ran collapse into one run of the highest level due', () => {
  const records = [rec('backup', '2026-11-10T01:30:00Z', { level: 'full' })];
  // Two Sundays, a Wednesday and many weekdays passed: one full.
  const plan = makePlan(policy(weekly), records, new Date('2026-11-25T09:00:00Z'));
  assert.equal(plan.datasets[0]!.run, 'full');
  assert.equal(plan.datasets[0]!.rpoBreach, true);
  assert.equal(plan.datasets[0]!.status, 'late');
});

test('a differential with no full to compare against runs as a full', () => {
  const records = [rec('backup', '2026-11-22T01:30:00Z', { level: 'full', result: 'failed', error: 'boom' })];
  const plan = makePlan(policy(weekly), records, new Date('2026-11-25T01:31:00Z'));
  assert.equal(plan.datasets[0]!.run, 'full');
  assert.match(plan.datasets[0]!.reason, /differential: .*runs as a full: no full backup yet/);
});

test('a failed run counts as a run: it is not due again until its next moment, and the dataset is failing', () => {
  const records = [
    rec('backup', '2026-11-22T01:30:00Z', { level: 'full' }),
    rec('backup', '2026-11-23T01:30:00Z', { level: 'incremental', result: 'failed', error: 'disk full' }),
  ];
  const plan = makePlan(policy(weekly), records, new Date('2026-11-23T03:00:00Z'));
  assert.equal(plan.datasets[0]!.run, null);
  assert.equal(plan.datasets[0]!.status, 'failing');
  assert.equal(plan.datasets[0]!.lastResult?.error, 'disk full');
  assert.equal(plan.datasets[0]!.lastGood?.toISOString(), '2026-11-22T01:30:00.000Z');
});

test('intervals run again when their time has passed since the last run of the level or a higher one', () => {
  const schedule = { full: { every: '7d' }, incremental: { every: '6h' } };
  const records = [rec('backup', '2026-11-25T00:00:00Z', { level: 'full' })];
  let plan = makePlan(policy(schedule), records, new Date('2026-11-25T05:00:00Z'));
  assert.equal(plan.datasets[0]!.run, null);
  assert.equal(plan.datasets[0]!.next?.toISOString(), '2026-11-25T06:00:00.000Z');
  plan = makePlan(policy(schedule), records, new Date('2026-11-25T07:00:00Z'));
  assert.equal(plan.datasets[0]!.run, 'incremental');
  assert.match(plan.datasets[0]!.reason, /every 6h/);
});

test('an interrupted run does not count: the level is due again, so a restart catches it up', () => {
  const records = [
    rec('backup', '2026-11-22T01:30:00Z', { level: 'full' }),
    rec('backup', '2026-11-23T01:30:00Z', { level: 'incremental', result: 'interrupted' }),
  ];
  const plan = makePlan(policy(weekly), records, new Date('2026-11-23T02:00:00Z'));
  assert.equal(plan.datasets[0]!.run, 'incremental');
  assert.equal(plan.datasets[0]!.lastResult?.result, 'success');
});

test('with no good backup yet, the RPO counts from the first attempt', () => {
  const records = [rec('backup', '2026-11-22T01:30:00Z', { level: 'full', result: 'failed' })];
  assert.equal(
    makePlan(policy(weekly), records, new Date('2026-11-23T01:00:00Z')).datasets[0]!.rpoBreach,
    false,
  );
  assert.equal(
    makePlan(policy(weekly), records, new Date('2026-11-23T03:31:00Z')).datasets[0]!.rpoBreach,
    true,
  );
});

test('an RPO breach is the newest good backup older than the RPO; partial backups count as good', () => {
  const records = [
    rec('backup', '2026-11-24T01:00:00Z', { level: 'full', result: 'partial' }),
    rec('backup', '2026-11-25T01:00:00Z', { level: 'incremental', result: 'failed' }),
  ];
  const p = policy(weekly, {}, '24h');
  assert.equal(makePlan(p, records, new Date('2026-11-25T00:59:00Z')).datasets[0]!.rpoBreach, false);
  const late = makePlan(p, records, new Date('2026-11-25T01:01:00Z')).datasets[0]!;
  assert.equal(late.rpoBreach, true);
  assert.equal(late.status, 'late');
});

test('cron expressions are read in the policy time zone', () => {
  const p = policy({ full: '30 1 * * *' }, {});
  p.scheduler = { timezone: 'Europe/Berlin' };
  const records = [rec('backup', '2026-07-01T00:00:00Z', { level: 'full' })];
  // 01:30 in Berlin in July is 23:30 UTC the day before.
  const plan = makePlan(p, records, new Date('2026-07-01T12:00:00Z'));
  assert.equal(plan.datasets[0]!.next?.toISOString(), '2026-07-01T23:30:00.000Z');
  assert.equal(makePlan(p, records, new Date('2026-07-01T23:31:00Z')).datasets[0]!.run, 'full');
});

test('prunes follow their own schedule, from prune records naming the repository', () => {
  const p = policy({ full: '0 1 * * *' });
  p.repositories.local!.prune = { schedule: '0 3 * * 0' };
  // Nothing backed up yet: nothing to prune.
  let plan = makePlan(p, [], new Date('2026-11-25T12:00:00Z'));
  assert.deepEqual(
    plan.prunes.map((x) => [x.repository, x.due]),
    [['local', false]],
  );
  // Never pruned: due at the first scheduled moment after the first backup.
  const first = [rec('backup', '2026-11-20T01:00:00Z', { level: 'full' })];
  assert.equal(makePlan(p, first, new Date('2026-11-21T12:00:00Z')).prunes[0]!.due, false);
  assert.equal(makePlan(p, first, new Date('2026-11-22T03:00:00Z')).prunes[0]!.due, true);
  const records = [
    rec('prune', '2026-11-22T03:00:01Z', { dataset: null, details: { repository_name: 'local' } }),
  ];
  plan = makePlan(p, records, new Date('2026-11-25T12:00:00Z'));
  assert.equal(plan.prunes[0]!.due, false);
  assert.equal(plan.prunes[0]!.next?.toISOString(), '2026-11-29T03:00:00.000Z');
  // A prune someone ran by hand (no repository name) does not count.
  plan = makePlan(
    p,
    [...first, rec('prune', '2026-11-24T03:00:00Z', { dataset: null })],
    new Date('2026-11-25T12:00:00Z'),
  );
  assert.equal(plan.prunes[0]!.due, true);
});

test('a restore drill is due once the dataset has a good backup, then every drill.every; simulated drills do not count', () => {
  const base = policy({ full: { every: '1d' } });
  const p = { ...base, datasets: { files: { ...base.datasets.files!, drill: { every: '30d' } } } };
  const drill = (started: string, simulated = false) =>
    rec('drill', started, { details: { schema: 'restore-drill/v1', simulated } });
  const now = new Date('2026-03-01T12:00:00Z');
  assert.deepEqual(
    makePlan(p, [], now).drills.map((d) => [d.dataset, d.due, d.reason]),
    [['files', false, 'no good backup to drill yet']],
  );
  const backup = rec('backup', '2026-03-01T01:00:00Z', { level: 'full' });
  const first = makePlan(p, [backup], now).drills[0]!;
  assert.equal(first.due, true);
  assert.equal(first.reason, 'never drilled');
  const later = makePlan(p, [backup, drill('2026-02-20T00:00:00Z')], now);
  assert.equal(later.drills[0]!.due, false);
  assert.deepEqual(later.drills[0]!.next, new Date('2026-03-22T00:00:00Z'));
  assert.ok(later.next! <= new Date('2026-03-22T00:00:00Z'));
  const simulatedOnly = makePlan(p, [backup, drill('2026-02-28T00:00:00Z', true)], now).drills[0]!;
  assert.equal(simulatedOnly.due, true);
  const old = makePlan(p, [backup, drill('2026-01-01T00:00:00Z')], now).drills[0]!;
  assert.equal(old.due, true);
  assert.match(old.reason, /every 30d/);
  assert.deepEqual(makePlan(base, [backup], now).drills, []);
});

test('an interrupted drill does not count as the last drill; a failed one is retried after min(every, 1d)', () => {
  const base = policy({ full: { every: '1d' } });
  const withEvery = (every: string) => ({
    ...base,
    datasets: { files: { ...base.datasets.files!, drill: { every } } },
  });
  const p = withEvery('30d');
  const drill = (started: string, result: string) =>
    rec('drill', started, {
      result: result as JournalRecord['result'],
      details: { schema: 'restore-drill/v1', simulated: false },
    });
  const now = new Date('2026-03-01T12:00:00Z');
  const backup = rec('backup', '2026-02-01T01:00:00Z', { level: 'full' });
  // Interrupted only: as if never drilled.
  const interrupted = makePlan(p, [backup, drill('2026-03-01T11:00:00Z', 'interrupted')], now).drills[0]!;
  assert.equal(interrupted.due, true);
  assert.equal(interrupted.reason, 'never drilled');
  assert.equal(interrupted.lastRun, undefined);
  // An interrupted drill after a passing one: the passing one is the last.
  const after = makePlan(
    p,
    [backup, drill('2026-01-15T00:00:00Z', 'success'), drill('2026-03-01T11:00:00Z', 'interrupted')],
    now,
  ).drills[0]!;
  assert.deepEqual(after.lastRun, new Date('2026-01-15T00:00:00Z'));
  assert.equal(after.due, true);
  // Failed 11 h ago: due again a day after it, not 30 days.
  const failed = makePlan(p, [backup, drill('2026-03-01T01:00:00Z', 'failed')], now).drills[0]!;
  assert.equal(failed.due, false);
  assert.deepEqual(failed.next, new Date('2026-03-02T01:00:00Z'));
  const failedDayAgo = makePlan(p, [backup, drill('2026-02-28T11:00:00Z', 'failed')], now).drills[0]!;
  assert.equal(failedDayAgo.due, true);
  assert.match(failedDayAgo.reason, /the last drill failed, 2026-02-28T11:00:00.000Z: retried after 1d/);
  // A partial drill (objectives missed) keeps the cadence.
  const partial = makePlan(p, [backup, drill('2026-02-28T11:00:00Z', 'partial')], now).drills[0]!;
  assert.equal(partial.due, false);
  assert.deepEqual(partial.next, new Date('2026-03-30T11:00:00Z'));
  // A cadence shorter than a day stays as it is.
  const hourly = makePlan(withEvery('6h'), [backup, drill('2026-03-01T07:00:00Z', 'failed')], now).drills[0]!;
  assert.equal(hourly.due, false);
  assert.deepEqual(hourly.next, new Date('2026-03-01T13:00:00Z'));
  // A later passing drill ends the retry.
  const passed = makePlan(
    p,
    [backup, drill('2026-02-27T00:00:00Z', 'failed'), drill('2026-02-28T00:00:00Z', 'success')],
    now,
  ).drills[0]!;
  assert.equal(passed.due, false);
  assert.deepEqual(passed.next, new Date('2026-03-30T00:00:00Z'));
});
