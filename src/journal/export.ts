/**
 * The journal as a self-contained JSON Lines file: every record in stored order, one
 * canonical JSON object per line, hashes included. It is what goes into each repository
 * after a run, so the record of backups survives the loss of the machine, and what an
 * auditor can check with nothing but the recipe in docs/journal.md.
 */
import { closeSync, fsyncSync, openSync, readFileSync, renameSync, rmSync, writeSync } from 'node:fs';
import { ArcaError, isErrno } from '../errors.js';
import type { Journal } from './journal.js';
import { canonicalJson, type JournalRecord } from './record.js';
import { type ChainExpectation, type VerifyResult, verifyChain } from './verify.js';

/** What an export holds. */
export interface ExportSummary {
  records: number;
  /** The last record's seq and hash, or null for an empty journal. */
  head: { seq: number; hash: string } | null;
}

/** The export's lines (each ending in a newline), in stored order. */
export function* exportLines(journal: Journal): Generator<string> {
  for (const r of journal.records()) yield exportLine(r);
}

/** One record's line in an export: its canonical JSON, hash included. */
export function exportLine(record: JournalRecord): string {
  return `${canonicalJson(record)}\n`;
}

/** Writes the whole journal to `file` as JSON Lines, atomically (temporary file, fsync, rename). */
export function exportJournal(journal: Journal, file: string): ExportSummary {
  const tmp = `${file}.tmp-${process.pid}`;
  const summary: ExportSummary = { records: 0, head: null };
  let fd: number;
  try {
    fd = openSync(tmp, 'w', 0o600);
  } catch (err) {
    throw new ArcaError('io', `cannot write the journal export ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  try {
    for (const r of journal.records()) {
      writeSync(fd, exportLine(r));
      summary.records++;
      summary.head = { seq: r.seq, hash: r.hash };
    }
    fsyncSync(fd);
    closeSync(fd);
    renameSync(tmp, file);
  } catch (err) {
    try {
      closeSync(fd);
    } catch {
      // Already closed.
    }
    rmSync(tmp, { force: true });
    throw err;
  }
  return summary;
}

/** Verifies an export file as {@link Journal.verify} verifies the database; positions are line numbers. */
export function verifyExport(file: string, expect: ChainExpectation = {}): VerifyResult {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    if (isErrno(err, 'ENOENT')) throw new ArcaError('not-found', `no journal export at ${file}`);
    throw new ArcaError('io', `cannot read the journal export ${file}: ${(err as Error).message}`, {
      cause: err,
    });
  }
  const lines = text.split('\n');
  if (lines[lines.length - 1] === '') lines.pop();
  return verifyChain(lines.map(parseLine), expect);
}

function parseLine(line: string): unknown {
  try {
    return JSON.parse(line);
  } catch {
    return undefined;
  }
}
