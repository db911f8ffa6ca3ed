import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { JournalRecord, JsonObject } from '../journal/record.js';
import type { LoadedPolicy } from '../policy/load.js';
import { parsePolicy } from '../policy/load.js';
import {
  achievedRpo,
  alertsOf,
  backupCounts,
  type CopyState,
  computeReport,
  correctiveActions,
  drillSummary,
  rule32110,
} from './compute.js';
import type { ReportData, RepositoryState } from './gather.js';
import { renderHtml } from './html.js';
import { renderMarkdown } from './markdown.js';

let seq = 0;
function rec(fields: Partial<JournalRecord> & { operation: string; started_at: string }): JournalRecord {
  seq++;
  return {
    seq,
    prev_hash: '0'.repeat(64),
    hash: seq.toString(16).padStart(64, '0'),
    recorded_at: fields.started_at,
    who: 'test@host',
    ended_at: null,
    duration_ms: null,
    dataset: null,
    repository: null,
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

const period = { from: '2026-01-01T00:00:00.000Z', to: '2026-01-10T00:00:00.000Z' };
const H = 3600;

describe('achieved RPO', () => {
  test('is the largest gap between good points, including the gap to the period end', () => {
    const r = achievedRpo(
      [
        '2026-01-02T00:00:00.000Z',
        '2026-01-02T06:00:00.000Z',
        '2026-01-05T00:00:00.000Z',
        '2026-01-07T00:00:00.000Z',
        '2026-01-09T00:00:00.000Z',
      ],
      period,
      24 * H,
    );
    assert.equal(r.seconds, (3 * 24 - 6) * H);
    assert.equal(r.from, '2026-01-02T06:00:00.000Z');
    assert.equal(r.to, '2026-01-05T00:00:00.000Z');
    assert.equal(r.points, 5);
    assert.equal(r.met, false);
  });

  test('counts from the newest point before the period, and to the end of the period', () => {
    const r = achievedRpo(['2025-12-31T00:00:00.000Z', '2026-01-09T00:00:00.000Z'], period, 10 * 24 * H);
    assert.equal(r.seconds, 9 * 24 * H);
    assert.equal(r.from, '2025-12-31T00:00:00.000Z');
    assert.equal(r.points, 1);
    assert.equal(r.met, true);
    const tail = achievedRpo(['2026-01-01T00:00:00.000Z'], period, 24 * H);
    assert.equal(tail.seconds, 9 * 24 * H);
    assert.equal(tail.to, period.to);
  });

  test('a period ending in the future is measured up to now, not to its end', () => {
    const now = '2026-01-05T12:30:00.000Z';
    const hourly = Array.from({ length: 4 * 24 + 13 }, (_, i) =>
      new Date(Date.parse(period.from) + i * H * 1000).toISOString(),
    );
    assert.equal(hourly.at(-1), '2026-01-05T12:00:00.000Z');
    const r = achievedRpo(hourly, period, H, now);
    assert.equal(r.seconds, H);
    assert.equal(r.met, true);
    // Measured to the period's end, the 4.5 days still to come would count as a gap.
    assert.equal(achievedRpo(hourly, period, H).met, false);
    // A `now` after the period's end changes nothing.
    assert.deepEqual(
      achievedRpo(hourly, period, H, '2027-01-01T00:00:00.000Z'),
      achievedRpo(hourly, period, H),
    );
  });

  test('points after the period are ignored; no point at all is not met', () => {
    const none = achievedRpo(['2026-02-01T00:00:00.000Z'], period, 24 * H);
    assert.equal(none.seconds, null);
    assert.equal(none.met, false);
  });
});

describe('backup counts', () => {
  test('count every attempt; partial backups saved a snapshot', () => {
    const c = backupCounts([
      rec({ operation: 'backup', started_at: period.from, result: 'success' }),
      rec({ operation: 'backup', started_at: period.from, result: 'failed' }),
      rec({ operation: 'backup', started_at: period.from, result: 'partial' }),
      rec({ operation: 'backup', started_at: period.from, result: 'interrupted' }),
    ]);
    assert.deepEqual(c, { total: 4, success: 1, partial: 1, failed: 1, interrupted: 1, success_rate: 0.5 });
    assert.equal(backupCounts([]).success_rate, null);
  });
});

function copy(over: Partial<CopyState>): CopyState {
  return {
    repository: 'local',
    location: '/r',
    site: 'main',
    media: 'disk',
    offsite: false,
    immutable: false,
    reachable: true,
    error: null,
    snapshots: 1,
    newest: period.from,
    last_written_at: period.from,
    not_counted: null,
    ...over,
  };
}

describe('3-2-1-1-0', () => {
  const drill = drillSummary(
    rec({
      operation: 'drill',
      dataset: 'files',
      started_at: '2026-01-09T00:00:00.000Z',
      details: { schema: 'restore-drill/v1', drill_id: 'DRL-1', simulated: false },
    }),
  );
  const checks = [
    { repository: 'local', at: '2026-01-08T00:00:00.000Z', result: 'success', errors: 0, read_data: null },
    { repository: 'offsite', at: '2026-01-08T00:00:00.000Z', result: 'success', errors: 0, read_data: null },
  ];
  const digits = (r: ReturnType<typeof rule32110>) =>
    Object.fromEntries(r.digits.map((d) => [d.digit, d.status]));

  test('every digit holds: two copies on two media, one offsite, one immutable (attested), drill and checks clean', () => {
    const r = rule32110({
      copies: [
        copy({}),
        copy({ repository: 'offsite', media: 'object-storage', offsite: true, immutable: true }),
      ],
      checks,
      lastDrill: drill,
      cadenceMs: 30 * 86_400_000,
      to: period.to,
      newestPoint: period.from,
      rpoMs: 24 * H * 1000,
    });
    assert.deepEqual(digits(r), {
      '3': 'pass',
      '2': 'pass',
      '1 offsite': 'pass',
      '1 immutable': 'attested',
      '0': 'pass',
    });
    assert.equal(r.holds, true);
    assert.match(r.digits[3]!.reason, /not yet probed/);
  });

  test('a repository without the dataset does not count; a stale drill and a check with errors fail the 0', () => {
    const r = rule32110({
      copies: [
        copy({}),
        copy({ repository: 'offsite', media: 'object-storage', offsite: true, snapshots: 0 }),
      ],
      checks: [checks[0]!, { ...checks[1]!, errors: 2, result: 'failed' }],
      lastDrill: { ...drill, at: '2025-11-01T00:00:00.000Z' },
      cadenceMs: 30 * 86_400_000,
      to: period.to,
      newestPoint: period.from,
      rpoMs: 24 * H * 1000,
    });
    assert.deepEqual(digits(r), {
      '3': 'fail',
      '2': 'fail',
      '1 offsite': 'fail',
      '1 immutable': 'fail',
      '0': 'fail',
    });
    assert.match(r.digits[0]!.reason, /no snapshot in offsite/);
    assert.match(r.digits[4]!.reason, /older than the cadence/);
    assert.match(r.digits[4]!.reason, /offsite found 2 errors/);
    assert.equal(r.holds, false);
  });

  test('a year-old copy does not count: the offsite digit fails and says why', () => {
    const r = rule32110({
      copies: [
        copy({ newest: '2026-01-09T00:00:00.000Z' }),
        copy({ repository: 'usb', media: 'removable', newest: '2026-01-08T23:30:00.000Z' }),
        copy({
          repository: 'offsite',
          media: 'object-storage',
          offsite: true,
          immutable: true,
          newest: '2025-01-09T00:00:00.000Z',
        }),
      ],
      checks,
      lastDrill: drill,
      cadenceMs: 30 * 86_400_000,
      to: period.to,
      newestPoint: '2026-01-09T00:00:00.000Z',
      rpoMs: H * 1000,
    });
    assert.deepEqual(digits(r), {
      '3': 'pass',
      '2': 'pass',
      '1 offsite': 'fail',
      '1 immutable': 'fail',
      '0': 'pass',
    });
    const offsite = r.digits.find((d) => d.digit === '1 offsite')!;
    assert.match(offsite.reason, /no repository marked offsite holds a current copy/);
    assert.match(
      offsite.reason,
      /offsite is stale: its newest snapshot \(2025-01-09T00:00:00.000Z\) is 52w1d older than the newest recovery point \(2026-01-09T00:00:00.000Z\), more than the RPO \(1h\)/,
    );
    assert.match(r.digits[0]!.reason, /production \+ 2 backup copies \(local, usb\); offsite is stale/);
    assert.equal(r.holds, false);
  });

  test('no drill fails the 0', () => {
    const r = rule32110({
      copies: [copy({})],
      checks: [checks[0]!],
      lastDrill: null,
      cadenceMs: 1,
      to: period.to,
      newestPoint: period.from,
      rpoMs: 24 * H * 1000,
    });
    assert.match(r.digits[4]!.reason, /no restore drill/);
  });
});

describe('alerts and corrective actions', () => {
  test('a failure is resolved by the next success of the same dataset and operation; a breach by the next good backup', () => {
    const records = [
      rec({
        operation: 'backup',
        dataset: 'a',
        started_at: '2026-01-02T00:00:00.000Z',
        result: 'failed',
        error: 'x',
      }),
      rec({ operation: 'backup', dataset: 'b', started_at: '2026-01-02T01:00:00.000Z', result: 'success' }),
      rec({
        operation: 'rpo-breach',
        dataset: 'b',
        started_at: '2026-01-03T00:00:00.000Z',
        result: 'failed',
      }),
      rec({ operation: 'backup', dataset: 'a', started_at: '2026-01-04T00:00:00.000Z', result: 'success' }),
      rec({ operation: 'prune', repository: '/r', started_at: '2026-01-05T00:00:00.000Z', result: 'failed' }),
      rec({
        operation: 'drill',
        dataset: 'a',
        started_at: '2026-01-06T00:00:00.000Z',
        result: 'failed',
        details: { schema: 'restore-drill/v1', simulated: true },
      }),
    ];
    const alerts = alertsOf(records, period);
    assert.deepEqual(
      alerts.map((a) => [a.operation, a.dataset, a.resolved, a.resolved_by_seq]),
      [
        ['backup', 'a', true, records[3]!.seq],
        ['rpo-breach', 'b', false, null],
        ['prune', null, false, null],
      ],
    );
  });

  test('a corrective action is open until a record closes its id', () => {
    const cas = correctiveActions([
      rec({
        operation: 'corrective-action',
        dataset: 'a',
        started_at: '2026-01-02T00:00:00.000Z',
        result: 'failed',
        details: {
          id: 'CA-1',
          status: 'open',
          drill_id: 'DRL-1',
          stage: 'verify',
          description: 'pack corrupt',
        },
      }),
      rec({
        operation: 'corrective-action',
        dataset: 'b',
        started_at: '2026-01-03T00:00:00.000Z',
        result: 'failed',
        details: { id: 'CA-2', status: 'open', drill_id: 'DRL-2', stage: 'restore', description: 'slow' },
      }),
      rec({
        operation: 'corrective-action',
        dataset: 'a',
        started_at: '2026-01-04T00:00:00.000Z',
        details: { id: 'CA-1', status: 'closed', closed_by_drill: 'DRL-3' },
      }),
    ]);
    assert.deepEqual(
      cas.map((c) => [c.id, c.status, c.closed_by_drill, c.stage]),
      [
        ['CA-1', 'closed', 'DRL-3', 'verify'],
        ['CA-2', 'open', null, 'restore'],
      ],
    );
  });
});

const policyText = `
metadata: {id: POL-T, version: "2", owner: o, approved_by: ciso, approved_on: 2026-01-01, next_review: 2026-12-01}
repositories:
  local: {location: /r/local, site: main, media: disk, offsite: false, immutable: false, password: {env: P}}
  offsite: {location: /r/off, site: dc2, media: object-storage, offsite: true, immutable: true, password: {env: P}}
datasets:
  files:
    owner: ops
    classification: internal
    tier: 1
    rpo: 24h
    rto: 4h
    mtd: 1d
    sources: {paths: [/data]}
    schedule: {full: {every: 1d}}
    copies: [local, offsite]
    retention: {keep: {last: 5}, archive: {tags: [keep]}}
    drill: {every: 30d}
`;

function repo(
  name: string,
  site: string,
  media: string,
  offsite: boolean,
  tags: string[][],
): RepositoryState {
  return {
    name,
    location: `/r/${name === 'local' ? 'local' : 'off'}`,
    site,
    media,
    offsite,
    immutable: offsite,
    reachable: true,
    error: null,
    encryption: {
      encrypted: true,
      cipher: 'AES-256-CTR',
      mac: 'Poly1305-AES',
      kdf: 'scrypt',
      kdf_params: { N: 32768, r: 8, p: 1 },
      key_id: 'k',
      key_created: null,
      repository_version: 2,
    },
    snapshots: tags.map((t, i) => ({
      id: `${name}${i}`,
      time: `2026-01-0${i + 2}T00:00:00.000Z`,
      tags: t,
      hostname: 'h',
      paths: ['/data'],
      bytes: 10,
    })),
  };
}

describe('the whole report', () => {
  test('its numbers are those of the records, and simulated drills never count', () => {
    const policy = parsePolicy(policyText, 'test');
    const loaded: LoadedPolicy = { file: '/p.yaml', policy, sha256: 'ab'.repeat(32) };
    const measurements: JsonObject = {
      restore_seconds: 2.5,
      restore_time_kind: 'measured',
      restore_time_seconds: 2.5,
      rto_seconds: 14400,
      rto_met: true,
      rpo_met: true,
    };
    const records = [
      rec({
        operation: 'backup',
        dataset: 'files',
        level: 'full',
        started_at: '2026-01-02T00:00:00.000Z',
        duration_ms: 1500,
        bytes_read: 1000,
        snapshot_id: 's1',
        details: { repository_name: 'local' },
      }),
      rec({
        operation: 'backup',
        dataset: 'files',
        level: 'full',
        started_at: '2026-01-03T00:00:00.000Z',
        result: 'failed',
        error: 'disk full',
        duration_ms: 10,
      }),
      rec({
        operation: 'backup',
        dataset: 'files',
        level: 'full',
        started_at: '2026-01-03T01:00:00.000Z',
        duration_ms: 2000,
        bytes_read: 1200,
        snapshot_id: 's2',
        details: { repository_name: 'local' },
      }),
      rec({
        operation: 'copy',
        dataset: 'files',
        started_at: '2026-01-03T01:01:00.000Z',
        details: { repository_name: 'offsite' },
      }),
      rec({
        operation: 'check',
        repository: '/r/local',
        started_at: '2026-01-09T00:00:00.000Z',
        details: { errors: 0 },
      }),
      rec({
        operation: 'check',
        repository: '/r/off',
        started_at: '2026-01-09T00:00:00.000Z',
        details: { errors: 0 },
      }),
      rec({
        operation: 'drill',
        dataset: 'files',
        started_at: '2026-01-08T00:00:00.000Z',
        details: {
          schema: 'restore-drill/v1',
          drill_id: 'DRL-real',
          simulated: false,
          scope: 'full',
          source: { repository_name: 'offsite' },
          measurements,
        },
      }),
      rec({
        operation: 'drill',
        dataset: 'files',
        started_at: '2026-01-09T00:00:00.000Z',
        result: 'failed',
        details: { schema: 'restore-drill/v1', drill_id: 'DRL-sim', simulated: true, measurements },
      }),
    ];
    const data: ReportData = {
      generated_at: period.to,
      period,
      policy: loaded,
      journal: {
        file: '/j.db',
        verify: { ok: true, records: records.length, head: { seq: 8, hash: 'h' }, problems: [] },
      },
      records,
      repositories: [
        repo('local', 'main', 'disk', false, [['dataset:files'], ['dataset:files'], ['arca-journal']]),
        repo('offsite', 'dc2', 'object-storage', true, [['dataset:files'], ['dataset:files']]),
      ],
    };
    const report = computeReport(data);
    const d = report.datasets[0]!;
    assert.equal(d.last_backup?.snapshot_id, 's2');
    assert.equal(d.last_backup?.at, '2026-01-03T01:00:00.000Z');
    assert.deepEqual([d.backups.total, d.backups.success, d.backups.failed], [3, 2, 1]);
    assert.equal(d.backups.success_rate, 2 / 3);
    // Largest gap: from the second good backup to the period's end.
    assert.equal(d.achieved_rpo.seconds, (6 * 24 + 23) * H);
    assert.equal(d.achieved_rpo.met, false);
    assert.equal(d.last_drill?.drill_id, 'DRL-real');
    assert.equal(d.simulated_drills_ignored, 1);
    assert.deepEqual(
      d.drills.map((x) => x.drill_id),
      ['DRL-real'],
    );
    assert.equal(d.rule_32110.holds, true);
    assert.deepEqual(
      d.copies.map((c) => [c.repository, c.snapshots]),
      [
        ['local', 2],
        ['offsite', 2],
      ],
    );
    assert.equal(d.retention.snapshots_kept.local, 2);
    assert.deepEqual(d.retention.archive_tags, ['keep']);
    assert.equal(report.alerts.length, 1);
    assert.equal(report.alerts[0]!.resolved, true);
    assert.equal(report.summary.unresolved_alerts, 0);
    assert.equal(report.repositories[0]!.journal_snapshots, 1);
    const row = (control: string) => report.requirements.find((r) => r.control === control)!;
    assert.equal(row('11.5').status, 'met');
    assert.equal(row('CP-9(1)').status, 'met');
    assert.equal(row('27002 8.13(d)').status, 'organisational');
    assert.match(row('27002 8.13(d)').evidence, /organisational — attested in the policy/);
    assert.equal(row('27002 8.13(b)').status, 'not met');
    // Both renderings escape what they show and carry the numbers.
    const html = renderHtml(report);
    assert.match(html, /<svg/);
    assert.ok(!html.includes('<script'));
    assert.match(renderMarkdown(report), /\| 3 \| pass \|/);
    // The period's end is exclusive: the title names the last day it includes.
    assert.match(renderMarkdown(report), /^# Backup evidence pack: POL-T 2026-01-01 to 2026-01-09$/m);
  });

  test('text from the records is escaped in the HTML', () => {
    const policy = parsePolicy(policyText, 'test');
    const records = [
      rec({
        operation: 'backup',
        dataset: 'files',
        started_at: '2026-01-02T00:00:00.000Z',
        result: 'failed',
        error: '<img src=x onerror=alert(1)>',
      }),
    ];
    const report = computeReport({
      generated_at: period.to,
      period,
      policy: { file: '/p', policy, sha256: '0' },
      journal: { file: '/j', verify: { ok: true, records: 1, head: null, problems: [] } },
      records,
      repositories: [
        repo('local', 'main', 'disk', false, []),
        repo('offsite', 'dc2', 'object-storage', true, []),
      ],
    });
    const html = renderHtml(report);
    assert.ok(!html.includes('<img'));
    assert.match(html, /&#60;img/);
    const md = renderMarkdown(report);
    assert.ok(!md.includes('<img'), 'markdown renderers pass raw HTML through');
    assert.match(md, /\| &lt;img src=x onerror=alert\(1\)&gt; \|/);
  });

  test('a restore time the drill record does not label is shown as unknown, not as measured', () => {
    const policy = parsePolicy(policyText, 'test');
    const records = [
      rec({
        operation: 'drill',
        dataset: 'files',
        started_at: '2026-01-08T00:00:00.000Z',
        details: { schema: 'restore-drill/v1', drill_id: 'DRL-old', measurements: { restore_seconds: 3 } },
      }),
    ];
    const report = computeReport({
      generated_at: period.to,
      period,
      policy: { file: '/p', policy, sha256: '0' },
      journal: { file: '/j', verify: { ok: true, records: 1, head: null, problems: [] } },
      records,
      repositories: [
        repo('local', 'main', 'disk', false, []),
        repo('offsite', 'dc2', 'object-storage', true, []),
      ],
    });
    assert.equal(report.datasets[0]!.last_drill?.restore_time_kind, null);
    const evidence = report.requirements.find((r) => r.control === 'CP-9(2)')!.evidence;
    assert.match(evidence, /files: success 2026-01-08T00:00:00.000Z, unknown 3 s vs RTO 4h/);
  });

  test('a period ending in the future is judged at the generation time', () => {
    const policy = parsePolicy(
      policyText.replace('rpo: 24h', 'rpo: 1h').replace('drill: {every: 30d}', 'drill: {every: 5d}'),
      'test',
    );
    const generated = '2026-01-05T12:30:00.000Z';
    const hourly = Array.from({ length: 4 * 24 + 13 }, (_, i) =>
      rec({
        operation: 'backup',
        dataset: 'files',
        level: 'full',
        started_at: new Date(Date.parse(period.from) + i * H * 1000).toISOString(),
        details: { repository_name: 'local' },
      }),
    );
    const records = [
      ...hourly,
      rec({ operation: 'check', repository: '/r/local', started_at: '2026-01-01T00:00:00.000Z' }),
      rec({ operation: 'check', repository: '/r/off', started_at: '2026-01-01T00:00:00.000Z' }),
      rec({
        operation: 'drill',
        dataset: 'files',
        started_at: '2026-01-01T00:00:00.000Z',
        details: { schema: 'restore-drill/v1', drill_id: 'DRL-1', simulated: false },
      }),
    ];
    const snapshot = (at: string) => ({
      time: at,
      tags: ['dataset:files'],
      hostname: 'h',
      paths: ['/d'],
      bytes: 1,
    });
    const local = repo('local', 'main', 'disk', false, []);
    local.snapshots = [{ id: 'l1', ...snapshot('2026-01-05T12:00:05.000Z') }];
    const offsite = repo('offsite', 'dc2', 'object-storage', true, []);
    offsite.snapshots = [{ id: 'o1', ...snapshot('2026-01-05T12:00:05.000Z') }];
    const report = computeReport({
      generated_at: generated,
      period,
      policy: { file: '/p', policy, sha256: '0' },
      journal: { file: '/j', verify: { ok: true, records: records.length, head: null, problems: [] } },
      records,
      repositories: [local, offsite],
    });
    const d = report.datasets[0]!;
    assert.equal(report.judged_at, generated);
    assert.equal(d.achieved_rpo.seconds, H);
    assert.equal(d.achieved_rpo.met, true);
    assert.equal(report.summary.rpo_met, 1);
    assert.equal(report.summary.drills_passed_in_cadence, 1);
    assert.equal(d.rule_32110.digits.find((x) => x.digit === '0')?.status, 'pass');
    assert.deepEqual(
      d.copies.map((c) => c.not_counted),
      [null, null],
    );
    const row = (control: string) => report.requirements.find((r) => r.control === control)!;
    assert.equal(row('11.2').status, 'met');
    assert.equal(row('27002 8.13(b)').status, 'met');
    assert.match(renderMarkdown(report), /judged at 2026-01-05T12:30:00Z/);
  });
});
