import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { journalWithRecords, sampleEntry, tamper } from '../../test/support/journal.js';
import { entryToBody, genesisHash, type JournalRecord, recordHash, sealRecord } from './record.js';
import { type ChainProblem, verifyChain } from './verify.js';

/** The problems as `kind@seq`, for compact assertions. */
function brief(problems: ChainProblem[]): string[] {
  return problems.map((p) => `${p.kind}@${p.seq ?? `#${p.position}`}`);
}

/** Inserts `r` as a row of the records table (details as JSON text). */
function insertSql(r: JournalRecord, id?: number): string {
  const cols = Object.keys(r);
  const values = cols.map((c) => {
    const v = (r as unknown as Record<string, unknown>)[c];
    if (v === null) return 'NULL';
    if (typeof v === 'number') return String(v);
    const text = typeof v === 'string' ? v : JSON.stringify(v);
    return `'${text.replaceAll("'", "''")}'`;
  });
  if (id !== undefined) {
    cols.push('id');
    values.push(String(id));
  }
  return `INSERT INTO records (${cols.join(', ')}) VALUES (${values.join(', ')})`;
}

describe('journal verification', () => {
  it('passes an intact journal and reports the head', async (t) => {
    const { journal, records } = await journalWithRecords(t, 5);
    const v = journal.verify();
    assert.deepEqual(v, { ok: true, records: 5, head: { seq: 5, hash: records[4]!.hash }, problems: [] });
  });

  it('passes an empty journal', async (t) => {
    const { journal } = await journalWithRecords(t, 0);
    assert.deepEqual(journal.verify(), { ok: true, records: 0, head: null, problems: [] });
    assert.equal(journal.verify({ count: 1 }).ok, false);
  });

  it('detects an edited field, and names the record', async (t) => {
    const { file, journal } = await journalWithRecords(t, 5);
    tamper(file, "UPDATE records SET result = 'success', error = NULL WHERE seq = 3");
    const v = journal.verify();
    assert.equal(v.ok, false);
    assert.deepEqual(brief(v.problems), ['hash-mismatch@3']);
    assert.match(v.problems[0]!.message, /changed after it was written/);
  });

  it('detects edited details', async (t) => {
    const { file, journal } = await journalWithRecords(t, 4);
    tamper(file, `UPDATE records SET details = '{"i":99}' WHERE seq = 2`);
    assert.deepEqual(brief(journal.verify().problems), ['hash-mismatch@2']);
    tamper(file, `UPDATE records SET details = 'not json' WHERE seq = 4`);
    assert.deepEqual(brief(journal.verify().problems), ['hash-mismatch@2', 'hash-mismatch@4']);
  });

  it('detects an edit whose hash was recomputed, at the next record', async (t) => {
    const { file, journal, records } = await journalWithRecords(t, 5);
    const forged = { ...records[2]!, bytes_added: 0 };
    forged.hash = recordHash(forged);
    tamper(file, `UPDATE records SET bytes_added = 0, hash = '${forged.hash}' WHERE seq = 3`);
    const v = journal.verify();
    assert.deepEqual(brief(v.problems), ['prev-hash-mismatch@4']);
    assert.match(v.problems[0]!.message, /changed, inserted or removed/);
  });

  it('detects a deleted record in the middle, and at the start', async (t) => {
    const { file, journal } = await journalWithRecords(t, 5);
    tamper(file, 'DELETE FROM records WHERE seq = 3');
    let v = journal.verify();
    assert.deepEqual(brief(v.problems), ['seq-gap@4']);
    assert.match(v.problems[0]!.message, /seq 3 is missing/);
    tamper(file, 'DELETE FROM records WHERE seq = 1');
    v = journal.verify();
    assert.deepEqual(brief(v.problems), ['seq-gap@2', 'seq-gap@4']);
    assert.match(v.problems[0]!.message, /seq 1 is missing/);
  });

  it('detects a deleted tail only against a noted head or count', async (t) => {
    const { file, journal, records } = await journalWithRecords(t, 5);
    const noted = journal.verify();
    tamper(file, 'DELETE FROM records WHERE seq >= 4');
    assert.equal(journal.verify().ok, true, 'a shorter chain is still a chain');
    const byHead = journal.verify({ head: noted.head!.hash! });
    assert.deepEqual(brief(byHead.problems), ['truncated@#4']);
    assert.match(byHead.problems[0]!.message, /is not in the journal/);
    const byCount = journal.verify({ count: noted.records });
    assert.deepEqual(brief(byCount.problems), ['truncated@#4']);
    assert.match(byCount.problems[0]!.message, /3 records, but at least 5/);
    // An older head is still there: the journal only grew since it was noted.
    const older = journal.verify({ head: records[1]!.hash, count: 2 });
    assert.equal(older.ok, true);
    assert.equal(older.expectedHeadSeq, 2);
  });

  it('detects two records whose seq were swapped', async (t) => {
    const { file, journal } = await journalWithRecords(t, 5);
    tamper(
      file,
      'UPDATE records SET seq = -1 WHERE seq = 2',
      'UPDATE records SET seq = 2 WHERE seq = 3',
      'UPDATE records SET seq = 3 WHERE seq = -1',
    );
    const v = journal.verify();
    assert.deepEqual(brief(v.problems), ['seq-out-of-order@3', 'seq-out-of-order@2']);
    assert.match(v.problems[0]!.message, /reordered/);
  });

  it('detects two records moved in storage order', async (t) => {
    const { file, journal } = await journalWithRecords(t, 5);
    tamper(
      file,
      'UPDATE records SET id = 100 WHERE id = 2',
      'UPDATE records SET id = 2 WHERE id = 3',
      'UPDATE records SET id = 3 WHERE id = 100',
    );
    // Record 4 names record 3 as its predecessor, but now follows record 2.
    assert.deepEqual(brief(journal.verify().problems), [
      'seq-out-of-order@3',
      'seq-out-of-order@2',
      'prev-hash-mismatch@4',
    ]);
  });

  it('detects a forged record appended with a made-up hash', async (t) => {
    const { file, journal, records } = await journalWithRecords(t, 3);
    const forged = { ...records[2]!, seq: 4, prev_hash: records[2]!.hash, hash: 'f'.repeat(64) };
    tamper(file, insertSql(forged));
    assert.deepEqual(brief(journal.verify().problems), ['hash-mismatch@4']);
  });

  it('detects a correctly hashed record inserted in the middle', async (t) => {
    const { file, journal, records } = await journalWithRecords(t, 5);
    const forged = sealRecord(entryToBody(sampleEntry(99)), 3, records[1]!.hash, new Date());
    tamper(
      file,
      'UPDATE records SET seq = seq + 1000, id = id + 1000 WHERE seq >= 3',
      'UPDATE records SET seq = seq - 999, id = id - 999 WHERE seq >= 1000',
      insertSql(forged, 3),
    );
    const v = journal.verify();
    assert.deepEqual(brief(v.problems), ['prev-hash-mismatch@4', 'hash-mismatch@5', 'hash-mismatch@6']);
  });

  it('detects a rewritten chain only against a noted head', async (t) => {
    const { file, journal, records } = await journalWithRecords(t, 4);
    const noted = records[3]!.hash;
    // Everything from seq 2 on rewritten with valid hashes: the chain itself is consistent.
    const db = new Database(file);
    db.exec('DROP TRIGGER records_append_only_delete');
    db.exec('DELETE FROM records WHERE seq >= 2');
    db.close();
    let prev = records[0]!.hash;
    const rewritten: string[] = [];
    for (let i = 1; i < 4; i++) {
      const r = sealRecord(
        entryToBody({ ...sampleEntry(i), result: 'success', error: null }),
        i + 1,
        prev,
        new Date(),
      );
      rewritten.push(insertSql(r));
      prev = r.hash;
    }
    tamper(file, ...rewritten);
    assert.equal(journal.verify().ok, true);
    assert.deepEqual(brief(journal.verify({ head: noted }).problems), ['truncated@#5']);
  });

  it('reports malformed entries, duplicates and a first record that does not start the chain', async (t) => {
    const { records } = await journalWithRecords(t, 3);
    const [a, b, c] = records as [JournalRecord, JournalRecord, JournalRecord];
    assert.deepEqual(brief(verifyChain([a, 'junk', c]).problems), ['malformed@#2', 'prev-hash-mismatch@3']);
    assert.deepEqual(brief(verifyChain([a, { seq: 2 }, c]).problems), [
      'malformed@2',
      'prev-hash-mismatch@3',
    ]);
    assert.deepEqual(brief(verifyChain([a, b, b, c]).problems), ['seq-out-of-order@2']);
    assert.deepEqual(brief(verifyChain([b, c]).problems), ['seq-gap@2']);
    const unchained = { ...a, prev_hash: 'e'.repeat(64) };
    unchained.hash = recordHash(unchained);
    const v = verifyChain([unchained]);
    assert.deepEqual(brief(v.problems), ['prev-hash-mismatch@1']);
    assert.match(v.problems[0]!.message, /genesis/);
    assert.equal(a.prev_hash, genesisHash);
  });
});
