import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { Command } from 'commander';
import { LocalBackend } from '../backend/local.js';
import { arcaDirs } from '../dirs.js';
import { restoreTree } from '../engine/restorer.js';
import { verifyRestoredFiles } from '../engine/verify.js';
import { ArcaError, ExitCode } from '../errors.js';
import { backup } from '../ops/backup.js';
import { shortId } from '../repo/id.js';
import { initRepository } from '../repo/init.js';
import { Repository } from '../repo/repository.js';
import { type GlobalOptions, makeOutput } from './context.js';
import { formatBytes } from './format.js';

/** Registers `arca quickstart`: a backup and a verified, timed restore test on embedded defaults. */
export function registerQuickstart(program: Command): void {
  program
    .command('quickstart')
    .description('back up paths to a local repository on embedded defaults, then prove the backup restores')
    .argument('[paths...]', 'what to back up (default: the current directory)')
    .action(async (paths: string[], _o, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions>();
      const out = makeOutput(o);
      const dirs = arcaDirs();
      const location = o.repo ?? process.env.ARCA_REPOSITORY ?? path.join(dirs.data, 'repository');
      const pwFile = o.passwordFile ?? process.env.ARCA_PASSWORD_FILE ?? path.join(dirs.config, 'password');
      const targets = paths.length > 0 ? paths : ['.'];
      for (const t of targets) if (!existsSync(t)) throw new ArcaError('usage', `${t} does not exist`);

      const backend = new LocalBackend(location);
      let repo: Repository;
      if (existsSync(path.join(location, 'config'))) {
        repo = await Repository.open(backend, readPasswordFile(pwFile));
      } else {
        if (!existsSync(pwFile)) {
          mkdirSync(path.dirname(pwFile), { recursive: true, mode: 0o700 });
          writeFileSync(pwFile, `${randomBytes(24).toString('base64url')}\n`, { mode: 0o600, flag: 'wx' });
          out.info(
            `generated a repository password in ${pwFile} (keep a copy somewhere safe: without it the backups cannot be read)`,
          );
        }
        mkdirSync(path.dirname(location), { recursive: true, mode: 0o700 });
        repo = await initRepository(backend, readPasswordFile(pwFile));
        out.info(`created repository ${repo.config.id.slice(0, 10)} at ${location}`);
      }
      const lock = await repo.lock(false);
      try {
        const b = await backup(repo, { paths: targets, tags: ['quickstart'] });
        for (const p of b.problems) out.warn(`error: ${p.path}: ${p.message}`);
        const snap = b.snapshot!;
        out.info(
          `backup: snapshot ${shortId(snap.id)}, ${b.stats.totalFiles} files, ${formatBytes(b.stats.totalBytes)}, ` +
            `${formatBytes(b.saver.dataAdded)} new, in ${b.seconds.toFixed(1)} s`,
        );
        // The restore test goes to a fresh sandbox, never over the original files.
        const sandbox = mkdtempSync(path.join(os.tmpdir(), 'arca-restore-test-'));
        try {
          const started = Date.now();
          const r = await restoreTree(repo, snap.tree, { target: sandbox });
          const v = verifyRestoredFiles(repo, r.restoredFiles);
          const seconds = (Date.now() - started) / 1000;
          const problems = [...r.problems, ...v.problems];
          for (const p of problems) out.warn(`restore test: ${p.path}: ${p.message}`);
          const result = {
            repository: location,
            snapshot_id: snap.id,
            files: b.stats.totalFiles,
            bytes: b.stats.totalBytes,
            backup_seconds: b.seconds,
            restore_seconds: seconds,
            restore_verified_files: v.files,
            restore_ok: problems.length === 0,
          };
          if (out.json) out.printJson(result);
          else {
            out.info(
              `restore test: ${v.files} files, ${formatBytes(r.bytes)} restored and verified in ${seconds.toFixed(1)} s ` +
                `(${problems.length === 0 ? 'passed' : `${problems.length} problems`})`,
            );
          }
          if (problems.length > 0) process.exitCode = ExitCode.error;
          else if (b.problems.length > 0) process.exitCode = ExitCode.partial;
        } finally {
          rmSync(sandbox, { recursive: true, force: true });
        }
      } finally {
        await lock.release();
      }
    });
}

function readPasswordFile(file: string): string {
  try {
    const pw = readFileSync(file, 'utf8').split(/\r?\n/)[0] ?? '';
    if (pw !== '') return pw;
  } catch {
    // reported below
  }
  throw new ArcaError('no-password', `cannot read a password from ${file}`);
}
