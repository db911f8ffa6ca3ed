import { Command, CommanderError } from 'commander';
import { ArcaError, ExitCode } from '../errors.js';
import { version } from '../version.js';
import { registerBackup } from './cmd_backup.js';
import { registerCat } from './cmd_cat.js';
import { registerCheck } from './cmd_check.js';
import { registerCopy } from './cmd_copy.js';
import { registerDrill } from './cmd_drill.js';
import { registerDump } from './cmd_dump.js';
import { registerForget } from './cmd_forget.js';
import { registerInit } from './cmd_init.js';
import { registerJournal } from './cmd_journal.js';
import { registerKey } from './cmd_key.js';
import { registerLs } from './cmd_ls.js';
import { registerPolicy } from './cmd_policy.js';
import { registerPrune } from './cmd_prune.js';
import { registerQuickstart } from './cmd_quickstart.js';
import { registerReport } from './cmd_report.js';
import { registerRestore } from './cmd_restore.js';
import { registerRun } from './cmd_run.js';
import { registerRunbook } from './cmd_runbook.js';
import { registerSnapshots } from './cmd_snapshots.js';
import { registerUnlock } from './cmd_unlock.js';
import { runInterruptHandler, takeStopHandler } from './context.js';

/** Builds the command-line program with every command registered. */
export function buildProgram(): Command {
  const program = new Command('arca')
    .description('Backups in the restic repository format, with measured restore drills and audit evidence')
    .version(version, '-V, --version')
    .option('-r, --repo <location>', 'repository location (default: $ARCA_REPOSITORY)')
    .option(
      '--password-file <file>',
      'read the repository password from a file (default: $ARCA_PASSWORD_FILE)',
    )
    .option(
      '--password-command <command>',
      'run a shell command that prints the password ($ARCA_PASSWORD_COMMAND)',
    )
    .option('--key-hint <id>', 'try the key with this ID first')
    .option('--json', 'print machine-readable JSON')
    .option('-q, --quiet', 'print only results and errors')
    .option('-v, --verbose', 'print more detail')
    .option('--no-lock', 'do not lock the repository (read-only commands only)')
    .option(
      '-o, --option <key=value>',
      'set a backend option, e.g. -o sftp.identity=~/.ssh/backup, -o s3.region=eu-west-1 (repeatable)',
      (value: string, previous: string[] = []) => [...previous, value],
    )
    .option('--limit-upload <KiB/s>', 'limit uploads to this rate')
    .option('--limit-download <KiB/s>', 'limit downloads to this rate')
    .option('--cache-dir <dir>', 'where to cache remote metadata (default: $ARCA_CACHE_DIR or ~/.cache/arca)')
    .option('--no-cache', 'do not use a local cache of remote metadata')
    .option('--policy <file>', 'the backup policy file (default: $ARCA_POLICY, else arca.yaml)')
    .option(
      '--journal <file>',
      'the journal database (default: $ARCA_JOURNAL, else $XDG_STATE_HOME/arca/journal.db)',
    )
    .showSuggestionAfterError(true)
    .exitOverride();
  for (const register of [
    registerBackup,
    registerSnapshots,
    registerLs,
    registerCat,
    registerDump,
    registerRestore,
    registerCheck,
    registerForget,
    registerPrune,
    registerCopy,
    registerInit,
    registerKey,
    registerUnlock,
    registerQuickstart,
    registerPolicy,
    registerRun,
    registerDrill,
    registerJournal,
    registerRunbook,
    registerReport,
  ]) {
    register(program);
  }
  return program;
}

/** Runs the CLI with `argv` and returns the exit code (never throws for expected failures). */
export async function main(argv: string[]): Promise<number> {
  const program = buildProgram();
  program.configureOutput({
    writeErr: (s) => process.stderr.write(s.startsWith('error:') ? `arca: ${s}` : s),
  });
  for (const cmd of program.commands) cmd.exitOverride();
  try {
    await program.parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : ExitCode.ok;
  } catch (err) {
    return exitCodeFor(err);
  }
}

/** Prints one line for an error and picks the exit code. */
export function exitCodeFor(err: unknown): number {
  if (err instanceof CommanderError) {
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version' || err.exitCode === 0)
      return 0;
    return ExitCode.usage;
  }
  if (err instanceof ArcaError) {
    process.stderr.write(`arca: ${err.message}\n`);
    return err.exitCode;
  }
  const e = err as Error;
  process.stderr.write(`arca: internal error: ${e?.stack ?? String(err)}\n`);
  return ExitCode.error;
}

/** How long a finished command waits for its handles to close before it exits regardless. */
const exitGraceMs = 5000;

let interrupted = false;
function onSignal(signal: NodeJS.Signals): void {
  const graceful = interrupted ? undefined : takeStopHandler();
  if (graceful !== undefined) {
    graceful(signal);
    return;
  }
  if (interrupted) process.exit(ExitCode.interrupted);
  interrupted = true;
  process.stderr.write(`arca: ${signal === 'SIGINT' ? 'interrupted' : `received ${signal}`}, cleaning up\n`);
  void runInterruptHandler().finally(() => process.exit(ExitCode.interrupted));
}

/** Entry point of the `arca` executable: runs the CLI on the process's arguments and sets its exit code. */
export function run(): void {
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  const finish = (code: number): void => {
    process.exitCode = code;
    // The command is done. If a connection or timer that should have been closed still holds
    // the event loop (a bug, but one a scheduled job must not hang on), exit anyway.
    setTimeout(() => process.exit(code), exitGraceMs).unref();
  };
  main(process.argv.slice(2)).then(finish, (err) => finish(exitCodeFor(err)));
}
