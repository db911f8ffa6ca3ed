import assert from 'node:assert/strict';
import { test } from 'node:test';
import { parse } from 'yaml';
import { examplePolicy } from './example.js';
import { checkPolicy, type Finding, formatFinding } from './findings.js';
import { policySchema } from './schema.js';

// biome-ignore lint/suspicious/noExplicitAny: the tests reshape policies, into invalid ones too
type Doc = Record<string, any>;

const approved = new Date('2030-01-01T00:00:00Z');
const soon = new Date('2030-03-01T12:00:00Z');

/** The example policy with `change` applied, checked at `now`. */
function findings(change: (p: Doc) => void = () => {}, now = soon, strict = false): Finding[] {
  const doc = parse(
    examplePolicy({
      repository: '/srv/arca',
      passwordFile: '/etc/arca/pw',
      paths: ['/srv/data'],
      today: approved,
    }),
  );
  change(doc);
  return checkPolicy(policySchema.parse(doc), { now, strict });
}

const lines = (fs: Finding[]) => fs.map(formatFinding);
const has = (fs: Finding[], requirement: string, pattern: RegExp) =>
  fs.some((f) => f.requirement === requirement && pattern.test(f.message));

/** A second repository at another site, offsite and immutable as given, added to the dataset's copies. */
function addCopy(p: Doc, offsite: boolean, immutable: boolean): void {
  p.repositories.vault = {
    location: 'sftp:backup@vault.example.org:/srv/arca',
    site: 'dc2',
    media: 'nas',
    offsite,
    immutable,
    password: { env: 'VAULT_PW' },
  };
  p.datasets.files.copies.push('vault');
}

test('the example has only the warnings of a local-only policy', () => {
  assert.deepEqual(
    findings().map((f) => [f.severity, f.requirement, f.subject]),
    [
      ['warning', 'R32', 'dataset files'],
      ['warning', 'R34', 'dataset files'],
    ],
  );
});

test('R15: a schedule whose gap exceeds the RPO is an error', () => {
  const fs = findings((p) => {
    p.scheduler = { timezone: 'UTC' };
    p.datasets.files.rpo = '12h';
  });
  const f = fs.find((x) => x.requirement === 'R15');
  assert.equal(f?.severity, 'error');
  assert.match(
    f!.message,
    /leaves up to 1d between backups \(from 2030-03-01T01:30:00Z to 2030-03-02T01:30:00Z\), more than its rpo of 12h/,
  );
  assert.ok(
    !has(
      findings((p) => (p.datasets.files.rpo = '1d')),
      'R15',
      /./,
    ),
  );
  // An interval schedule is measured by its period.
  const interval = findings((p) => (p.datasets.files.schedule = { incremental: { every: '2d' } }));
  assert.ok(has(interval, 'R15', /leaves up to 2d between backups, more than its rpo of 24h/));
  assert.ok(
    !has(
      findings((p) => (p.datasets.files.schedule = { incremental: { every: '6h' } })),
      'R15',
      /./,
    ),
  );
});

test('R15: cron expressions are read in scheduler.timezone', () => {
  const fs = findings((p) => {
    p.scheduler = { timezone: 'Europe/Berlin' };
    p.datasets.files.rpo = '12h';
  });
  // 01:30 in Berlin is 00:30Z in winter; the window starts at the local midnight of the check.
  assert.ok(
    has(fs, 'R15', /leaves up to 1d between backups \(from 2030-03-01T00:30:00Z to 2030-03-02T00:30:00Z\)/),
    lines(fs).join('\n'),
  );
  // The year played includes the night the clocks go back (25 real hours between the 01:30
  // runs); that hour is not counted, so a daily schedule meets a 24h RPO in any zone.
  for (const timezone of ['Europe/Berlin', 'America/New_York', 'Australia/Sydney']) {
    const daily = findings((p) => (p.scheduler = { timezone }));
    assert.ok(!has(daily, 'R15', /./), `${timezone}: ${lines(daily).join('\n')}`);
  }
  // A real gap still counts: weekdays only leave the weekend, in local time.
  const weekdays = findings((p) => {
    p.scheduler = { timezone: 'America/New_York' };
    p.datasets.files.schedule = { incremental: '0 22 * * 1-5' };
  });
  assert.ok(
    has(
      weekdays,
      'R15',
      /leaves up to 3d between backups \(from 2030-03-02T03:00:00Z to 2030-03-05T03:00:00Z\)/,
    ),
    lines(weekdays).join('\n'),
  );
});

test('R14: an RTO beyond the MTD is an error', () => {
  assert.ok(
    has(
      findings((p) => (p.datasets.files.rto = '4d')),
      'R14',
      /rto of 4d is longer than its mtd of 3d/,
    ),
  );
  assert.equal(
    findings((p) => (p.datasets.files.rto = '4d')).find((f) => f.requirement === 'R14')?.severity,
    'error',
  );
  assert.ok(
    !has(
      findings((p) => (p.datasets.files.rto = '3d')),
      'R14',
      /./,
    ),
  );
});

test('R41: a dataset without retention is an error', () => {
  const fs = findings((p) => delete p.datasets.files.retention);
  assert.deepEqual(
    fs.filter((f) => f.requirement === 'R41').map((f) => [f.severity, f.subject]),
    [['error', 'dataset files']],
  );
  assert.ok(!has(findings(), 'R41', /./));
});

test('R32: no offsite copy is a warning, and an offsite repository in the copies clears it', () => {
  assert.ok(has(findings(), 'R32', /no offsite copy \(it reaches local\)/));
  assert.ok(
    !has(
      findings((p) => addCopy(p, true, false)),
      'R32',
      /./,
    ),
  );
  // An offsite repository the dataset does not reach does not count.
  assert.ok(
    has(
      findings((p) => {
        addCopy(p, true, true);
        p.datasets.files.copies.pop();
      }),
      'R32',
      /no offsite copy/,
    ),
  );
});

test('R34: no immutable copy is a warning, and an immutable repository in the copies clears it', () => {
  assert.ok(has(findings(), 'R34', /no immutable copy/));
  assert.ok(
    has(
      findings((p) => addCopy(p, true, false)),
      'R34',
      /no immutable copy \(it reaches local, vault\)/,
    ),
  );
  assert.ok(
    !has(
      findings((p) => addCopy(p, false, true)),
      'R34',
      /./,
    ),
  );
  assert.deepEqual(lines(findings((p) => addCopy(p, true, true))), []);
});

test('R23: no drill cadence, or one longer than 3 months, is a warning', () => {
  const none = findings((p) => delete p.datasets.files.drill);
  assert.ok(has(none, 'R23', /no restore-drill cadence/));
  assert.equal(none.find((f) => f.requirement === 'R23')?.severity, 'warning');
  assert.ok(
    has(
      findings((p) => (p.datasets.files.drill.every = '14w')),
      'R23',
      /every 14w, less often than every 3 months/,
    ),
  );
  assert.ok(
    has(
      findings((p) => (p.datasets.files.drill.every = '93d')),
      'R23',
      /./,
    ),
  );
  assert.ok(
    !has(
      findings((p) => (p.datasets.files.drill.every = '92d')),
      'R23',
      /./,
    ),
  );
  assert.ok(
    !has(
      findings((p) => (p.datasets.files.drill.every = '13w')),
      'R23',
      /./,
    ),
  );
});

test('R02: an approval more than 12 months old, or a passed review date, is a warning', () => {
  const at = (iso: string) => new Date(iso);
  // Approved 2030-01-01; the example sets the next review to 2031-01-01.
  assert.ok(!has(findings(undefined, at('2031-01-01T23:00:00Z')), 'R02', /./));
  const late = findings(undefined, at('2031-01-02T00:00:00Z'));
  assert.ok(has(late, 'R02', /approved on 2030-01-01, more than 12 months ago/));
  assert.ok(has(late, 'R02', /its review was due on 2031-01-01/));
  assert.equal(late.find((f) => f.requirement === 'R02')?.subject, 'policy POL-BKP-001');
  const reviewOnly = findings((p) => (p.metadata.next_review = '2030-02-01'));
  assert.deepEqual(
    reviewOnly.filter((f) => f.requirement === 'R02').map((f) => f.message),
    ['its review was due on 2030-02-01'],
  );
  const approvalOnly = findings((p) => (p.metadata.next_review = '2031-06-01'), at('2031-02-01T00:00:00Z'));
  assert.deepEqual(
    approvalOnly.filter((f) => f.requirement === 'R02').map((f) => f.severity),
    ['warning'],
  );
});

test('R38: plaintext credentials are errors that name the place, never the secret', () => {
  const fs = findings((p) => {
    p.repositories.local.password = 'hunter2';
    p.repositories.local.location = 'rest:https://backup:s3cret@vault.example.org:8000/';
    p.repositories.local.env = { AWS_SECRET_ACCESS_KEY: 'abcdef', AWS_REGION: 'eu-west-1' };
    p.datasets.files.sources.postgres = [{ database: 'shop', password: 'pgsecret' }];
    p.datasets.files.sources.commands = [{ command: 'MYSQL_PASSWORD=mysecret dump', filename: 'x.sql' }];
    p.notifications = {
      smtp: {
        host: 'smtp.example.org',
        from: 'a@example.org',
        to: ['b@example.org'],
        password: 'mailsecret',
      },
    };
  });
  const r38 = fs.filter((f) => f.requirement === 'R38');
  assert.deepEqual(
    r38.map((f) => [f.severity, f.subject, f.message.split(':')[0]]),
    [
      ['error', 'repository local', 'repositories.local.location'],
      ['error', 'repository local', 'repositories.local.password'],
      ['error', 'repository local', 'repositories.local.env.AWS_SECRET_ACCESS_KEY'],
      ['error', 'dataset files', 'datasets.files.sources.commands[0].command'],
      ['error', 'dataset files', 'datasets.files.sources.postgres[0].password'],
      ['error', 'notifications', 'notifications.smtp.password'],
    ],
  );
  for (const secret of ['hunter2', 's3cret', 'abcdef', 'pgsecret', 'mysecret', 'mailsecret'])
    assert.ok(
      lines(fs).every((l) => !l.includes(secret)),
      secret,
    );
  // The same settings by reference are fine.
  const clean = findings((p) => {
    p.repositories.local.env = { AWS_SECRET_ACCESS_KEY: { file: '/etc/arca/aws' }, AWS_REGION: 'eu-west-1' };
    p.datasets.files.sources.postgres = [{ database: 'shop', password: { env: 'SHOP_PW' } }];
    p.datasets.files.sources.commands = [{ command: 'MYSQL_PASSWORD=$PW dump', filename: 'x.sql' }];
  });
  assert.ok(!has(clean, 'R38', /./));
});

test('--strict makes warnings errors; findings have the JSON shape and line format', () => {
  const strict = findings(undefined, soon, true);
  assert.deepEqual(
    strict.map((f) => f.severity),
    ['error', 'error'],
  );
  const [f] = findings();
  assert.deepEqual(Object.keys(f!).sort(), ['message', 'requirement', 'severity', 'subject']);
  assert.match(formatFinding(f!), /^warning R32 dataset files: no offsite copy \(/);
});
