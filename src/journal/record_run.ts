import { ArcaError } from '../errors.js';
import type { Journal } from './journal.js';
import type { JournalEntry, JournalRecord, JournalResult } from './record.js';

/** What an operation knows about itself when it starts (times and result are filled in). */
export type RunEntry = Omit<JournalEntry, 'result' | 'started_at' | 'ended_at' | 'duration_ms'>;

/** What the operation adds while it runs: its snapshot, counts, details, or a result other than success. */
export type RunReport = Partial<RunEntry> & { result?: JournalResult };

/**
 * Runs `fn` and appends one record for it: started and ended times, the result
 * (`partial`/`interrupted`/`failed` from the error it throws, else what it set in
 * `report.result`, else `success`) and the error message. The operation's own error is rethrown.
 */
export async function recordRun<T>(
  journal: Journal,
  entry: RunEntry,
  fn: (report: RunReport) => Promise<T>,
): Promise<{ value: T; record: JournalRecord }> {
  const started = new Date();
  const report: RunReport = {};
  const finish = (result: JournalResult, error: string | null): JournalRecord =>
    journal.append({
      ...entry,
      ...report,
      details: { ...entry.details, ...report.details },
      result,
      error: report.error ?? error,
      started_at: started,
      ended_at: new Date(),
    });
  let value: T;
  try {
    value = await fn(report);
  } catch (err) {
    try {
      finish(resultOf(err), err instanceof Error ? err.message : String(err));
    } catch (journalErr) {
      const code = err instanceof ArcaError ? err.code : 'io';
      throw new ArcaError(
        code,
        `${err instanceof Error ? err.message : String(err)} (and it could not be recorded: ${(journalErr as Error).message})`,
        { cause: err },
      );
    }
    throw err;
  }
  return { value, record: finish(report.result ?? 'success', null) };
}

function resultOf(err: unknown): JournalResult {
  if (err instanceof ArcaError && err.code === 'interrupted') return 'interrupted';
  if (err instanceof ArcaError && err.code === 'partial') return 'partial';
  return 'failed';
}
