import assert from 'node:assert/strict';
import { test } from 'node:test';
import { examplePolicy } from './example.js';
import { checkPolicy } from './findings.js';
import { parsePolicy } from './load.js';

test('the example fills in its paths and dates and checks clean of errors', () => {
  const today = new Date('2031-03-15T10:00:00Z');
  const policy = parsePolicy(
    examplePolicy({
      repository: '/home/u/.local/share/arca/repository',
      passwordFile: '/home/u/.config/arca/password',
      paths: ['/home/u/work', '/srv/data'],
      today,
    }),
    'example',
  );
  assert.equal(policy.metadata.approved_on, '2031-03-15');
  assert.equal(policy.metadata.next_review, '2032-03-15');
  assert.equal(policy.repositories['local']?.location, '/home/u/.local/share/arca/repository');
  assert.deepEqual(policy.repositories['local']?.password, { file: '/home/u/.config/arca/password' });
  assert.deepEqual(policy.datasets['files']?.sources.paths, ['/home/u/work', '/srv/data']);
  const findings = checkPolicy(policy, { now: today });
  assert.deepEqual(
    findings.filter((f) => f.severity === 'error'),
    [],
  );
  assert.deepEqual(
    findings.map((f) => f.requirement),
    ['R32', 'R34'],
  );
});

test('any path is safe to put into the example', () => {
  const odd = `/tmp/it's a "test": #1 \\ {x} [y] *z* & ünï`;
  const policy = parsePolicy(
    examplePolicy({ repository: `${odd}/repo`, passwordFile: `${odd}/pw`, paths: [odd], today: new Date() }),
    'example',
  );
  assert.equal(policy.repositories['local']?.location, `${odd}/repo`);
  assert.deepEqual(policy.datasets['files']?.sources.paths, [odd]);
});

test('every commented-out example in the file is valid once uncommented', () => {
  const text = examplePolicy({ repository: '/r', passwordFile: '/pw', paths: ['/d'], today: new Date() });
  // Uncomment the blocks that show optional fields: below the header, every comment line
  // that is YAML (a key and a value, or a list item) rather than prose.
  const body = text.indexOf('\nmetadata:');
  const uncommented = (
    text.slice(0, body) +
    text
      .slice(body)
      .split('\n')
      .map((line) => {
        const m = /^(\s*)# ( *)([A-Za-z_0-9.]+:.*|- .*)$/.exec(line);
        return m ? `${m[1]}${m[2]}${m[3]}` : line;
      })
      .join('\n')
  ).replace('copies: [local]', 'copies: [local, offsite]');
  const policy = parsePolicy(uncommented, 'uncommented');
  assert.equal(policy.repositories['offsite']?.offsite, true);
  assert.equal(policy.datasets['files']?.sources.postgres?.[0]?.database, 'shop');
  assert.equal(policy.datasets['files']?.retention?.archive?.legal_hold?.reason, 'case 2025-17');
  assert.equal(policy.notifications?.smtp?.port, 587);
  assert.deepEqual(
    checkPolicy(policy, { now: new Date() }).map((f) => f.requirement),
    [],
  );
});
