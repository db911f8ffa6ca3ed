import type { Command } from 'commander';
import { ArcaError, ExitCode } from '../errors.js';
import { exportJournal, exportLines, verifyExport } from '../journal/export.js';
import type { Journal, JournalFilter } from '../journal/journal.js';
import { journalPath } from '../journal/path.js';
import { canonicalJson, type JournalRecord, type JournalResult, journalResults } from '../journal/record.js';
import type { ChainProblemKind, VerifyResult } from '../journal/verify.js';
import { type GlobalOptions, makeOutput, type Output } from './context.js';
import { collect, formatDuration, localTime, table } from './format.js';

type JournalOptions = GlobalOptions;

interface ListOptions extends JournalOptions {
  dataset?: string[];
  operation?: string[];
  result?: string[];
  since?: string;
  until?: string;
  last?: number;
}

interface VerifyOptions extends JournalOptions {
  expectHead?: string;
  expectCount?: number;
}

const problemLabels: Record<ChainProblemKind, string> = {
  'hash-mismatch': 'hash mismatch',
  'prev-hash-mismatch': 'prev_hash mismatch',
  'seq-gap': 'gap in seq',
  'seq-out-of-order': 'seq out of order',
  malformed: 'malformed record',
  truncated: 'truncated',
};

/** How many problem lines `journal verify` prints before summing up the rest. */
const maxProblemLines = 50;

/** Registers `arca journal` (list), `arca journal verify` and `arca journal export`. */
export function registerJournal(program: Command): void {
  const journal = program
    .command('journal')
    .description('list the journal of every operation arca performed (hash-chained, tamper-evident)')
    .option('--dataset <name>', 'only records of this dataset (repeatable)', collect)
    .option(
      '--operation <op>',
      'only this operation: backup, copy, forget, prune, check… (repeatable)',
      collect,
    )
    .option('--result <result>', `only this result: ${journalResults.join(', ')} (repeatable)`, collect)
    .option(
      '--since <time>',
      'only operations started at or after TIME (ISO 8601, or an age: 30m, 12h, 7d, 2w)',
    )
    .option('--until <time>', 'only operations started before TIME (same forms)')
    .option('--last <n>', 'only the newest n matching records', (v) => parseCount(v, '--last'))
    .action(async (_o, cmd: Command) => {
      const o = cmd.optsWithGlobals<ListOptions>();
      const out = makeOutput(o);
      await withJournal(o, (j) => {
        const list = j.list(listFilter(o));
        if (out.json) {
          for (const r of list) out.print(canonicalJson(r));
          return;
        }
        for (const l of table(
          [
            'Seq',
            'Started',
            'Duration',
            'Operation',
            'Dataset',
            'Level',
            'Snapshot',
            'Result',
            'Repository',
            'Error',
          ],
          list.map(tableRow),
        ))
          out.print(l);
        out.print(`${list.length} records`);
      });
    });

  journal
    .command('verify')
    .description(
      'check the hash chain: exit 0 when intact, 1 when a record was changed, deleted, inserted or reordered',
    )
    .argument('[export-file]', 'verify this JSON Lines export instead of the database')
    .option(
      '--expect-head <hash>',
      'fail unless the record with this hash (a head noted earlier) is still there',
    )
    .option('--expect-count <n>', 'fail unless there are at least n records (a count noted earlier)', (v) =>
      parseCount(v, '--expect-count'),
    )
    .action(async (file: string | undefined, _o, cmd: Command) => {
      const o = cmd.optsWithGlobals<VerifyOptions>();
      const out = makeOutput(o);
      const expect = { head: o.expectHead?.toLowerCase(), count: o.expectCount };
      if (expect.head !== undefined && !/^[0-9a-f]{64}$/.test(expect.head))
        throw new ArcaError(
          'usage',
          `--expect-head ${o.expectHead}: expected a SHA-256 in hex (64 characters)`,
        );
      let what: string;
      let result: VerifyResult;
      if (file !== undefined) {
        what = `journal export ${file}`;
        result = verifyExport(file, expect);
      } else {
        what = `journal ${journalPath(o.journal)}`;
        result = await withJournal(o, (j) => j.verify(expect));
      }
      printVerification(out, what, result);
      if (!result.ok) process.exitCode = ExitCode.error;
    });

  journal
    .command('export')
    .description('write the whole journal as a JSON Lines file that `journal verify FILE` checks')
    .argument('<file>', "where to write it ('-' for standard output)")
    .action(async (file: string, _o, cmd: Command) => {
      const o = cmd.optsWithGlobals<JournalOptions>();
      const out = makeOutput(o);
      await withJournal(o, (j) => {
        if (file === '-') {
          for (const line of exportLines(j)) process.stdout.write(line);
          return;
        }
        const s = exportJournal(j, file);
        if (out.json) out.printJson({ file, records: s.records, head: s.head });
        else
          out.print(
            `exported ${s.records} records to ${file}` +
              (s.head ? `; head: seq ${s.head.seq} ${s.head.hash}` : ''),
          );
      });
    });
}

async function withJournal<T>(o: JournalOptions, fn: (j: Journal) => T): Promise<T> {
  // SQLite is loaded when a journal is opened, not every time arca starts.
  const { Journal } = await import('../journal/journal.js');
  const j = Journal.open(journalPath(o.journal), { readonly: true });
  try {
    return fn(j);
  } finally {
    j.close();
  }
}

function listFilter(o: ListOptions): JournalFilter {
  for (const r of o.result ?? []) {
    if (!journalResults.includes(r as JournalResult))
      throw new ArcaError('usage', `--result ${r}: expected one of ${journalResults.join(', ')}`);
  }
  return {
    dataset: o.dataset,
    operation: o.operation,
    result: o.result as JournalResult[] | undefined,
    since: o.since === undefined ? undefined : parseTime(o.since, '--since'),
    until: o.until === undefined ? undefined : parseTime(o.until, '--until'),
    last: o.last,
  };
}

function tableRow(r: JournalRecord): string[] {
  const error = (r.error ?? '').replace(/\s+/g, ' ');
  return [
    String(r.seq),
    localTime(r.started_at),
    r.duration_ms === null ? '' : formatDuration(r.duration_ms / 1000),
    r.operation,
    r.dataset ?? '',
    r.level ?? '',
    r.snapshot_id?.slice(0, 8) ?? '',
    r.result,
    r.repository ?? '',
    error.length > 80 ? `${error.slice(0, 79)}…` : error,
  ];
}

function printVerification(out: Output, what: string, r: VerifyResult): void {
  const first = r.problems[0];
  if (out.json) {
    out.printJson({
      ok: r.ok,
      records: r.records,
      head: r.head,
      first_broken: first ?? null,
      problems: r.problems,
      ...(r.expectedHeadSeq === undefined ? {} : { expected_head_seq: r.expectedHeadSeq }),
    });
    return;
  }
  for (const p of r.problems.slice(0, maxProblemLines)) {
    const where = p.seq === null ? `record ${p.position}` : `seq ${p.seq}`;
    out.print(`${where}: ${problemLabels[p.kind]}: ${p.message}`);
  }
  if (r.problems.length > maxProblemLines)
    out.print(`… and ${r.problems.length - maxProblemLines} more problems`);
  const firstWhere = first?.seq == null ? `record ${first?.position}` : `seq ${first.seq}`;
  out.print(
    `${what}: ${r.records} records checked, ` +
      (r.ok ? 'intact' : `BROKEN: first broken at ${firstWhere} (${problemLabels[first!.kind]})`),
  );
  out.print(r.head === null ? 'head: none (empty journal)' : `head: seq ${r.head.seq} ${r.head.hash}`);
  if (r.expectedHeadSeq !== undefined && r.head?.seq != null)
    out.print(
      `expected head found at seq ${r.expectedHeadSeq}: ${r.head.seq - r.expectedHeadSeq} records appended since`,
    );
}

/** A time from `--since`/`--until`: ISO 8601, or an age (`30m`, `12h`, `7d`, `2w`) before now. */
export function parseTime(value: string, flag: string, now = Date.now()): Date {
  const age = /^(\d+)([smhdw])$/.exec(value);
  if (age) {
    const unit = { s: 1, m: 60, h: 3600, d: 86_400, w: 604_800 }[age[2] as 's' | 'm' | 'h' | 'd' | 'w'];
    return new Date(now - Number(age[1]) * unit * 1000);
  }
  const ms = Date.parse(value);
  if (!Number.isFinite(ms))
    throw new ArcaError('usage', `${flag} ${value}: expected an ISO 8601 time or an age like 7d`);
  return new Date(ms);
}

function parseCount(v: string, flag: string): number {
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n < 0)
    throw new ArcaError('usage', `${flag} ${v}: expected a whole number`);
  return n;
}
