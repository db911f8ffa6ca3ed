import assert from 'node:assert/strict';
import { test } from 'node:test';
import {
  credentialSchema,
  findInlineSecrets,
  isSecretName,
  isSecretRef,
  secretRefSchema,
} from './credentials.js';

test('a reference is exactly one of env, file or command', () => {
  for (const ok of [{ env: 'PW' }, { file: '/etc/pw' }, { command: 'pass show x' }]) {
    assert.equal(secretRefSchema.safeParse(ok).success, true);
    assert.equal(isSecretRef(ok), true);
  }
  for (const bad of [{ env: 'A', file: 'b' }, { vault: 'x' }, { env: '' }, {}, 'plain', 5]) {
    assert.equal(secretRefSchema.safeParse(bad).success, false, JSON.stringify(bad));
  }
  assert.equal(isSecretRef({ daily: 7 }), false);
  assert.equal(isSecretRef({ env: 3 }), false);
  // A password slot loads a plain string, so that the check can report it.
  assert.equal(credentialSchema.safeParse('hunter2').success, true);
});

test('secret-looking names', () => {
  for (const n of [
    'AWS_SECRET_ACCESS_KEY',
    'ARCA_REST_PASSWORD',
    'AWS_SESSION_TOKEN',
    'rest.password',
    'Passphrase',
  ])
    assert.equal(isSecretName(n), true, n);
  for (const n of ['AWS_ACCESS_KEY_ID', 'AWS_REGION', 's3.region', 'sftp.identity', 'username'])
    assert.equal(isSecretName(n), false, n);
});

test('findInlineSecrets reports written-in secrets by path and ignores references', () => {
  const doc = {
    repos: {
      a: { password: 'hunter2', env: { AWS_SECRET_ACCESS_KEY: 'abc', AWS_REGION: 'eu-west-1', TOKEN: 1234 } },
      b: { password: { file: '/etc/pw' }, env: { AWS_SECRET_ACCESS_KEY: { env: 'X' } } },
      c: { location: 'rest:https://backup:s3cret@vault:8000/', password: { command: 'PGPASSWORD=x cat' } },
      d: { location: 'rest:https://backup@vault:8000/', password: { command: 'pass show a' } },
    },
    jobs: [
      { command: 'PGPASSWORD=hunter2 pg_dump shop' },
      { command: 'PGPASSWORD=$SHOP_PW pg_dump shop' },
      { command: 'mysqldump --password=hunter2 crm' },
      { command: 'mysqldump --password "$PW" crm' },
      { command: 'curl https://user:pw@example.org/x' },
    ],
  };
  const found = findInlineSecrets(doc, [['repos', '*', 'password']], [['repos', '*', 'env']]);
  assert.deepEqual(
    found.map((f) => f.path.join('.')),
    [
      'repos.a.password',
      'repos.a.env.AWS_SECRET_ACCESS_KEY',
      'repos.a.env.TOKEN',
      'repos.c.location',
      'repos.c.password.command',
      'jobs.0.command',
      'jobs.2.command',
      'jobs.4.command',
    ],
  );
  assert.ok(found.every((f) => !f.what.includes('hunter2') && !f.what.includes('s3cret')));
  assert.deepEqual(findInlineSecrets({ a: { env: 'X' }, b: 'nothing secret here' }, [], []), []);
});
