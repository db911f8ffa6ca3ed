import { readFileSync } from 'node:fs';
import path from 'node:path';
import type { Command } from 'commander';
import { PathFilter, parsePatternFile } from '../engine/filter.js';
import { scan } from '../engine/scanner.js';
import { ArcaError, ExitCode } from '../errors.js';
import type { RunReport } from '../journal/record_run.js';
import { type BackupResult, backup } from '../ops/backup.js';
import type { CompressionMode } from '../repo/compression.js';
import { shortId } from '../repo/id.js';
import { describeOrphans } from '../repo/orphan_packs.js';
import { type GlobalOptions, makeOutput, repoLocation, withRepository } from './context.js';
import { collect, formatBytes, formatDuration } from './format.js';
import { recordCli } from './journal_record.js';
import { startProgress } from './progress.js';

interface BackupCliOptions extends GlobalOptions {
  tag?: string[];
  host?: string;
  exclude?: string[];
  iexclude?: string[];
  excludeFile?: string[];
  iexcludeFile?: string[];
  excludeCaches?: boolean;
  oneFileSystem?: boolean;
  withAtime?: boolean;
  parent?: string;
  force?: boolean;
  dryRun?: boolean;
  stdin?: boolean;
  stdinFilename: string;
  filesFrom?: string[];
  compression: string;
}

/** Registers `arca backup`. */
export function registerBackup(program: Command): void {
  program
    .command('backup')
    .description('back up files and directories (or standard input) into a new snapshot')
    .argument('[paths...]', 'files and directories to back up')
    .option('--tag <tag[,tag...]>', 'add tags to the snapshot (repeatable)', collect)
    .option('-H, --host <host>', 'record this host name instead of the machine’s')
    .option('-e, --exclude <pattern>', 'leave out what matches (repeatable)', collect)
    .option('--iexclude <pattern>', 'like --exclude, ignoring case', collect)
    .option('--exclude-file <file>', 'read exclude patterns from a file (repeatable)', collect)
    .option('--iexclude-file <file>', 'like --exclude-file, ignoring case', collect)
    .option('--exclude-caches', 'leave out directories marked with a CACHEDIR.TAG')
    .option('-x, --one-file-system', 'do not cross filesystem boundaries')
    .option(
      '--with-atime',
      'record access times (by default the modification time is stored there, as restic does)',
    )
    .option(
      '--files-from <file>',
      'read the paths to back up from a file, one per line (repeatable)',
      collect,
    )
    .option('--parent <snapshot>', 'compare against this snapshot instead of the newest matching one')
    .option('-f, --force', 're-read every file, even unchanged ones')
    .option('-n, --dry-run', 'do everything but write to the repository')
    .option('--stdin', 'back up standard input as one file')
    .option('--stdin-filename <name>', 'file name for --stdin', 'stdin')
    .option('--compression <mode>', 'auto, off or max', 'auto')
    .action(async (paths: string[], _o, cmd: Command) => {
      const o = cmd.optsWithGlobals<BackupCliOptions>();
      const out = makeOutput(o);
      if (!['auto', 'off', 'max'].includes(o.compression)) {
        throw new ArcaError(
          'usage',
          `invalid --compression ${JSON.stringify(o.compression)} (auto, off or max)`,
        );
      }
      const targets = [...paths, ...(o.filesFrom ?? []).flatMap(readPathList)];
      if (o.stdin && targets.length > 0) throw new ArcaError('usage', '--stdin takes no paths');
      if (!o.stdin && targets.length === 0)
        throw new ArcaError('usage', 'nothing to back up: give at least one path');
      const excludes = [...(o.exclude ?? []), ...(o.excludeFile ?? []).flatMap(readPatterns)];
      const iexcludes = [...(o.iexclude ?? []), ...(o.iexcludeFile ?? []).flatMap(readPatterns)];
      const filters = [
        ...(excludes.length ? [new PathFilter(excludes)] : []),
        ...(iexcludes.length ? [new PathFilter(iexcludes, { caseInsensitive: true })] : []),
      ];
      const exclude = filters.length ? (p: Buffer) => filters.some((f) => f.matches(p)) : undefined;
      const abs = targets.map((p) => path.resolve(p));
      const tags = (o.tag ?? []).flatMap((t) => t.split(',')).filter(Boolean);
      const entry = {
        operation: 'backup',
        repository: repoLocation(o),
        details: { paths: o.stdin ? [`/${o.stdinFilename}`] : abs, tags, host: o.host ?? null },
      };
      await recordCli(o, entry, (report) =>
        withRepository(
          o,
          'shared',
          async (repo) => {
            const progress = startProgress(out, 'backup', { files: 0, bytes: 0 });
            let totals = { files: 0, bytes: 0 };
            const scanning =
              out.interactive || out.json ? scan(abs, exclude, (t) => (totals = t)) : undefined;
            let lastStatus = 0;
            const result = await backup(repo, {
              paths: targets,
              stdin: o.stdin ? { stream: process.stdin, filename: o.stdinFilename } : undefined,
              tags,
              host: o.host,
              parent: o.parent,
              force: o.force,
              dryRun: o.dryRun,
              exclude,
              excludes: [...excludes, ...iexcludes],
              excludeCaches: o.excludeCaches,
              oneFileSystem: o.oneFileSystem,
              withAtime: o.withAtime,
              compression: o.compression as CompressionMode,
              onProgress: (p) => {
                progress.update(p.filesDone, p.bytesDone, totals, p.currentFiles[0]);
                const now = Date.now();
                if (out.json && now - lastStatus > 1000) {
                  lastStatus = now;
                  out.printJson({
                    message_type: 'status',
                    percent_done: totals.bytes > 0 ? Math.min(1, p.bytesDone / totals.bytes) : 0,
                    total_files: totals.files,
                    files_done: p.filesDone,
                    total_bytes: totals.bytes,
                    bytes_done: p.bytesDone,
                    current_files: p.currentFiles,
                  });
                }
              },
            }).finally(() => progress.stop());
            await scanning;
            for (const p of result.problems) out.warn(`error: ${p.path}: ${p.message}`);
            const s = result.stats;
            Object.assign(report, backupReport(result));
            if (out.json) {
              out.printJson({
                message_type: 'summary',
                files_new: s.filesNew,
                files_changed: s.filesChanged,
                files_unmodified: s.filesUnmodified,
                dirs_new: s.dirsNew,
                dirs_changed: s.dirsChanged,
                dirs_unmodified: s.dirsUnmodified,
                data_blobs: result.saver.dataBlobs,
                tree_blobs: result.saver.treeBlobs,
                data_added: result.saver.dataAdded,
                data_added_packed: result.saver.dataAddedPacked,
                total_files_processed: s.totalFiles,
                total_bytes_processed: s.totalBytes,
                total_duration: result.seconds,
                ...(result.snapshot ? { snapshot_id: result.snapshot.id } : {}),
                ...(result.parent ? { parent_snapshot_id: result.parent } : {}),
                dry_run: o.dryRun === true,
                errors: result.problems,
              });
            } else {
              if (result.orphans.adopted > 0 || result.orphans.unreadable.length > 0)
                out.info(describeOrphans(result.orphans));
              if (result.parent) out.info(`using parent snapshot ${shortId(result.parent)}`);
              out.info(
                `Files:       ${pad(s.filesNew)} new, ${pad(s.filesChanged)} changed, ${pad(s.filesUnmodified)} unmodified`,
              );
              out.info(
                `Dirs:        ${pad(s.dirsNew)} new, ${pad(s.dirsChanged)} changed, ${pad(s.dirsUnmodified)} unmodified`,
              );
              out.info(
                `${o.dryRun ? 'Would add' : 'Added'} to the repository: ${formatBytes(result.saver.dataAdded)} (${formatBytes(result.saver.dataAddedPacked)} stored)`,
              );
              out.info(
                `processed ${s.totalFiles} files, ${formatBytes(s.totalBytes)} in ${formatDuration(result.seconds)}`,
              );
              if (result.snapshot) out.info(`snapshot ${shortId(result.snapshot.id)} saved`);
            }
            if (result.problems.length > 0) {
              out.warn(
                `Warning: at least one source file could not be read (${result.problems.length} problems)`,
              );
              process.exitCode = ExitCode.partial;
            }
          },
          { loadIndex: true },
        ),
      );
    });
}

/** What the journal keeps of a backup: the snapshot, what was read and added, and what could not be read. */
export function backupReport(result: BackupResult): RunReport {
  const first = result.problems[0];
  const more = result.problems.length - 1;
  return {
    snapshot_id: result.snapshot?.id ?? null,
    bytes_read: result.stats.totalBytes,
    files_read: result.stats.totalFiles,
    bytes_added: result.saver.dataAddedPacked,
    files_added: result.stats.filesNew,
    details: {
      host: result.snapshot?.hostname ?? null,
      parent: result.parent ?? null,
      problems: result.problems.length,
    },
    ...(first === undefined
      ? {}
      : {
          result: 'partial',
          error: `could not read ${first.path}: ${first.message}${more > 0 ? ` (and ${more} more)` : ''}`,
        }),
  };
}

function pad(n: number): string {
  return String(n).padStart(5);
}

function readPatterns(file: string): string[] {
  try {
    return parsePatternFile(readFileSync(file));
  } catch (err) {
    if (err instanceof ArcaError) throw err;
    throw new ArcaError(
      'usage',
      `cannot read exclude file ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
}

function readPathList(file: string): string[] {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ArcaError(
      'usage',
      `cannot read --files-from ${file}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  return text
    .split('\n')
    .map((l) => l.replace(/\r$/, ''))
    .filter((l) => l !== '' && !l.startsWith('#'));
}
