import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { emailSubject, emailText } from './email.js';
import type { ArcaEvent } from './event.js';

const breach: ArcaEvent = {
  event: 'rpo-breach',
  time: '2030-01-10T05:00:00.000Z',
  who: 'backup@db1',
  policy: 'POL-BKP-001',
  dataset: 'orders-db',
  summary: 'orders-db has no good snapshot; RPO is 1h',
  rpo: '1h',
  newest_snapshot_at: null,
};

describe('email', () => {
  it('says in the subject what happened to which dataset under which policy', () => {
    assert.equal(emailSubject(breach), '[arca] RPO breach: dataset orders-db (POL-BKP-001)');
    assert.equal(
      emailSubject({ ...breach, event: 'failure' }),
      '[arca] FAILED backup of dataset orders-db (POL-BKP-001)',
    );
    assert.equal(
      emailSubject({ ...breach, event: 'success' }),
      '[arca] backup of dataset orders-db succeeded (POL-BKP-001)',
    );
  });

  it('writes the summary, the facts and the JSON, a missing snapshot as “none”', () => {
    assert.equal(
      emailText(breach),
      [
        'orders-db has no good snapshot; RPO is 1h',
        '',
        'event: rpo-breach',
        'time: 2030-01-10T05:00:00.000Z',
        'who: backup@db1',
        'policy: POL-BKP-001',
        'dataset: orders-db',
        'rpo: 1h',
        'newest_snapshot_at: none',
        '',
        JSON.stringify(breach, null, 2),
        '',
      ].join('\n'),
    );
  });

  it('indents the further lines of a multi-line error', () => {
    const text = emailText({ ...breach, event: 'failure', error: 'pg_dump failed:\nconnection refused' });
    assert.match(text, /\nerror: pg_dump failed:\n {2}connection refused\n/);
  });
});
