import path from 'node:path';
import type { Command } from 'commander';
import { makeRestoreSelector } from '../engine/filter.js';
import { restoreTree } from '../engine/restorer.js';
import { verifyRestoredFiles } from '../engine/verify.js';
import { findNode, splitPath } from '../engine/walker.js';
import { ArcaError, ExitCode } from '../errors.js';
import { shortId } from '../repo/id.js';
import { addSnapshotFilterOptions, type SnapshotFilterOptions, snapshotFilter } from './cmd_snapshots.js';
import { type GlobalOptions, makeOutput, repoLocation, withRepository } from './context.js';
import { collect, formatBytes, formatDuration } from './format.js';
import { recordCli } from './journal_record.js';
import { startProgress } from './progress.js';

interface RestoreCliOptions extends GlobalOptions, SnapshotFilterOptions {
  target?: string;
  include?: string[];
  exclude?: string[];
  iinclude?: string[];
  iexclude?: string[];
  verify?: boolean;
  overwrite?: boolean;
  sparse?: boolean;
}

/** Registers `arca restore`. */
export function registerRestore(program: Command): void {
  addSnapshotFilterOptions(
    program
      .command('restore')
      .description('restore a snapshot (or a part of it, with ID:path) into a directory')
      .argument('<snapshot>', 'snapshot ID, unique prefix or "latest", optionally followed by :path')
      .requiredOption('-t, --target <dir>', 'directory to restore into')
      .option('-i, --include <pattern>', 'restore only what matches (repeatable)', collect)
      .option('-e, --exclude <pattern>', 'do not restore what matches (repeatable)', collect)
      .option('--iinclude <pattern>', 'like --include, ignoring case', collect)
      .option('--iexclude <pattern>', 'like --exclude, ignoring case', collect)
      .option('--overwrite', 'replace files that already exist in the target')
      .option('--no-sparse', 'write zero blocks instead of leaving holes')
      .option('--verify', 're-read what was written and compare it with the snapshot'),
  ).action(async (ref: string, _o, cmd: Command) => {
    const o = cmd.optsWithGlobals<RestoreCliOptions>();
    const out = makeOutput(o);
    const select = makeRestoreSelector({
      include: o.include,
      exclude: o.exclude,
      iinclude: o.iinclude,
      iexclude: o.iexclude,
    });
    const colon = ref.indexOf(':');
    const snapRef = colon < 0 ? ref : ref.slice(0, colon);
    const sub = colon < 0 ? '' : ref.slice(colon + 1);
    const target = path.resolve(o.target!);
    const entry = {
      operation: 'restore',
      repository: repoLocation(o),
      details: {
        snapshot: ref,
        target,
        include: o.include ?? null,
        exclude: o.exclude ?? null,
        iinclude: o.iinclude ?? null,
        iexclude: o.iexclude ?? null,
      },
    };
    await recordCli(o, entry, (report) =>
      withRepository(
        o,
        'shared',
        async (repo) => {
          const snap = await repo.findSnapshot(snapRef, snapshotFilter(o));
          report.snapshot_id = snap.id;
          let tree = snap.tree;
          const subParts = splitPath(sub);
          if (subParts.length > 0) {
            const node = await findNode(repo, snap.tree, sub);
            if (node?.type !== 'dir' || !node.subtree)
              throw new ArcaError('usage', `${sub} is not a directory in the snapshot`);
            tree = node.subtree;
          }
          out.info(
            `restoring snapshot ${shortId(snap.id)} of [${snap.paths.join(' ')}] at ${snap.time} to ${target}`,
          );
          const started = Date.now();
          const progress = startProgress(out, 'restore', { files: 0, bytes: 0 });
          const result = await restoreTree(repo, tree, {
            target,
            subpath: Buffer.from(`/${subParts.map((p) => p.toString('latin1')).join('/')}`, 'latin1'),
            select: o.include || o.exclude || o.iinclude || o.iexclude ? select : undefined,
            overwrite: o.overwrite === true,
            sparse: o.sparse !== false,
            onProgress: (p) =>
              progress.update(p.filesDone, p.bytesDone, { files: p.filesTotal, bytes: p.bytesTotal }),
          }).finally(() => progress.stop());
          const seconds = (Date.now() - started) / 1000;
          let verifyProblems: { path: string; message: string }[] = [];
          let verified: { files: number; bytes: number } | undefined;
          if (o.verify) {
            const vp = startProgress(out, 'verify', {
              files: result.restoredFiles.length,
              bytes: result.bytes,
            });
            const v = verifyRestoredFiles(repo, result.restoredFiles, (f, b) => vp.update(f, b));
            vp.stop();
            verifyProblems = v.problems;
            verified = { files: v.files, bytes: v.bytes };
          }
          for (const p of result.problems) out.warn(`error: ${p.path}: ${p.message}`);
          for (const p of verifyProblems) out.warn(`verify: ${p.path}: ${p.message}`);
          if (out.json) {
            out.printJson({
              message_type: 'summary',
              snapshot_id: snap.id,
              target,
              files_restored: result.files,
              dirs_restored: result.dirs,
              others_restored: result.others,
              bytes_restored: result.bytes,
              seconds,
              errors: result.problems,
              ...(verified
                ? {
                    verified_files: verified.files,
                    verified_bytes: verified.bytes,
                    verify_errors: verifyProblems,
                  }
                : {}),
            });
          } else {
            out.info(
              `restored ${result.files} files, ${result.dirs} directories, ${formatBytes(result.bytes)} in ${formatDuration(seconds)}`,
            );
            if (verified) {
              out.info(
                `verified ${verified.files} files, ${formatBytes(verified.bytes)}: ${verifyProblems.length} problems`,
              );
            }
          }
          const errors = result.problems.length + verifyProblems.length;
          report.files_read = result.files;
          report.bytes_read = result.bytes;
          report.details = {
            dirs_restored: result.dirs,
            others_restored: result.others,
            verified_files: verified?.files ?? null,
            errors,
          };
          if (errors > 0) {
            const first = result.problems[0] ?? verifyProblems[0]!;
            report.result = 'failed';
            report.error = `there were ${errors} errors, the first: ${first.path}: ${first.message}`;
            out.warn(`Fatal: there were ${errors} errors`);
            process.exitCode = ExitCode.error;
          }
        },
        { loadIndex: true },
      ),
    );
  });
}
