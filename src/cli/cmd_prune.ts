import type { Command } from 'commander';
import { ArcaError } from '../errors.js';
import type { RunReport } from '../journal/record_run.js';
import {
  defaultMaxUnused,
  type PruneOptions,
  type PruneResult,
  type PruneStats,
  parseMaxUnused,
  parseSize,
  prune,
} from '../ops/prune.js';
import { type Id, shortId } from '../repo/id.js';
import type { Repository } from '../repo/repository.js';
import { type GlobalOptions, makeOutput, type Output, repoLocation, withRepository } from './context.js';
import { formatBytes } from './format.js';
import { recordCli } from './journal_record.js';

/** The prune options `prune` and `forget --prune` share, as the command line gives them. */
export interface PruneCliOptions {
  maxUnused: string;
  maxRepackSize?: string;
  repackCacheableOnly?: boolean;
  repackSmall?: boolean;
  repackUncompressed?: boolean;
}

/** Adds restic's prune tuning options to a command (`prune` and `forget`). */
export function addPruneOptions(cmd: Command): Command {
  return cmd
    .option(
      '--max-unused <limit>',
      "tolerate this much unused data: bytes with a suffix k/K, m/M, g/G, t/T, a percentage, or 'unlimited'",
      '5%',
    )
    .option('--max-repack-size <size>', 'repack at most this much (suffixes k/K, m/M, g/G, t/T)')
    .option('--repack-cacheable-only', 'only repack packs that hold trees')
    .option('--repack-small', 'also repack packs below 80% of the target pack size')
    .option('--repack-uncompressed', 'repack packs holding uncompressed data (repository version 2)');
}

/** Turns the shared prune options into what `prune` takes; throws ArcaError `usage` for bad values. */
export function pruneOptionsFrom(o: PruneCliOptions): PruneOptions {
  return {
    maxUnused: o.maxUnused === undefined ? defaultMaxUnused : parseMaxUnused(o.maxUnused),
    maxRepackBytes:
      o.maxRepackSize === undefined ? undefined : parseSize(o.maxRepackSize, '--max-repack-size'),
    repackCacheableOnly: o.repackCacheableOnly === true,
    repackSmall: o.repackSmall === true,
    repackUncompressed: o.repackUncompressed === true,
  };
}

/** Registers `arca prune`. */
export function registerPrune(program: Command): void {
  addPruneOptions(
    program
      .command('prune')
      .description('remove data that no snapshot references any more')
      .option('-n, --dry-run', 'only print what would be removed and repacked'),
  ).action(async (_opts, cmd: Command) => {
    const o = cmd.optsWithGlobals<GlobalOptions & PruneCliOptions & { dryRun?: boolean }>();
    const out = makeOutput(o);
    const opts: PruneOptions = { ...pruneOptionsFrom(o), dryRun: o.dryRun === true };
    if (o.lock === false && !opts.dryRun) {
      throw new ArcaError('usage', '--no-lock is only allowed together with --dry-run for prune');
    }
    // restic 0.14 prunes under an exclusive lock: no backup may add packs meanwhile.
    await recordCli(o, { operation: 'prune', repository: repoLocation(o) }, (report) =>
      withRepository(
        o,
        'exclusive',
        async (repo) => {
          Object.assign(report, pruneReport(await runPrune(repo, opts, out)));
        },
        { loadIndex: true },
      ),
    );
  });
}

/** What the journal keeps of a prune run: packs deleted and written, and the bytes it freed. */
export function pruneReport(r: PruneResult): RunReport {
  return {
    details: {
      packs_deleted: r.packsDeleted,
      packs_written: r.packsWritten,
      index_files_deleted: r.indexFilesDeleted,
      index_files_written: r.indexFilesWritten,
      // restic's "total prune": the unused and unreferenced data removed (repacked packs are
      // rewritten without it).
      bytes_freed: _totals(r.plan.stats).pruneSize,
    },
  };
}

/**
 * Runs prune on a repository whose exclusive lock the caller holds, printing restic's
 * messages and statistics (or, with `--json`, one summary object at the end).
 */
export async function runPrune(repo: Repository, opts: PruneOptions, out: Output): Promise<PruneResult> {
  if (opts.repackUncompressed && repo.version < 2) {
    throw new ArcaError('usage', '--repack-uncompressed needs repository format version 2 (compression)');
  }
  const result = await prune(repo, {
    ...opts,
    onEvent: (e) => {
      switch (e.type) {
        case 'step':
          out.info(e.message);
          break;
        case 'warning':
          out.warn(e.message);
          break;
        case 'planned':
          printStats(out, e.plan.stats);
          if (opts.dryRun && out.verbose && !out.json) {
            if (e.plan.removePacksFirst.size > 0) {
              out.info(
                `Would have removed the following unreferenced packs:\n${formatIdSet(e.plan.removePacksFirst)}\n`,
              );
            }
            out.info(
              `Would have repacked and removed the following packs:\n${formatIdSet(e.plan.repackPacks)}\n`,
            );
            out.info(
              `Would have removed the following no longer used packs:\n${formatIdSet(e.plan.removePacks)}\n`,
            );
          }
          break;
      }
    },
  });
  if (out.json) out.printJson(pruneJson(result, opts.dryRun === true));
  return result;
}

/** restic's way of printing a set of IDs: short IDs, sorted, in braces (`{1a2b3c4d 5e6f7a8b}`). */
export function formatIdSet(ids: Iterable<Id>): string {
  return `{${[...ids].map(shortId).sort().join(' ')}}`;
}

/** restic's `FormatPercent`: two decimals, at most 100%, empty for a zero denominator. */
function formatPercent(numerator: number, denominator: number): string {
  if (denominator === 0) return '';
  return `${Math.min(100, (100 * numerator) / denominator).toFixed(2)}%`;
}

function counted(label: string, blobs: number, bytes: number): string {
  return `${label}${String(blobs).padStart(10)} blobs / ${formatBytes(bytes)}`;
}

/** What restic's prune prints after planning; the detailed part only with `--verbose`. */
function printStats(out: Output, s: PruneStats): void {
  const detail = (line: string): void => {
    if (out.verbose) out.info(line);
  };
  const total = _totals(s);
  detail('');
  detail(counted('used:         ', s.blobs.used, s.size.used));
  if (s.blobs.duplicate > 0) detail(counted('duplicates:   ', s.blobs.duplicate, s.size.duplicate));
  detail(counted('unused:       ', s.blobs.unused, s.size.unused));
  if (s.size.unref > 0) detail(`unreferenced:                    ${formatBytes(s.size.unref)}`);
  detail(counted('total:        ', total.blobs, total.size));
  detail(`unused size: ${formatPercent(total.unusedSize, total.size)} of total size`);
  out.info('');
  out.info(counted('to repack:    ', s.blobs.repack, s.size.repack));
  out.info(counted('this removes: ', s.blobs.repackrm, s.size.repackrm));
  out.info(counted('to delete:    ', s.blobs.remove, s.size.remove + s.size.unref));
  out.info(counted('total prune:  ', total.pruneBlobs, total.pruneSize));
  out.info(counted('remaining:    ', total.blobs - total.pruneBlobs, total.size - total.pruneSize));
  out.info(
    `unused size after prune: ${formatBytes(total.unusedAfter)} (${formatPercent(total.unusedAfter, total.size - total.pruneSize)} of remaining size)`,
  );
  out.info('');
  detail(`totally used packs: ${String(s.packs.used).padStart(10)}`);
  detail(`partly used packs:  ${String(s.packs.partlyUsed).padStart(10)}`);
  detail(`unused packs:       ${String(s.packs.unused).padStart(10)}`);
  detail('');
  detail(`to keep:      ${String(s.packs.keep).padStart(10)} packs`);
  detail(`to repack:    ${String(s.packs.repack).padStart(10)} packs`);
  detail(`to delete:    ${String(s.packs.remove).padStart(10)} packs`);
  if (s.packs.unref > 0) detail(`to delete:    ${String(s.packs.unref).padStart(10)} unreferenced packs\n`);
}

/** The derived figures restic prints: totals, what prune removes, and unused bytes left. */
function _totals(s: PruneStats): {
  blobs: number;
  size: number;
  unusedSize: number;
  pruneBlobs: number;
  pruneSize: number;
  unusedAfter: number;
} {
  const size = s.size.used + s.size.duplicate + s.size.unused + s.size.unref;
  const unusedSize = s.size.duplicate + s.size.unused;
  return {
    blobs: s.blobs.used + s.blobs.unused + s.blobs.duplicate,
    size,
    unusedSize,
    pruneBlobs: s.blobs.remove + s.blobs.repackrm,
    pruneSize: s.size.remove + s.size.repackrm + s.size.unref,
    unusedAfter: unusedSize - s.size.remove - s.size.repackrm,
  };
}

/** The `--json` summary of a prune run (restic 0.14 has none; the names follow its printed statistics). */
function pruneJson(r: PruneResult, dryRun: boolean): Record<string, unknown> {
  const s = r.plan.stats;
  const t = _totals(s);
  return {
    dry_run: dryRun,
    used_blobs: s.blobs.used,
    used_size: s.size.used,
    duplicate_blobs: s.blobs.duplicate,
    duplicate_size: s.size.duplicate,
    unused_blobs: s.blobs.unused,
    unused_size: s.size.unused,
    unreferenced_size: s.size.unref,
    total_blobs: t.blobs,
    total_size: t.size,
    repack_blobs: s.blobs.repack,
    repack_size: s.size.repack,
    repack_removes_blobs: s.blobs.repackrm,
    repack_removes_size: s.size.repackrm,
    delete_blobs: s.blobs.remove,
    delete_size: s.size.remove + s.size.unref,
    total_prune_blobs: t.pruneBlobs,
    total_prune_size: t.pruneSize,
    remaining_blobs: t.blobs - t.pruneBlobs,
    remaining_size: t.size - t.pruneSize,
    unused_size_after_prune: t.unusedAfter,
    packs: {
      used: s.packs.used,
      partly_used: s.packs.partlyUsed,
      unused: s.packs.unused,
      unreferenced: s.packs.unref,
      keep: s.packs.keep,
      repack: s.packs.repack,
      delete: s.packs.remove,
    },
    packs_written: r.packsWritten,
    packs_deleted: r.packsDeleted,
    index_files_written: r.indexFilesWritten,
    index_files_deleted: r.indexFilesDeleted,
  };
}
