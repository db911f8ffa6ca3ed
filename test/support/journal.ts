/**
 * Journals for tests: a temporary journal holding records, raw SQL for tampering with it
 * as an attacker would, reading a journal back, and running code that imports arca's
 * modules in a child process.
 */
import path from 'node:path';
import type { TestContext } from 'node:test';
import Database from 'better-sqlite3';
import { Journal } from '../../src/journal/journal.js';
import type { JournalEntry, JournalRecord } from '../../src/journal/record.js';
import { type RunOptions, type RunResult, run } from './run.js';
import { tempDir } from './tmp.js';

const fromSource = import.meta.url.endsWith('.ts');

/** An entry for record number `i` of a test journal: datasets `a`/`b` alternate, every third failed. */
export function sampleEntry(i: number): JournalEntry {
  return {
    operation: i % 4 === 3 ? 'check' : 'backup',
    result: i % 3 === 2 ? 'failed' : 'success',
    started_at: new Date(Date.UTC(2025, 0, 1 + i, 2, 0, 0)),
    ended_at: new Date(Date.UTC(2025, 0, 1 + i, 2, 0, 30)),
    dataset: i % 2 === 0 ? 'a' : 'b',
    repository: '/srv/backup',
    level: 'incremental',
    snapshot_id: `${i}`.padStart(64, '0'),
    bytes_read: 1000 * i,
    files_read: i,
    bytes_added: 10 * i,
    files_added: 1,
    error: i % 3 === 2 ? `source ${i} unreadable` : null,
    details: { i, ratio: i / 7, tags: ['daily'] },
  };
}

/** A journal in a temporary directory with `n` records from {@link sampleEntry} (closed again when `t` ends). */
export async function journalWithRecords(
  t: TestContext,
  n: number,
): Promise<{ file: string; journal: Journal; records: JournalRecord[] }> {
  const file = path.join(await tempDir(t, 'journal'), 'state', 'journal.db');
  const journal = Journal.open(file);
  t.after(() => journal.close());
  const records: JournalRecord[] = [];
  for (let i = 0; i < n; i++) records.push(journal.append(sampleEntry(i)));
  return { file, journal, records };
}

/** Runs SQL statements against the journal file directly, after dropping the append-only triggers. */
export function tamper(file: string, ...statements: string[]): void {
  const db = new Database(file);
  try {
    db.exec(
      'DROP TRIGGER IF EXISTS records_append_only_update; DROP TRIGGER IF EXISTS records_append_only_delete;',
    );
    for (const sql of statements) db.exec(sql);
  } finally {
    db.close();
  }
}

/** Every record of the journal at `file`, oldest first (opened read-only and closed again). */
export function readJournal(file: string): JournalRecord[] {
  const journal = Journal.open(file, { readonly: true });
  try {
    return journal.list();
  } finally {
    journal.close();
  }
}

/** The URL of a module under `src/` (its `.ts` when the tests run from source, else the compiled `.js`). */
export function srcModule(relative: string): string {
  return new URL(`../../src/${relative}.${fromSource ? 'ts' : 'js'}`, import.meta.url).href;
}

/** Runs ES module `code` in a new Node process; it sees `args` as `process.argv[1…]`. */
export function runNodeCode(
  code: string,
  args: readonly string[],
  options: RunOptions = {},
): Promise<RunResult> {
  const loader = fromSource ? ['--import', import.meta.resolve('tsx')] : [];
  return run(process.execPath, [...loader, '--input-type=module', '-e', code, ...args], options);
}

/** Runs `arca <args>` from the modules under `src/` (no build needed) and decodes its output. */
export async function arcaFromSource(
  args: readonly string[],
  env: NodeJS.ProcessEnv = {},
): Promise<{ code: number; out: string; err: string }> {
  const code =
    'const { main } = await import(process.argv[1]); process.exitCode = await main(process.argv.slice(2));';
  const r = await runNodeCode(code, [srcModule('cli/main'), ...args], { env: { ...process.env, ...env } });
  return { code: r.code, out: r.stdout.toString('utf8'), err: r.stderr.toString('utf8') };
}
