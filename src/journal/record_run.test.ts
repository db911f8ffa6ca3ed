import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { journalWithRecords } from '../../test/support/journal.js';
import { ArcaError } from '../errors.js';
import { recordRun } from './record_run.js';

describe('recordRun', () => {
  it('records a successful run with what it reported', async (t) => {
    const { journal } = await journalWithRecords(t, 0);
    const { value, record } = await recordRun(
      journal,
      { operation: 'backup', dataset: 'a', details: { tags: ['daily'] } },
      async (report) => {
        report.snapshot_id = 'ab'.repeat(32);
        report.bytes_added = 42;
        report.details = { parent: 'cd' };
        return 7;
      },
    );
    assert.equal(value, 7);
    assert.equal(record.result, 'success');
    assert.equal(record.snapshot_id, 'ab'.repeat(32));
    assert.equal(record.bytes_added, 42);
    assert.deepEqual(record.details, { tags: ['daily'], parent: 'cd' });
    assert.ok(record.ended_at !== null && record.ended_at >= record.started_at);
    assert.deepEqual(journal.list(), [record]);
  });

  it('records how a run failed and rethrows its error', async (t) => {
    const { journal } = await journalWithRecords(t, 0);
    const cases: [unknown, string][] = [
      [new ArcaError('partial', '2 files unreadable'), 'partial'],
      [new ArcaError('interrupted', 'interrupted'), 'interrupted'],
      [new Error('disk full'), 'failed'],
    ];
    for (const [err, result] of cases) {
      await assert.rejects(
        recordRun(journal, { operation: 'check' }, async (report) => {
          report.result = 'success';
          throw err;
        }),
        (e) => e === err,
      );
      const r = journal.list({ last: 1 })[0]!;
      assert.equal(r.result, result);
      assert.equal(r.error, (err as Error).message);
    }
    assert.ok(journal.verify().ok);
  });
});
