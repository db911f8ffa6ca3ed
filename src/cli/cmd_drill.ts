/**
 * `arca drill`: a restore drill now — restore a snapshot of a dataset into an isolated
 * sandbox, verify it, run the dataset's checks, time it against the RTO and record it
 * (docs/drills.md). The work is in drill_actions.ts, loaded only when the command runs.
 */
import type { Command } from 'commander';
import { ArcaError } from '../errors.js';
import { type GlobalOptions, makeOutput } from './context.js';

/** The options of `arca drill`. */
export interface DrillOptions {
  dataset?: string;
  /** The policy's name of the repository to restore from. */
  repo?: string;
  snapshot?: string;
  random?: boolean;
  sample?: string;
  full?: boolean;
  seed?: string;
  sandbox?: string;
  keepSandbox?: boolean;
  dryRun?: boolean;
}

/** `10%` or `10` as a number above 0 and at most 100. */
function parseSample(v: string): string {
  const n = /^\d+(\.\d+)?%?$/.test(v) ? Number.parseFloat(v) : Number.NaN;
  if (!(n > 0 && n <= 100))
    throw new ArcaError('usage', `invalid --sample ${JSON.stringify(v)}: expected a percentage such as 10%`);
  return String(n);
}

/** Registers `arca drill`. */
export function registerDrill(program: Command): void {
  program
    .command('drill')
    .description('test a restore now: restore a snapshot into a sandbox, verify it, time it against the RTO')
    .option('--dataset <name>', 'the dataset to drill (default: the one drilled least recently)')
    .option(
      '--repo <name>',
      'restore from this repository of the policy (default: the copy drilled least recently)',
    )
    .option('--snapshot <id>', 'restore this snapshot (default: the newest of the dataset)')
    .option('--random', 'restore a random snapshot among those kept (seeded)')
    .option(
      '--sample <percent>',
      'restore this share of the files and forecast the full restore time',
      parseSample,
    )
    .option('--full', "restore every file, whatever the policy's drill.sample says")
    .option('--seed <seed>', 'the seed of the random choices, to repeat an earlier drill')
    .option(
      '--sandbox <dir>',
      'create the sandbox under this directory (default: drill.sandbox, else $XDG_STATE_HOME/arca/drills)',
    )
    .option('--keep-sandbox', 'leave the restored files in the sandbox for inspection')
    .option(
      '--dry-run',
      'select and report what would be restored; recorded as a simulated drill, never as evidence',
    )
    .action(async (_o, cmd: Command) => {
      // --repo names a repository of the policy here; the global -r (a location) does not apply.
      const o = { ...cmd.optsWithGlobals<GlobalOptions & DrillOptions>(), ...cmd.opts<DrillOptions>() };
      if (o.sample !== undefined && o.full)
        throw new ArcaError('usage', '--sample and --full exclude each other');
      if (o.snapshot !== undefined && o.random)
        throw new ArcaError('usage', '--snapshot and --random exclude each other');
      await (await import('./drill_actions.js')).drillCommand(o, makeOutput(o));
    });
}
