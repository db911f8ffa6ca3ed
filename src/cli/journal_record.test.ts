import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { type TestContext, test } from 'node:test';
import { readJournal } from '../../test/support/journal.js';
import { tempDir } from '../../test/support/tmp.js';
import { ArcaError } from '../errors.js';
import { recordCli, startCliRecording } from './journal_record.js';

async function journalFile(t: TestContext): Promise<string> {
  return path.join(await tempDir(t, 'journal-record'), 'state', 'journal.db');
}

/** What the code under test writes on stderr while `fn` runs. */
async function stderrOf(t: TestContext, fn: () => Promise<unknown>): Promise<string> {
  let text = '';
  const write = t.mock.method(process.stderr, 'write', (chunk: string | Uint8Array) => {
    text += String(chunk);
    return true;
  });
  try {
    await fn();
  } finally {
    write.mock.restore();
  }
  return text;
}

test('records the value, the report and the times; the journal is opened only afterwards', async (t) => {
  const file = await journalFile(t);
  const value = await recordCli(
    { journal: file },
    { operation: 'backup', repository: 'rest:http://u:pw@host/', details: { paths: ['/a'] } },
    async (report) => {
      assert.throws(() => readJournal(file), /no journal/, 'not opened while the operation runs');
      report.snapshot_id = 'ab'.repeat(32);
      report.details = { problems: 0 };
      return 42;
    },
  );
  assert.equal(value, 42);
  const [rec, ...rest] = readJournal(file);
  assert.equal(rest.length, 0);
  assert.equal(rec!.result, 'success');
  assert.equal(rec!.repository, 'rest:http://u:***@host/');
  assert.deepEqual(rec!.details, { paths: ['/a'], problems: 0 });
  assert.equal(rec!.snapshot_id, 'ab'.repeat(32));
});

test("rethrows the operation's own error unchanged and records the result it stands for", async (t) => {
  const file = await journalFile(t);
  for (const [err, result] of [
    [new ArcaError('partial', 'some files unreadable'), 'partial'],
    [new ArcaError('interrupted', 'interrupted'), 'interrupted'],
    [new ArcaError('no-repository', 'no repository at /x'), 'failed'],
    [new TypeError('bug'), 'failed'],
  ] as const) {
    await assert.rejects(
      recordCli({ journal: file }, { operation: 'check' }, () => Promise.reject(err)),
      (thrown) => thrown === err,
    );
    const rec = readJournal(file).at(-1)!;
    assert.deepEqual([rec.result, rec.error], [result, err.message]);
  }
  assert.equal(readJournal(file).length, 4);
});

test('a dry run records nothing', async (t) => {
  const file = await journalFile(t);
  assert.equal(
    await recordCli({ journal: file, dryRun: true }, { operation: 'prune' }, async () => 'x'),
    'x',
  );
  const recording = startCliRecording({ journal: file, dryRun: true }, { operation: 'forget' });
  await recording.finish();
  assert.throws(() => readJournal(file), /no journal/);
});

test('a journal that cannot be written is one warning; the outcome stands', async (t) => {
  const dir = await tempDir(t, 'journal-record');
  const blocked = path.join(dir, 'blocked');
  mkdirSync(blocked);
  let value: unknown;
  const ok = await stderrOf(t, async () => {
    value = await recordCli({ journal: blocked }, { operation: 'backup' }, async () => 'saved');
  });
  assert.equal(value, 'saved');
  assert.match(ok, /^arca: warning: this backup was not recorded in the journal: .*blocked.*\n$/);
  const err = new ArcaError('locked', 'repository is locked');
  const failed = await stderrOf(t, () =>
    assert.rejects(
      recordCli({ journal: blocked }, { operation: 'prune' }, () => Promise.reject(err)),
      (thrown) => thrown === err,
    ),
  );
  assert.match(failed, /^arca: warning: this prune was not recorded in the journal: /);
});

test('finish records once: a later finish (or error) does not add a second record', async (t) => {
  const file = await journalFile(t);
  const recording = startCliRecording({ journal: file }, { operation: 'forget' });
  recording.report.details = { removed: ['a'] };
  await recording.finish();
  await recording.finish(new Error('later'));
  const records = readJournal(file);
  assert.equal(records.length, 1);
  assert.deepEqual([records[0]!.result, records[0]!.details], ['success', { removed: ['a'] }]);
});
