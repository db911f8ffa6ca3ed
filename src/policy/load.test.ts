import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import { parse, stringify } from 'yaml';
import { tempDir } from '../../test/support/tmp.js';
import { ArcaError, ExitCode } from '../errors.js';
import { examplePolicy } from './example.js';
import {
  formatPath,
  formatProblem,
  parsePolicy,
  readPolicy,
  resolvePolicyFile,
  validatePolicyText,
} from './load.js';

// biome-ignore lint/suspicious/noExplicitAny: the tests reshape policies, into invalid ones too
type Doc = Record<string, any>;

const exampleText = examplePolicy({
  repository: '/srv/arca',
  passwordFile: '/etc/arca/password',
  paths: ['/srv/data'],
  today: new Date('2030-01-01T00:00:00Z'),
});

/** The example as plain data, to change one thing in. */
function example(): Doc {
  return parse(exampleText);
}

/** The problems (as printed, without a file name) of a policy changed by `change`. */
function problemsOf(change: (p: Doc) => void): string[] {
  const p = example();
  change(p);
  const r = validatePolicyText(stringify(p));
  return r.ok ? [] : r.problems.map((x) => `${x.path}: ${x.message}`);
}

test('the example is a valid policy', () => {
  const r = validatePolicyText(exampleText);
  assert.ok(r.ok, r.ok ? '' : r.problems.map((x) => formatProblem('example', x)).join('\n'));
  assert.equal(r.policy.metadata.id, 'POL-BKP-001');
  assert.deepEqual(r.policy.datasets['files']?.copies, ['local']);
});

test('each kind of bad input is refused with its YAML path and a clear message', () => {
  const cases: [string, (p: Doc) => void, RegExp][] = [
    ['missing key', (p) => delete p.metadata.owner, /^metadata\.owner: missing \(required\)$/],
    ['unknown key', (p) => (p.datasets.files.rpoo = '1h'), /^datasets\.files\.rpoo: unknown key$/],
    [
      'number for a version',
      (p) => (p.metadata.version = 1.1),
      /^metadata\.version: expected a version as a quoted string/,
    ],
    [
      'bad date',
      (p) => (p.metadata.approved_on = '2030-02-30'),
      /^metadata\.approved_on: expected a real date/,
    ],
    [
      'bad duration',
      (p) => (p.datasets.files.rpo = '24'),
      /^datasets\.files\.rpo: .*expected a duration like 30s, 15m, 24h/,
    ],
    [
      'number for a duration',
      (p) => (p.datasets.files.rto = 8),
      /^datasets\.files\.rto: expected a duration like/,
    ],
    [
      'bad cron',
      (p) => (p.datasets.files.schedule.full = '0 25 * * *'),
      /^datasets\.files\.schedule\.full: .*hour 25 is out of range/,
    ],
    [
      'cron that never runs',
      (p) => (p.datasets.files.schedule.full = '0 0 30 2 *'),
      /schedule\.full: .*never runs/,
    ],
    [
      'bad interval',
      (p) => (p.datasets.files.schedule.incremental = { every: 'often' }),
      /^datasets\.files\.schedule\.incremental\.every: .*expected a duration/,
    ],
    [
      'neither cron nor interval',
      (p) => (p.datasets.files.schedule.incremental = 6),
      /schedule\.incremental: expected a cron expression .* or an interval/,
    ],
    [
      'no level',
      (p) => (p.datasets.files.schedule = {}),
      /^datasets\.files\.schedule: no level is scheduled/,
    ],
    [
      'differential without full',
      (p) => delete p.datasets.files.schedule.full,
      /schedule\.differential: a differential compares against the last full/,
    ],
    [
      'unknown repository in copies',
      (p) => p.datasets.files.copies.push('offsite'),
      /^datasets\.files\.copies\[1\]: unknown repository "offsite" \(repositories: local\)$/,
    ],
    [
      'empty copies',
      (p) => (p.datasets.files.copies = []),
      /^datasets\.files\.copies: name at least one repository/,
    ],
    [
      'bad media',
      (p) => (p.repositories.local.media = 'floppy'),
      /^repositories\.local\.media: expected one of: disk, nas/,
    ],
    [
      'offsite not boolean',
      (p) => (p.repositories.local.offsite = 'yes'),
      /^repositories\.local\.offsite: expected true or false, got a text$/,
    ],
    [
      'unsupported location',
      (p) => (p.repositories.local.location = 'ftp://host/x'),
      /^repositories\.local\.location: unsupported location/,
    ],
    [
      'option of another backend',
      (p) => (p.repositories.local.options = { 's3.region': 'x' }),
      /^repositories\.local\.options\["s3\.region"\]: a local repository takes no backend options$/,
    ],
    [
      'malformed reference',
      (p) => (p.repositories.local.password = { vault: 'x' }),
      /^repositories\.local\.password: expected a reference: \{env: VAR\}, \{file: PATH\} or \{command: CMD\}$/,
    ],
    [
      'bad name',
      (p) => (p.datasets['my files'] = p.datasets.files),
      /^datasets\["my files"\]: names use letters, digits/,
    ],
    [
      'relative path',
      (p) => (p.datasets.files.sources.paths = ['data']),
      /^datasets\.files\.sources\.paths\[0\]: expected an absolute path/,
    ],
    ['no source', (p) => (p.datasets.files.sources = {}), /^datasets\.files\.sources: nothing to back up/],
    [
      'clashing dump names',
      (p) =>
        (p.datasets.files.sources.postgres = [
          { database: 'a' },
          { database: 'b', filename: 'postgres/a.sql' },
        ]),
      /sources\.postgres\[1\]: its output would be stored as "postgres\/a\.sql"/,
    ],
    ['tier zero', (p) => (p.datasets.files.tier = 0), /^datasets\.files\.tier: must be 1 or more$/],
    [
      'empty keep',
      (p) => (p.datasets.files.retention.keep = {}),
      /^datasets\.files\.retention\.keep: no keep rule/,
    ],
    [
      'bad smtp',
      (p) => (p.notifications = { smtp: { host: 'h', from: 'nobody', to: ['a@b.org'] } }),
      /^notifications\.smtp\.from: expected an email address$/,
    ],
    [
      'bad webhook',
      (p) => (p.notifications = { webhook: { url: 'ftp://x' } }),
      /^notifications\.webhook\.url: expected an http:\/\/ or https:\/\/ URL$/,
    ],
    ['no datasets', (p) => delete p.datasets, /^datasets: missing \(required\)$/],
  ];
  for (const [what, change, expected] of cases) {
    const problems = problemsOf(change);
    assert.ok(
      problems.some((line) => expected.test(line)),
      `${what}: expected a problem matching ${expected}, got:\n${problems.join('\n')}`,
    );
  }
});

test('problems carry the line and column of the offending YAML', () => {
  const text = exampleText.replace('rpo: 24h', 'rpo: soon');
  const r = validatePolicyText(text);
  assert.equal(r.ok, false);
  const line = text.split('\n').findIndex((l) => l.includes('rpo: soon')) + 1;
  assert.deepEqual(r.ok ? [] : r.problems.map((p) => formatProblem('arca.yaml', p)), [
    `arca.yaml:${line}:10: datasets.files.rpo: "soon": expected a duration like 30s, 15m, 24h, 7d or 4w`,
  ]);
  const syntax = validatePolicyText('metadata:\n  id: [1, 2\nrepositories: {}\n');
  assert.equal(syntax.ok, false);
  assert.match(syntax.ok ? '' : formatProblem('f', syntax.problems[0]!), /^f:3:1: YAML syntax: /);
  const dup = validatePolicyText('a: 1\na: 2\n');
  assert.match(
    dup.ok ? '' : formatProblem('f', dup.problems[0]!),
    /^f:2:1: YAML syntax: Map keys must be unique/,
  );
  const empty = validatePolicyText('# nothing\n');
  assert.deepEqual(empty.ok ? [] : empty.problems.map((p) => formatProblem('f', p)), [
    'f: the policy is empty',
  ]);
});

test('values are never echoed into messages (they may be secrets)', () => {
  const problems = problemsOf((p) => {
    p.repositories.local.password = 987654321;
    p.repositories.local.site = 123456789;
  });
  assert.ok(problems.length >= 2, problems.join('\n'));
  assert.ok(
    problems.every((l) => !l.includes('987654321') && !l.includes('123456789')),
    problems.join('\n'),
  );
});

test('merge keys let datasets share aspects', () => {
  const text =
    exampleText.replace('datasets:\n  files:\n', 'datasets:\n  files: &files\n') +
    '  more:\n    <<: *files\n    tier: 1\n';
  const r = validatePolicyText(text.replace(/^notifications:.*$/m, ''));
  assert.ok(r.ok, r.ok ? '' : r.problems.map((p) => formatProblem('x', p)).join('\n'));
  assert.equal(r.policy.datasets['more']?.tier, 1);
  assert.equal(r.policy.datasets['more']?.rpo, '24h');
});

test('parsePolicy throws a usage error (exit 2) with one line per problem', () => {
  const text = exampleText.replace('rpo: 24h', 'rpo: 1').replace('media: disk', 'media: floppy');
  assert.throws(
    () => parsePolicy(text, 'arca.yaml'),
    (e: unknown) => {
      assert.ok(e instanceof ArcaError);
      assert.equal(e.exitCode, ExitCode.usage);
      const lines = e.message.split('\n');
      assert.equal(lines.length, 2);
      assert.match(lines[0]!, /^arca\.yaml:\d+:\d+: repositories\.local\.media: /);
      assert.match(lines[1]!, /^arca\.yaml:\d+:\d+: datasets\.files\.rpo: /);
      return true;
    },
  );
});

test('readPolicy reads a file, hashes its bytes, and names a missing one', async (t) => {
  const dir = await tempDir(t, 'policy-load');
  const file = path.join(dir, 'arca.yaml');
  writeFileSync(file, exampleText);
  const loaded = readPolicy(file);
  assert.equal(loaded.file, file);
  assert.equal(loaded.sha256, createHash('sha256').update(exampleText).digest('hex'));
  assert.equal(loaded.policy.repositories['local']?.location, '/srv/arca');
  assert.throws(
    () => readPolicy(path.join(dir, 'nope.yaml')),
    (e: unknown) => e instanceof ArcaError && e.code === 'not-found' && /arca policy init/.test(e.message),
  );
});

test('the policy file comes from --policy, then ARCA_POLICY, then arca.yaml', () => {
  assert.equal(resolvePolicyFile('p.yaml', { ARCA_POLICY: '/etc/arca.yaml' }, '/w'), '/w/p.yaml');
  assert.equal(resolvePolicyFile(undefined, { ARCA_POLICY: '/etc/arca.yaml' }, '/w'), '/etc/arca.yaml');
  assert.equal(resolvePolicyFile(undefined, { ARCA_POLICY: '' }, '/w'), '/w/arca.yaml');
  assert.equal(resolvePolicyFile(undefined, {}, '/w'), '/w/arca.yaml');
});

test('formatPath writes YAML paths as people read them', () => {
  assert.equal(formatPath(['datasets', 'web', 'copies', 1]), 'datasets.web.copies[1]');
  assert.equal(
    formatPath(['repositories', 'off site', 'options', 's3.region']),
    'repositories["off site"].options["s3.region"]',
  );
  assert.equal(formatPath([]), '');
});
