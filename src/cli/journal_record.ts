/**
 * Records what a person starts from the command line (backup, copy, forget, prune, check,
 * restore, init, key changes) in the journal, one record per operation.
 *
 * The journal module (and better-sqlite3 with it) is loaded only when a record is written,
 * and the journal is opened only once the operation has finished, so a slow or locked
 * journal never delays the operation itself. A journal that cannot be written costs one
 * warning line and the record, never the operation's outcome or exit code: a backup that
 * succeeded is not turned into a failure after the fact (that would invite re-runs and
 * hide that the data is safe). The missing record stays visible, in the warning and to
 * `arca journal verify --expect-count`.
 */
import { ArcaError } from '../errors.js';
import type { Journal } from '../journal/journal.js';
import { journalPath } from '../journal/path.js';
import type { JournalEntry } from '../journal/record.js';
import { type RunEntry, type RunReport, recordRun } from '../journal/record_run.js';
import { type GlobalOptions, makeOutput, onInterrupt } from './context.js';

/** The options that decide whether and where a command records: `--journal`, and `--dry-run` (never recorded). */
export type RecordOptions = GlobalOptions & { dryRun?: boolean };

/** An operation being recorded: what it reports while it runs, and how to record its end. */
export interface CliRecording {
  /** Filled in by the operation: snapshot, counts, details, or a result other than success. */
  readonly report: RunReport;
  /**
   * Records how the operation ended: success (or `report.result`) without `error`, else
   * what recordRun makes of the error. Only the first call records; it never throws.
   */
  finish(error?: unknown): Promise<void>;
  /** Runs the operation, then records how it ended; its error is rethrown unchanged. */
  run<T>(fn: (report: RunReport) => Promise<T>): Promise<T>;
}

/** How long an interrupted command waits for another process's journal lock before it gives up. */
const interruptedBusyTimeoutMs = 2000;

/**
 * Starts recording an operation now; {@link CliRecording.finish} appends its record. For a
 * command that must record one operation before it goes on with another under the same
 * lock (`forget --prune`); everything else uses {@link recordCli}. If the user interrupts
 * the command before `finish`, the record says `interrupted`. With `--dry-run` nothing is
 * recorded.
 */
export function startCliRecording(g: RecordOptions, entry: RunEntry): CliRecording {
  if (g.dryRun === true) return { report: {}, finish: async () => {}, run: (fn) => fn({}) };
  // recordRun decides the result and error and times the run; its record is caught here
  // and appended afterwards, so that the journal is opened only once the run is over.
  let outcome: JournalEntry | undefined;
  const capture: Pick<Journal, 'append'> = {
    append: (e) => {
      outcome = e;
      // recordRun's return value is not used: the stored record comes from appendRecord.
      return undefined as never;
    },
  };
  let end!: (error: unknown) => void;
  const ended = new Promise<void>((resolve, reject) => {
    end = (error) => (error === undefined ? resolve() : reject(error));
  });
  let report: RunReport = {};
  // recordRun calls its function at once, so `report` is its report object from here on.
  const timed = recordRun(capture as Journal, entry, (r) => {
    report = r;
    return ended;
  });
  // recordRun rethrows the operation's error, which the caller has already.
  const settled = timed.then(
    () => {},
    () => {},
  );
  let finishing: Promise<void> | undefined;
  const finish = (error?: unknown, busyTimeoutMs?: number): Promise<void> => {
    finishing ??= (async () => {
      end(error);
      await settled;
      if (outcome !== undefined) await appendRecord(g, outcome, busyTimeoutMs);
      stopWatching();
    })();
    return finishing;
  };
  // On Ctrl-C, this runs after withRepository's handler has released the lock (handlers run
  // newest first); main exits once it is done.
  const stopWatching = onInterrupt(() =>
    finish(new ArcaError('interrupted', 'interrupted'), interruptedBusyTimeoutMs),
  );
  return {
    report,
    finish: (error?: unknown) => finish(error),
    async run<T>(fn: (report: RunReport) => Promise<T>): Promise<T> {
      let value: T;
      try {
        value = await fn(report);
      } catch (err) {
        await finish(err);
        throw err;
      }
      await finish();
      return value;
    },
  };
}

/**
 * Runs a CLI operation and records it in the journal (`--journal`, $ARCA_JOURNAL, or the
 * state directory's journal.db): times, result (`partial`/`interrupted`/`failed` from the
 * error, else `report.result`, else `success`), the error message, and whatever `fn` puts
 * into its report. The operation's own error is rethrown unchanged. With `--dry-run`
 * nothing is recorded.
 */
export async function recordCli<T>(
  g: RecordOptions,
  entry: RunEntry,
  fn: (report: RunReport) => Promise<T>,
): Promise<T> {
  return startCliRecording(g, entry).run(fn);
}

/** Opens the journal, appends `entry` and closes it again; a failure is a warning on stderr. */
async function appendRecord(g: GlobalOptions, entry: JournalEntry, busyTimeoutMs?: number): Promise<void> {
  try {
    const { Journal } = await import('../journal/journal.js');
    const journal = Journal.open(journalPath(g.journal), { busyTimeoutMs });
    try {
      journal.append(entry);
    } finally {
      journal.close();
    }
  } catch (err) {
    const reason = err instanceof Error ? err.message : String(err);
    makeOutput(g).warn(`arca: warning: this ${entry.operation} was not recorded in the journal: ${reason}`);
  }
}
