import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { describe, it } from 'node:test';
import { journalWithRecords } from '../../test/support/journal.js';
import { cleanDetails, cleanLocation, cleanText, isSecretKey } from './secrets.js';

const pem =
  '-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA\n-----END OPENSSH PRIVATE KEY-----';

describe('journal secret guard', () => {
  it('removes passwords from repository locations', () => {
    assert.equal(
      cleanLocation('rest:https://backup:hunter2@vault:8000/web01/'),
      'rest:https://backup:***@vault:8000/web01/',
    );
    assert.equal(
      cleanLocation('s3:https://AKIA:s3cr3t@minio.local/bucket'),
      's3:https://AKIA:***@minio.local/bucket',
    );
    assert.equal(cleanLocation('sftp:backup:hunter2@vault:/srv/arca'), 'sftp:backup:***@vault:/srv/arca');
    assert.equal(
      cleanLocation('s3:https://h/b?X-Amz-Security-Token=abc&x=1'),
      's3:https://h/b?X-Amz-Security-Token=***&x=1',
    );
    for (const unchanged of [
      '/srv/backup',
      'sftp:backup@vault:/srv/arca',
      'sftp:vault:/srv/with@sign',
      'rest:https://vault:8000/',
      'rest:https://backup@vault:8000/',
      's3:https://s3.eu-west-1.amazonaws.com/acme/web01',
    ])
      assert.equal(cleanLocation(unchanged), unchanged);
  });

  it('removes secrets from text', () => {
    assert.equal(cleanText('GET https://u:p4ss@h/x failed'), 'GET https://u:***@h/x failed');
    assert.equal(
      cleanText('ran with PASSWORD=hunter2 and api_key="k 1"'),
      'ran with PASSWORD=*** and api_key=***',
    );
    assert.equal(cleanText('Authorization: Basic dTpw'), 'Authorization: ***');
    assert.equal(cleanText('sent Bearer eyJhbGciOi.x-y_z'), 'sent Bearer ***');
    assert.equal(cleanText(`key was ${pem} here`), 'key was [private key redacted] here');
    assert.equal(cleanText('wrong password for key 3fa2'), 'wrong password for key 3fa2');
    assert.equal(cleanText('lone \uD800 surrogate'), 'lone \uFFFD surrogate');
  });

  it('redacts values of secret-named keys in details, at any depth', () => {
    assert.ok(
      ['password', 'db_password', 'secretAccessKey', 'API-Key', 'token', 'pwd', 'privateKey'].every(
        isSecretKey,
      ),
    );
    assert.ok(!['key_id', 'keyHint', 'passes', 'snapshot_id', 'compass'].some(isSecretKey));
    const when = new Date('2025-01-01T00:00:00Z');
    assert.deepEqual(
      cleanDetails({
        password: 'hunter2',
        key_id: '3fa2',
        nested: [{ apiToken: 'abc', channel: 'https://hooks:s3cret@example.org/x' }],
        missing: undefined,
        unset_secret: null,
        when,
        count: 10n,
      }),
      {
        password: '***',
        key_id: '3fa2',
        nested: [{ apiToken: '***', channel: 'https://hooks:***@example.org/x' }],
        unset_secret: null,
        when: '2025-01-01T00:00:00.000Z',
        count: 10,
      },
    );
  });

  it('keeps every secret out of the stored journal', async (t) => {
    const { file, journal } = await journalWithRecords(t, 0);
    const r = journal.append({
      operation: 'copy',
      result: 'failed',
      started_at: new Date(),
      repository: 'rest:https://backup:hunter2@vault:8000/web01/',
      error: 'connect https://backup:hunter2@vault:8000/ refused (password=hunter2)',
      details: {
        from: 's3:https://AKIA:hunter2@h/b',
        password_command: 'echo hunter2',
        ssh: { private_key: pem },
      },
    });
    assert.equal(r.repository, 'rest:https://backup:***@vault:8000/web01/');
    assert.deepEqual(r.details, {
      from: 's3:https://AKIA:***@h/b',
      password_command: '***',
      ssh: { private_key: '***' },
    });
    assert.ok(journal.verify().ok);
    journal.close();
    const bytes = readFileSync(file);
    assert.equal(bytes.indexOf('hunter2'), -1);
    assert.equal(bytes.indexOf('b3BlbnNzaC1rZXktdjEAAAAA'), -1);
    assert.notEqual(bytes.indexOf('backup:***@vault'), -1, 'the check looks at the right bytes');
  });
});
