import type { Command } from 'commander';
import { describePackSelection, type PackSelection, parsePackSelection } from '../engine/checker.js';
import { ArcaError } from '../errors.js';
import type { RunReport } from '../journal/record_run.js';
import { cleanLocation } from '../journal/secrets.js';
import { type CopyEvent, copySnapshots } from '../ops/copy.js';
import { verifyCopy } from '../ops/copy_verify.js';
import { shortId } from '../repo/id.js';
import type { Lock } from '../repo/lock.js';
import { describeOrphans } from '../repo/orphan_packs.js';
import type { Repository } from '../repo/repository.js';
import type { Snapshot } from '../repo/snapshot.js';
import { addSnapshotFilterOptions, type SnapshotFilterOptions, snapshotFilter } from './cmd_snapshots.js';
import {
  type GlobalOptions,
  makeOutput,
  type Output,
  onInterrupt,
  releaseAndClose,
  repoLocation,
  withRepository,
} from './context.js';
import { formatBytes, localTime } from './format.js';
import { recordCli } from './journal_record.js';
import { addFromRepoOptions, type FromRepoOptions, openSourceRepository } from './source_repo.js';

interface CopyCommandOptions extends FromRepoOptions, SnapshotFilterOptions {
  to?: string;
  dryRun?: boolean;
  verifySubset?: string;
}

/** Registers `arca copy`. */
export function registerCopy(program: Command): void {
  const cmd = program
    .command('copy')
    .description(
      'copy snapshots from the repository given by --from-repo into this one (or into --to), ' +
        're-encrypted for the destination; snapshots already there are skipped',
    )
    .argument('[snapshot...]', 'snapshot IDs or "latest" (default: all snapshots passing the filters)')
    .option('--to <location>', 'the destination repository (default: -r/--repo or $ARCA_REPOSITORY)')
    .option('-n, --dry-run', 'show what would be copied, store nothing')
    .option(
      '--verify-subset <n/t|x%|size>',
      'after copying, read back this share of the new packs and verify them',
    );
  addFromRepoOptions(cmd, 'the source repository to copy snapshots from');
  addSnapshotFilterOptions(cmd).action(async (refs: string[], _opts, c: Command) => {
    const o = c.optsWithGlobals<GlobalOptions & CopyCommandOptions>();
    const out = makeOutput(o);
    const sample =
      o.verifySubset === undefined ? undefined : parsePackSelection(o.verifySubset, '--verify-subset');
    // restic's rule: --no-lock applies to the source only; the destination is always locked,
    // so that a prune there cannot delete packs this copy has stored but not yet indexed.
    const dest: GlobalOptions = { ...o, lock: true, ...(o.to === undefined ? {} : { repo: o.to }) };
    const from = o.fromRepo ?? process.env.ARCA_FROM_REPOSITORY;
    const entry = {
      operation: 'copy',
      repository: repoLocation(dest),
      details: {
        from: from === undefined ? null : cleanLocation(from),
        verify_subset: sample === undefined ? null : describePackSelection(sample),
      },
    };
    await recordCli(o, entry, (report) =>
      withRepository(dest, 'shared', async (dst) => {
        const src = await openSourceRepository(o);
        let srcLock: Lock | undefined;
        const cleanUp = onInterrupt(async () => {
          await srcLock?.release();
        });
        try {
          if (o.lock !== false) srcLock = await src.lock(false);
          await runCopy(o, out, src, dst, refs, sample, report);
        } catch (err) {
          cleanUp();
          await releaseAndClose(srcLock, src.backend);
          throw err;
        }
        cleanUp();
        const releaseError = await releaseAndClose(srcLock, src.backend);
        if (releaseError) throw releaseError;
      }),
    );
  });
}

async function runCopy(
  o: GlobalOptions & CopyCommandOptions,
  out: Output,
  src: Repository,
  dst: Repository,
  refs: string[],
  sample: PackSelection | undefined,
  report: RunReport,
): Promise<void> {
  const describe = (s: Snapshot): string =>
    `snapshot ${shortId(s.id)} of [${s.paths.join(' ')}] at ${localTime(s.time)} by ${s.username ?? ''}@${s.hostname ?? ''}`;
  const onEvent = (e: CopyEvent): void => {
    if (e.type === 'skipped') {
      if (out.verbose)
        out.info(`skipping ${describe(e.source)}: already copied to snapshot ${shortId(e.existing.id)}`);
    } else if (e.type === 'copying') {
      out.info(`${describe(e.source)}`);
      out.info(`  copy started: ${e.blobs} blobs from ${e.packs} packs`);
    } else out.info(e.id === undefined ? '  would be copied (dry run)' : `  snapshot ${shortId(e.id)} saved`);
  };
  const result = await copySnapshots(src, dst, {
    snapshots: refs,
    filter: snapshotFilter(o),
    dryRun: o.dryRun,
    onEvent,
  });
  report.bytes_added = result.stats.dataAddedPacked;
  report.details = {
    copied: result.copied.map((c) => ({ source: c.source.id, id: c.id ?? null })),
    skipped: result.skipped.map((s) => s.source.id),
    blobs_added: result.stats.dataBlobs + result.stats.treeBlobs,
    packs_written: result.newPacks.size,
  };
  const verification =
    o.dryRun || result.copied.length === 0
      ? undefined
      : await verifyCopy(
          dst,
          result.copied.map((c) => c.source.tree),
          result.newPacks,
          sample,
        );
  if (out.json) {
    out.printJson({
      message_type: 'summary',
      dry_run: o.dryRun === true,
      snapshots_copied: result.copied.map((c) => ({ source: c.source.id, id: c.id ?? null })),
      snapshots_skipped: result.skipped.map((s) => ({ source: s.source.id, existing: s.existing.id })),
      data_blobs: result.stats.dataBlobs,
      tree_blobs: result.stats.treeBlobs,
      data_added: result.stats.dataAdded,
      data_added_packed: result.stats.dataAddedPacked,
      packs_written: result.newPacks.size,
      packs_adopted: result.orphans.adopted,
      verification:
        verification === undefined
          ? null
          : {
              trees: verification.trees,
              data_blobs: verification.dataBlobs,
              packs_read: verification.packsRead,
              subset: sample === undefined ? null : describePackSelection(sample),
              problems: verification.problems,
            },
    });
  } else {
    if (result.orphans.adopted > 0 || result.orphans.unreadable.length > 0)
      out.info(describeOrphans(result.orphans));
    const what = o.dryRun ? 'would copy' : 'copied';
    out.info(
      `${what} ${result.copied.length} snapshots (${result.skipped.length} already there): ` +
        `${result.stats.dataBlobs + result.stats.treeBlobs} new blobs, ${formatBytes(result.stats.dataAdded)} ` +
        `(${formatBytes(result.stats.dataAddedPacked)} stored)`,
    );
    if (verification) {
      const read = sample === undefined ? '' : `, ${verification.packsRead} new packs read back`;
      out.info(
        `verified: ${verification.trees} trees and ${verification.dataBlobs} file blobs in the destination${read}`,
      );
    }
  }
  if (verification && verification.problems.length > 0) {
    for (const p of verification.problems.slice(0, 20)) out.warn(`  ${p}`);
    throw new ArcaError(
      'corrupt',
      `copy verification found ${verification.problems.length} problems in the destination; run 'arca check --read-data' there`,
    );
  }
}
