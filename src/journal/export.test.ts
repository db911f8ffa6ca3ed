import assert from 'node:assert/strict';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { describe, it, type TestContext } from 'node:test';
import { projectRoot } from '../../test/support/arca.js';
import { journalWithRecords } from '../../test/support/journal.js';
import { run } from '../../test/support/run.js';
import { tempDir } from '../../test/support/tmp.js';
import { requireTool } from '../../test/support/tools.js';
import { exportJournal, exportLines, verifyExport } from './export.js';
import type { Journal } from './journal.js';
import { canonicalJson } from './record.js';
import type { ChainProblem } from './verify.js';

function brief(problems: ChainProblem[]): string[] {
  return problems.map((p) => `${p.kind}@${p.seq ?? `#${p.position}`}`);
}

/** The code block of docs/journal.md whose first line is `firstLine`. */
function docRecipe(firstLine: string): string {
  const doc = readFileSync(path.join(projectRoot, 'docs', 'journal.md'), 'utf8');
  const start = doc.indexOf(`\n${firstLine}\n`);
  assert.ok(start >= 0, `docs/journal.md has no code block starting with ${firstLine}`);
  return doc.slice(start + 1, doc.indexOf('\n```', start + 1) + 1);
}

/** Appends records whose details hold what canonical JSON must get exactly right. */
function appendAwkwardRecords(journal: Journal): void {
  const floats = [0.1, 1e-7, 1.5e-7, 123.456, 1e21, 1.7976931348623157e308, 5e-324, -2.5e-300, 1e20, 100, -0];
  journal.append({
    operation: 'drill',
    result: 'partial',
    started_at: '2025-02-03T04:05:06.789Z',
    dataset: 'données',
    details: {
      floats,
      big: 2 ** 53 + 2,
      text: 'quote " backslash \\ newline \n tab \t ctrl \u0001 del \u007f ls \u2028 emoji 😀 é',
      keys: { z: 1, Z: 2, é: 3, '\uff01': 4, '😀': 5, a_b: 6, 'a-b': 7, '': 8 },
      nested: [{ b: [true, false, null], a: {} }, []],
    },
  });
}

async function exportOf(t: TestContext, journal: Journal): Promise<{ file: string; lines: string[] }> {
  const file = path.join(await tempDir(t, 'journal-export'), 'journal.jsonl');
  exportJournal(journal, file);
  return { file, lines: readFileSync(file, 'utf8').split('\n').slice(0, -1) };
}

describe('journal export', () => {
  it('writes every record as canonical JSON Lines that verify as the database does', async (t) => {
    const { journal, records } = await journalWithRecords(t, 4);
    appendAwkwardRecords(journal);
    const file = path.join(await tempDir(t, 'journal-export'), 'journal.jsonl');
    const summary = exportJournal(journal, file);
    const head = journal.head()!;
    assert.deepEqual(summary, { records: 5, head });
    assert.equal(statSync(file).mode & 0o777, 0o600);
    const text = readFileSync(file, 'utf8');
    assert.equal(text, [...exportLines(journal)].join(''));
    const lines = text.split('\n');
    assert.equal(lines.pop(), '');
    assert.equal(lines[0], canonicalJson(records[0]));
    assert.deepEqual(JSON.parse(lines[0]!), records[0]);
    assert.deepEqual(verifyExport(file), { ok: true, records: 5, head, problems: [] });
    assert.deepEqual(verifyExport(file, { head: records[1]!.hash }).expectedHeadSeq, 2);
  });

  it('detects edited, deleted, swapped, malformed and missing lines', async (t) => {
    const { journal } = await journalWithRecords(t, 5);
    const { file, lines } = await exportOf(t, journal);
    const write = (ls: string[]): void => writeFileSync(file, ls.map((l) => `${l}\n`).join(''));
    const check = (ls: string[], expect = {}): string[] => {
      write(ls);
      return brief(verifyExport(file, expect).problems);
    };
    const [l1, l2, l3, l4, l5] = lines as [string, string, string, string, string];
    assert.deepEqual(check([l1, l2.replace('"result":"success"', '"result":"failed"'), l3, l4, l5]), [
      'hash-mismatch@2',
    ]);
    assert.deepEqual(check([l1, l2, l4, l5]), ['seq-gap@4']);
    assert.deepEqual(check([l1, l3, l2, l4, l5]), [
      'seq-out-of-order@3',
      'seq-out-of-order@2',
      'prev-hash-mismatch@4',
    ]);
    assert.deepEqual(check([l1, l2, '{not json', l4, l5]), ['malformed@#3', 'prev-hash-mismatch@4']);
    assert.deepEqual(check([l1, l2, l3]), []);
    assert.deepEqual(check([l1, l2, l3], { count: 5 }), ['truncated@#4']);
    assert.deepEqual(check([l1, l2, l3], { head: JSON.parse(l5).hash }), ['truncated@#4']);
    // Re-formatting (whitespace, key order) changes no value, so it still verifies.
    const pretty = lines.map((l) => {
      const o = JSON.parse(l) as Record<string, unknown>;
      return JSON.stringify(Object.fromEntries(Object.entries(o).reverse()));
    });
    assert.deepEqual(check(pretty), []);
    assert.throws(() => verifyExport(path.join(path.dirname(file), 'missing.jsonl')), { code: 'not-found' });
    assert.throws(() => verifyExport(path.dirname(file)), { code: 'io' });
    assert.throws(() => exportJournal(journal, path.join(file, 'x', 'journal.jsonl')), { code: 'io' });
  });

  it('agrees with the Python script of docs/journal.md', async (t) => {
    if (!requireTool(t, 'python3', 'python3')) return;
    const { journal } = await journalWithRecords(t, 3);
    appendAwkwardRecords(journal);
    journal.append({ operation: 'backup', result: 'success', started_at: new Date(), details: { after: 1 } });
    const { file, lines } = await exportOf(t, journal);
    const script = path.join(path.dirname(file), 'verify_journal.py');
    writeFileSync(
      script,
      docRecipe('# verify_journal.py: check an arca journal export (JSON Lines) without arca.'),
    );
    const py = async (...args: string[]) => {
      const r = await run('python3', [script, ...args]);
      return { code: r.code, out: r.stdout.toString().trim(), err: r.stderr.toString().trim() };
    };
    const head = journal.head()!;
    assert.deepEqual(await py(file), { code: 0, out: `ok: 5 records, head ${head.hash}`, err: '' });
    assert.equal((await py(file, lines[1] && JSON.parse(lines[1]).hash)).code, 0);
    const unknown = await py(file, 'a'.repeat(64));
    assert.equal(unknown.code, 1);
    assert.match(unknown.err, /not in the export/);

    const tampered = path.join(path.dirname(file), 'tampered.jsonl');
    const variants: [string, string[], RegExp][] = [
      ['edited', lines.map((l, i) => (i === 3 ? l.replace('1e-7', '2e-7') : l)), /line 4: hash mismatch/],
      ['deleted', lines.filter((_, i) => i !== 1), /line 2: seq is 3, expected 2/],
      [
        'relinked',
        lines.map((l, i) =>
          i === 2 ? l.replace(/"prev_hash":"[0-9a-f]+"/, `"prev_hash":"${'0'.repeat(64)}"`) : l,
        ),
        /line 3: prev_hash mismatch/,
      ],
    ];
    for (const [what, ls, message] of variants) {
      writeFileSync(tampered, ls.map((l) => `${l}\n`).join(''));
      const r = await py(tampered);
      assert.equal(r.code, 1, what);
      assert.match(r.err, message, what);
      assert.equal(verifyExport(tampered).ok, false, what);
    }
  });

  it('agrees with the jq recipe of docs/journal.md', async (t) => {
    if (!requireTool(t, 'jq', 'jq')) return;
    const { journal } = await journalWithRecords(t, 0);
    for (let i = 0; i < 4; i++)
      journal.append({
        operation: 'backup',
        result: 'success',
        started_at: new Date(Date.UTC(2025, 0, i + 1)),
        dataset: 'données',
        repository: 'sftp:backup@vault:/srv/arca',
        bytes_read: 1234 * i,
        details: { i, text: 'quote " newline \n é', list: [1, 2, { b: 1, a: 2 }] },
      });
    const { file, lines } = await exportOf(t, journal);
    const script = path.join(path.dirname(file), 'check-journal.sh');
    writeFileSync(
      script,
      docRecipe('# check-journal.sh: jq recipe for an arca journal export (first argument)'),
    );
    const sh = async (f: string) => {
      const r = await run('bash', [script, f]);
      return { code: r.code, out: r.stdout.toString().trim() };
    };
    assert.deepEqual(await sh(file), { code: 0, out: `ok: 4 records, head ${journal.head()!.hash}` });
    writeFileSync(file, lines.map((l, i) => `${i === 2 ? l.replace('"i":2', '"i":5') : l}\n`).join(''));
    assert.deepEqual(await sh(file), { code: 1, out: 'broken at line 3 (seq 3)' });
  });
});
