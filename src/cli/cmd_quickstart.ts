import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { LocalBackend } from '../backend/local.js';
import { restoreTree } from '../engine/restorer.js';
import { verifyRestoredFiles } from '../engine/verify.js';
import { ArcaError, ExitCode } from '../errors.js';
import type { RunReport } from '../journal/record_run.js';
import { backup } from '../ops/backup.js';
import { shortId } from '../repo/id.js';
import { Repository } from '../repo/repository.js';
import type { Snapshot } from '../repo/snapshot.js';
import { backupReport } from './cmd_backup.js';
import { type GlobalOptions, makeOutput } from './context.js';
import {
  createLocalRepository,
  defaultRepository,
  localRepositoryExists,
  readPasswordFile,
} from './default_repo.js';
import { formatBytes } from './format.js';
import { recordCli } from './journal_record.js';

/** Registers `arca quickstart`: a backup and a verified, timed restore test on embedded defaults. */
export function registerQuickstart(program: Command): void {
  program
    .command('quickstart')
    .description('back up paths to a local repository on embedded defaults, then prove the backup restores')
    .argument('[paths...]', 'what to back up (default: the current directory)')
    .action(async (paths: string[], _o, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions>();
      const out = makeOutput(o);
      const defaults = defaultRepository();
      const location = o.repo ?? process.env.ARCA_REPOSITORY ?? defaults.location;
      const pwFile = o.passwordFile ?? process.env.ARCA_PASSWORD_FILE ?? defaults.passwordFile;
      const targets = paths.length > 0 ? paths : ['.'];
      for (const t of targets) if (!existsSync(t)) throw new ArcaError('usage', `${t} does not exist`);

      const repo = localRepositoryExists(location)
        ? await Repository.open(new LocalBackend(location), readPasswordFile(pwFile))
        : await recordCli(o, { operation: 'init', repository: location }, async (report) => {
            const created = await createLocalRepository(location, pwFile, out);
            report.details = { repository_id: created.config.id };
            return created;
          });
      const lock = await repo.lock(false);
      try {
        const backupEntry = {
          operation: 'backup',
          repository: location,
          details: { paths: targets.map((t) => path.resolve(t)), tags: ['quickstart'] },
        };
        const b = await recordCli(o, backupEntry, async (report) => {
          const b = await backup(repo, { paths: targets, tags: ['quickstart'] });
          Object.assign(report, backupReport(b));
          return b;
        });
        for (const p of b.problems) out.warn(`error: ${p.path}: ${p.message}`);
        const snap = b.snapshot!;
        out.info(
          `backup: snapshot ${shortId(snap.id)}, ${b.stats.totalFiles} files, ${formatBytes(b.stats.totalBytes)}, ` +
            `${formatBytes(b.saver.dataAdded)} new, in ${b.seconds.toFixed(1)} s`,
        );
        const drill = { operation: 'drill', repository: location, snapshot_id: snap.id };
        const test = await recordCli(o, drill, (report) => restoreTest(repo, snap, report));
        const { restored, verified, seconds, problems } = test;
        for (const p of problems) out.warn(`restore test: ${p.path}: ${p.message}`);
        const result = {
          repository: location,
          snapshot_id: snap.id,
          files: b.stats.totalFiles,
          bytes: b.stats.totalBytes,
          backup_seconds: b.seconds,
          restore_seconds: seconds,
          restore_verified_files: verified,
          restore_ok: problems.length === 0,
        };
        if (out.json) out.printJson(result);
        else {
          out.info(
            `restore test: ${verified} files, ${formatBytes(restored)} restored and verified in ${seconds.toFixed(1)} s ` +
              `(${problems.length === 0 ? 'passed' : `${problems.length} problems`})`,
          );
        }
        if (problems.length > 0) process.exitCode = ExitCode.error;
        else if (b.problems.length > 0) process.exitCode = ExitCode.partial;
      } finally {
        await lock.release();
      }
    });
}

/**
 * Restores `snap` into a fresh sandbox (never over the original files), verifies what was
 * written and times it: a restore drill, recorded as one.
 */
async function restoreTest(
  repo: Repository,
  snap: Snapshot,
  report: RunReport,
): Promise<{
  restored: number;
  verified: number;
  seconds: number;
  problems: { path: string; message: string }[];
}> {
  const sandbox = mkdtempSync(path.join(os.tmpdir(), 'arca-restore-test-'));
  try {
    const started = Date.now();
    const r = await restoreTree(repo, snap.tree, { target: sandbox });
    const v = verifyRestoredFiles(repo, r.restoredFiles);
    const seconds = (Date.now() - started) / 1000;
    const problems = [...r.problems, ...v.problems];
    report.files_read = r.files;
    report.bytes_read = r.bytes;
    report.details = { restore_seconds: seconds, verified_files: v.files, problems: problems.length };
    const first = problems[0];
    if (first !== undefined) {
      report.result = 'failed';
      report.error = `the restore test found ${problems.length} problems, the first: ${first.path}: ${first.message}`;
    }
    return { restored: r.bytes, verified: v.files, seconds, problems };
  } finally {
    rmSync(sandbox, { recursive: true, force: true });
  }
}
