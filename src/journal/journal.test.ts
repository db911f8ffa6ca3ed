import assert from 'node:assert/strict';
import { statSync } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import Database from 'better-sqlite3';
import { journalWithRecords, runNodeCode, sampleEntry, srcModule } from '../../test/support/journal.js';
import { tempDir } from '../../test/support/tmp.js';
import { ArcaError } from '../errors.js';
import { Journal, journalSchemaVersion } from './journal.js';
import { journalPath } from './path.js';
import { genesisHash, recordHash } from './record.js';

describe('journal', () => {
  it('lives in the state directory unless --journal or ARCA_JOURNAL says otherwise', () => {
    assert.equal(
      journalPath(undefined, { XDG_STATE_HOME: '/var/state', HOME: '/h' }),
      '/var/state/arca/journal.db',
    );
    assert.match(journalPath(undefined, {}), /\/\.local\/state\/arca\/journal\.db$/);
    assert.equal(journalPath(undefined, { ARCA_JOURNAL: '/j.db', XDG_STATE_HOME: '/s' }), '/j.db');
    assert.equal(journalPath('/opt.db', { ARCA_JOURNAL: '/j.db' }), '/opt.db');
  });

  it('appends records in a hash chain and returns them as stored', async (t) => {
    const { file, journal, records } = await journalWithRecords(t, 3);
    assert.deepEqual(
      records.map((r) => r.seq),
      [1, 2, 3],
    );
    assert.equal(records[0]!.prev_hash, genesisHash);
    assert.equal(records[1]!.prev_hash, records[0]!.hash);
    assert.equal(records[2]!.prev_hash, records[1]!.hash);
    for (const r of records) assert.equal(recordHash(r), r.hash);
    assert.deepEqual(journal.head(), { seq: 3, hash: records[2]!.hash });
    assert.deepEqual(journal.list(), records);
    const first = records[0]!;
    assert.equal(first.started_at, '2025-01-01T02:00:00.000Z');
    assert.equal(first.duration_ms, 30_000);
    assert.equal(first.snapshot_id, '0'.repeat(64));
    assert.match(first.who, /.@./);

    assert.equal(statSync(file).mode & 0o777, 0o600);
    assert.equal(statSync(path.dirname(file)).mode & 0o777, 0o700);
    const db = new Database(file, { readonly: true });
    try {
      assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
      assert.deepEqual(db.prepare('SELECT version FROM schema_version').all(), [
        { version: journalSchemaVersion },
      ]);
    } finally {
      db.close();
    }
  });

  it('continues the chain after reopening', async (t) => {
    const { file, journal, records } = await journalWithRecords(t, 2);
    journal.close();
    const again = Journal.open(file);
    try {
      const r = again.append(sampleEntry(2));
      assert.equal(r.seq, 3);
      assert.equal(r.prev_hash, records[1]!.hash);
      assert.ok(again.verify().ok);
    } finally {
      again.close();
    }
  });

  it('filters by dataset, operation, result and time, and keeps the newest with last', async (t) => {
    const { journal } = await journalWithRecords(t, 12);
    const seqs = (f: Parameters<Journal['list']>[0]): number[] => journal.list(f).map((r) => r.seq);
    assert.deepEqual(seqs({ dataset: 'a' }), [1, 3, 5, 7, 9, 11]);
    assert.deepEqual(seqs({ dataset: ['a', 'b'] }).length, 12);
    assert.deepEqual(seqs({ operation: 'check' }), [4, 8, 12]);
    assert.deepEqual(seqs({ result: 'failed' }), [3, 6, 9, 12]);
    assert.deepEqual(seqs({ result: ['failed'], dataset: 'b' }), [6, 12]);
    // Record i started on 2025-01-(1+i) 02:00 UTC; since is inclusive, until exclusive.
    assert.deepEqual(
      seqs({ since: '2025-01-03T02:00:00Z', until: new Date('2025-01-06T02:00:00Z') }),
      [3, 4, 5],
    );
    assert.deepEqual(seqs({ since: '2025-01-10' }), [10, 11, 12]);
    assert.deepEqual(seqs({ last: 2 }), [11, 12]);
    assert.deepEqual(seqs({ dataset: 'a', last: 2 }), [9, 11]);
    assert.deepEqual(seqs({ operation: 'restore' }), []);
    assert.throws(() => journal.list({ since: 'yesterday-ish' }), { code: 'usage' });
  });

  it('opens read-only only when the journal exists, and never creates it then', async (t) => {
    const dir = await tempDir(t, 'journal');
    const file = path.join(dir, 'journal.db');
    assert.throws(() => Journal.open(file, { readonly: true }), { code: 'not-found' });
    Journal.open(file).close();
    const ro = Journal.open(file, { readonly: true });
    try {
      assert.deepEqual(ro.list(), []);
      assert.equal(ro.head(), null);
      assert.throws(
        () => ro.append(sampleEntry(0)),
        (err) => err instanceof ArcaError && err.code === 'io',
      );
    } finally {
      ro.close();
    }
  });

  it('refuses a journal with a newer schema, and a file that is no journal', async (t) => {
    const dir = await tempDir(t, 'journal');
    const file = path.join(dir, 'journal.db');
    Journal.open(file).close();
    const db = new Database(file);
    db.prepare('UPDATE schema_version SET version = ?').run(journalSchemaVersion + 1);
    db.close();
    assert.throws(() => Journal.open(file), { code: 'unsupported' });

    const other = path.join(dir, 'other.db');
    new Database(other).exec('CREATE TABLE t (x)').close();
    assert.throws(() => Journal.open(other, { readonly: true }), { code: 'corrupt' });
  });

  it('refuses UPDATE and DELETE of records (append-only triggers)', async (t) => {
    const { file } = await journalWithRecords(t, 2);
    const db = new Database(file);
    try {
      assert.throws(() => db.exec("UPDATE records SET result = 'success'"), /append-only/);
      assert.throws(() => db.exec('DELETE FROM records WHERE seq = 2'), /append-only/);
    } finally {
      db.close();
    }
  });

  it('checks entries: operation, result, times, counts and policy hash', async (t) => {
    const { journal } = await journalWithRecords(t, 0);
    const base = sampleEntry(0);
    const bad = [
      { ...base, operation: 'Backup' },
      { ...base, operation: '' },
      { ...base, result: 'ok' as never },
      { ...base, started_at: 'not a time' },
      { ...base, bytes_read: -1 },
      { ...base, policy_hash: 'abc' },
      { ...base, details: [] as never },
    ];
    for (const entry of bad)
      assert.throws(() => journal.append(entry), { code: 'usage' }, JSON.stringify(entry));
    assert.equal(journal.head(), null, 'nothing was appended');
    const r = journal.append({
      ...base,
      started_at: '2025-06-01T12:00:00+02:00',
      ended_at: null,
      duration_ms: 1.6,
    });
    assert.equal(r.started_at, '2025-06-01T10:00:00.000Z');
    assert.equal(r.duration_ms, 2);
  });

  it('keeps one chain when two processes append at the same time', async (t) => {
    const { file, journal } = await journalWithRecords(t, 1);
    const perChild = 300;
    // Each child opens the journal, then waits (bounded) until both are ready, so the two
    // loops really run at the same time.
    const code = `
      const { existsSync, writeFileSync } = await import('node:fs');
      const { Journal } = await import(process.argv[1]);
      const [file, name, n] = process.argv.slice(2);
      const j = Journal.open(file);
      writeFileSync(file + '.ready-' + name, '');
      const pause = new Int32Array(new SharedArrayBuffer(4));
      for (let k = 0; k < 3000 && !(existsSync(file + '.ready-left') && existsSync(file + '.ready-right')); k++)
        Atomics.wait(pause, 0, 0, 10);
      for (let i = 0; i < Number(n); i++)
        j.append({ operation: 'backup', result: 'success', started_at: new Date(), dataset: name, details: { i } });
      j.close();
    `;
    const children = ['left', 'right'].map((name) =>
      runNodeCode(code, [srcModule('journal/journal'), file, name, String(perChild)], { timeoutMs: 120_000 }),
    );
    for (const r of await Promise.all(children)) assert.equal(r.code, 0, r.stderr.toString());

    const v = journal.verify();
    assert.deepEqual(v.problems, []);
    assert.equal(v.records, 1 + 2 * perChild);
    const all = journal.list();
    assert.deepEqual(
      all.map((r) => r.seq),
      Array.from({ length: 1 + 2 * perChild }, (_, i) => i + 1),
    );
    for (const name of ['left', 'right']) {
      const mine = all.filter((r) => r.dataset === name).map((r) => r.details.i);
      assert.deepEqual(
        mine,
        Array.from({ length: perChild }, (_, i) => i),
      );
    }
    let switches = 0;
    for (let i = 2; i < all.length; i++) if (all[i]!.dataset !== all[i - 1]!.dataset) switches++;
    t.diagnostic(`the two writers alternated ${switches} times`);
  });
});
