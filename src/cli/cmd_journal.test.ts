import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { arcaFromSource, journalWithRecords, tamper } from '../../test/support/journal.js';
import { tempDir } from '../../test/support/tmp.js';
import { exportLines } from '../journal/export.js';
import { parseTime } from './cmd_journal.js';

describe('arca journal', () => {
  it('lists records as a table, or as JSON Lines, with filters', async (t) => {
    const { file, journal } = await journalWithRecords(t, 6);
    const table = await arcaFromSource(['journal', '--journal', file]);
    assert.equal(table.code, 0, table.err);
    const lines = table.out.trimEnd().split('\n');
    assert.match(
      lines[0]!,
      /^Seq\s+Started\s+Duration\s+Operation\s+Dataset\s+Level\s+Snapshot\s+Result\s+Repository\s+Error$/,
    );
    assert.match(
      lines[4]!,
      /^3 .* 0:30 +backup +a +incremental +00000000 +failed +\/srv\/backup +source 2 unreadable$/,
    );
    assert.equal(lines.at(-1), '6 records');

    const json = await arcaFromSource(['journal', '--json'], { ARCA_JOURNAL: file });
    assert.equal(json.code, 0, json.err);
    assert.equal(json.out, [...exportLines(journal)].join(''));

    const some = await arcaFromSource([
      'journal',
      '--journal',
      file,
      '--json',
      '--dataset',
      'a',
      '--result',
      'failed',
      '--result',
      'success',
      '--since',
      '2025-01-02',
      '--last',
      '2',
    ]);
    assert.equal(some.code, 0, some.err);
    assert.deepEqual(
      some.out
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l).seq),
      [3, 5],
    );
  });

  it('verifies an intact journal, and names the first broken record of a tampered one', async (t) => {
    const { file, records } = await journalWithRecords(t, 5);
    const head = records[4]!.hash;
    const ok = await arcaFromSource(['journal', 'verify', '--journal', file]);
    assert.equal(ok.code, 0, ok.err);
    assert.equal(ok.out, `journal ${file}: 5 records checked, intact\nhead: seq 5 ${head}\n`);
    const okJson = await arcaFromSource(['--json', 'journal', 'verify', '--journal', file]);
    assert.deepEqual(JSON.parse(okJson.out), {
      ok: true,
      records: 5,
      head: { seq: 5, hash: head },
      first_broken: null,
      problems: [],
    });

    tamper(file, 'UPDATE records SET bytes_read = 0 WHERE seq = 3', 'DELETE FROM records WHERE seq = 4');
    const broken = await arcaFromSource(['journal', 'verify', '--journal', file]);
    assert.equal(broken.code, 1);
    assert.match(broken.out, /^seq 3: hash mismatch: the record was changed after it was written$/m);
    assert.match(broken.out, /^seq 5: gap in seq: seq 5 follows seq 3: seq 4 is missing \(deleted\)$/m);
    assert.match(broken.out, /: 4 records checked, BROKEN: first broken at seq 3 \(hash mismatch\)$/m);
    const brokenJson = await arcaFromSource(['journal', 'verify', '--journal', file, '--json']);
    assert.equal(brokenJson.code, 1);
    const doc = JSON.parse(brokenJson.out);
    assert.equal(doc.ok, false);
    assert.deepEqual(doc.first_broken, {
      kind: 'hash-mismatch',
      seq: 3,
      position: 3,
      message: 'the record was changed after it was written',
    });
  });

  it('detects a cut-off tail with --expect-head and --expect-count', async (t) => {
    const { file, records } = await journalWithRecords(t, 5);
    const grown = await arcaFromSource([
      'journal',
      'verify',
      '--journal',
      file,
      '--expect-head',
      records[2]!.hash,
    ]);
    assert.equal(grown.code, 0, grown.err);
    assert.match(grown.out, /^expected head found at seq 3: 2 records appended since$/m);

    tamper(file, 'DELETE FROM records WHERE seq = 5');
    assert.equal((await arcaFromSource(['journal', 'verify', '--journal', file])).code, 0);
    const byHead = await arcaFromSource([
      'journal',
      'verify',
      '--journal',
      file,
      '--expect-head',
      records[4]!.hash,
    ]);
    assert.equal(byHead.code, 1);
    assert.match(byHead.out, /truncated: the expected head [0-9a-f]{64} is not in the journal/);
    const byCount = await arcaFromSource(['journal', 'verify', '--journal', file, '--expect-count', '5']);
    assert.equal(byCount.code, 1);
    assert.match(byCount.out, /truncated: 4 records, but at least 5 were expected/);
  });

  it('exports the journal and verifies the export', async (t) => {
    const { file, journal } = await journalWithRecords(t, 3);
    const out = path.join(await tempDir(t, 'journal-cli'), 'journal.jsonl');
    const exported = await arcaFromSource(['journal', 'export', out, '--journal', file]);
    assert.equal(exported.code, 0, exported.err);
    assert.equal(exported.out, `exported 3 records to ${out}; head: seq 3 ${journal.head()!.hash}\n`);
    const stdout = await arcaFromSource(['journal', 'export', '-', '--journal', file]);
    assert.equal(stdout.out, readFileSync(out, 'utf8'));

    const ok = await arcaFromSource(['journal', 'verify', out]);
    assert.equal(ok.code, 0, ok.err);
    assert.match(ok.out, /^journal export .*: 3 records checked, intact$/m);
    writeFileSync(out, readFileSync(out, 'utf8').replace('"files_read":1', '"files_read":9'));
    const broken = await arcaFromSource(['journal', 'verify', out]);
    assert.equal(broken.code, 1);
    assert.match(broken.out, /first broken at seq 2 \(hash mismatch\)/);
  });

  it('fails clearly without a journal or with bad arguments', async (t) => {
    const dir = await tempDir(t, 'journal-cli');
    const missing = await arcaFromSource(['journal'], { XDG_STATE_HOME: dir, ARCA_JOURNAL: '' });
    assert.equal(missing.code, 1);
    assert.equal(missing.err, `arca: no journal at ${path.join(dir, 'arca', 'journal.db')}\n`);
    const { file } = await journalWithRecords(t, 1);
    for (const args of [
      ['--result', 'ok'],
      ['--since', 'last tuesday'],
      ['--last', '-1'],
      ['verify', '--expect-head', 'abc'],
      ['verify', '--expect-count', 'x'],
    ]) {
      const r = await arcaFromSource(['journal', '--journal', file, ...args]);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.err}`);
      assert.match(r.err, /^arca: /);
    }
  });

  it('reads --since and --until as ISO times or ages', () => {
    const now = Date.parse('2025-06-10T12:00:00Z');
    assert.equal(parseTime('2025-06-01', '--since', now).toISOString(), '2025-06-01T00:00:00.000Z');
    assert.equal(parseTime('7d', '--since', now).toISOString(), '2025-06-03T12:00:00.000Z');
    assert.equal(parseTime('90m', '--since', now).toISOString(), '2025-06-10T10:30:00.000Z');
    assert.throws(() => parseTime('7 days', '--since', now), { code: 'usage' });
  });
});
