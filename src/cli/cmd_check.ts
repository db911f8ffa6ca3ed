import type { Command } from 'commander';
import {
  type CheckEvent,
  type CheckResult,
  checkRepository,
  describePackSelection,
  type PackSelection,
  parsePackSelection,
} from '../engine/checker.js';
import { ArcaError } from '../errors.js';
import type { RunReport } from '../journal/record_run.js';
import { type GlobalOptions, makeOutput, type Output, repoLocation, withRepository } from './context.js';
import { recordCli } from './journal_record.js';
import { type Progress, startProgress } from './progress.js';

interface CheckCommandOptions {
  readData?: boolean;
  readDataSubset?: string;
  withCache?: boolean;
}

/** Registers `arca check`. */
export function registerCheck(program: Command): void {
  program
    .command('check')
    .description('check the repository for errors; with --read-data also read and authenticate all data')
    .option('--read-data', 'read all data packs and verify every blob')
    .option(
      '--read-data-subset <subset>',
      "read a subset of data packs: 'n/t' for group n of t, 'x%' for a random x%, or a size like 500M",
    )
    .option(
      '--with-cache',
      'use the local cache of remote metadata (by default check reads the remote itself)',
    )
    .action(async (_opts, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions & CheckCommandOptions>();
      const out = makeOutput(o);
      const readData = packSelection(o);
      // restic 0.14 checks under an exclusive lock: nothing may add or remove files meanwhile.
      const events = reporter(out, readData);
      // As restic does, check reads the repository itself, not cached copies of its files: a
      // damaged index or tree on the server must not hide behind a good cached copy.
      const g: GlobalOptions = o.withCache === true ? o : { ...o, cache: false };
      const entry = {
        operation: 'check',
        repository: repoLocation(o),
        details: { read_data: readData === undefined ? null : describePackSelection(readData) },
      };
      await recordCli(o, entry, async (report) => {
        const result = await withRepository(g, 'exclusive', async (repo) => {
          try {
            return await checkRepository(repo, { readData, onEvent: events.onEvent });
          } finally {
            events.close();
          }
        });
        Object.assign(report, checkReport(result));
        if (out.json) out.printJson(resultJson(result));
        else if (result.skipped) out.warn(result.skipped);
        if (!result.ok) throw new ArcaError('corrupt', 'repository contains errors');
        out.info('no errors were found');
      });
    });
}

/** What the journal keeps of a check: what was read and checked, and how many errors were found. */
function checkReport(r: CheckResult): RunReport {
  return {
    bytes_read: r.bytesRead,
    details: {
      errors: r.errors.length,
      first_errors: r.errors.slice(0, 10).map((e) => e.message),
      hints: r.hints.length,
      skipped: r.skipped ?? null,
      snapshots: r.snapshots,
      packs: r.packs,
      packs_checked: r.packsChecked,
      blobs_checked: r.blobsChecked,
      packs_read: r.readData?.packsSelected ?? 0,
    },
  };
}

function packSelection(o: CheckCommandOptions): PackSelection | undefined {
  if (o.readData && o.readDataSubset !== undefined) {
    throw new ArcaError('usage', '--read-data and --read-data-subset cannot be used together');
  }
  if (o.readDataSubset !== undefined) return parsePackSelection(o.readDataSubset);
  return o.readData ? { kind: 'all' } : undefined;
}

/**
 * Prints what the engine reports as restic does: a line per phase, errors on stderr as
 * they are found, hints on stdout. While the progress bar is drawn, lines wait for it.
 */
function reporter(
  out: Output,
  readData: PackSelection | undefined,
): { onEvent: (e: CheckEvent) => void; close: () => void } {
  let bar: Progress | undefined;
  let held: (() => void)[] = [];
  const say = (line: () => void): void => {
    if (bar) held.push(line);
    else line();
  };
  const stopBar = (): void => {
    bar?.stop();
    bar = undefined;
    for (const line of held) line();
    held = [];
  };
  let unreferenced = 0;
  const onEvent = (e: CheckEvent): void => {
    if (out.json) return;
    switch (e.type) {
      case 'phase':
        stopBar();
        if (e.phase === 'structure' && unreferenced > 0) {
          out.info(
            `${unreferenced} pack files are not referenced by any index, probably left by an interrupted backup or prune.\n` +
              'This is non-critical: they hold no data a snapshot needs, and prune removes them.',
          );
        }
        out.info(phaseLine(e, readData));
        if (e.phase === 'read') {
          bar = startProgress(out, 'read', { files: e.total, bytes: e.bytesTotal ?? 0 });
        }
        break;
      case 'progress':
        if (e.phase === 'read') {
          bar?.update(e.done, e.bytesDone ?? 0);
          if (e.done === e.total) stopBar();
        }
        break;
      case 'error':
        say(() => out.warn(`error: ${e.finding.message}`));
        break;
      case 'hint':
        if (e.finding.kind === 'pack-unreferenced') unreferenced++;
        say(() => out.info(e.finding.message));
        break;
    }
  };
  return { onEvent, close: stopBar };
}

function phaseLine(e: Extract<CheckEvent, { type: 'phase' }>, readData: PackSelection | undefined): string {
  switch (e.phase) {
    case 'index':
      return 'load indexes';
    case 'packs':
      return 'check all packs';
    case 'structure':
      return 'check snapshots, trees and blobs';
    case 'read':
      switch (readData?.kind) {
        case 'bucket':
          return `read group #${readData.n} of ${e.packsSelected} data packs (out of total ${e.packsTotal} packs in ${readData.t} groups)`;
        case 'percent':
          return `read ${readData.percent.toFixed(1)}% of data packs (${e.packsSelected} of ${e.packsTotal} packs)`;
        case 'size':
          return `read ${readData.bytes} bytes of data packs (${e.packsSelected} of ${e.packsTotal} packs)`;
        default:
          return 'read all data';
      }
  }
}

function resultJson(r: CheckResult): Record<string, unknown> {
  return {
    ok: r.ok,
    errors: r.errors,
    hints: r.hints,
    ...(r.skipped ? { skipped: r.skipped } : {}),
    index_files: r.indexFiles,
    packs: r.packs,
    snapshots: r.snapshots,
    trees: r.trees,
    read_data: r.readData
      ? {
          selection: r.readData.selection,
          packs_selected: r.readData.packsSelected,
          packs_total: r.readData.packsTotal,
        }
      : null,
    packs_checked: r.packsChecked,
    blobs_checked: r.blobsChecked,
    bytes_read: r.bytesRead,
    duration_ms: r.durationMs,
  };
}
