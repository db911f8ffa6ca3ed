import type { Command } from 'commander';
import { ArcaError } from '../errors.js';
import { backupLevels } from '../policy/levels.js';
import { type GlobalOptions, makeOutput } from './context.js';

/** The runner's work, loaded when one of these commands runs (zod, YAML and SQLite are slow to load). */
const actions = () => import('./run_actions.js');

/** Registers `arca run`, `arca plan`, `arca daemon` and `arca notify test`. */
export function registerRun(program: Command): void {
  program
    .command('run')
    .description('carry out the policy once: back up what is due (or what you name), copy, apply retention')
    .option('--dataset <name>', 'run this dataset now, whether due or not')
    .option('--level <level>', `with --dataset: run this level (${backupLevels.join(', ')})`)
    .action(async (_o, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions & { dataset?: string; level?: string }>();
      if (o.level !== undefined && !(backupLevels as readonly string[]).includes(o.level))
        throw new ArcaError(
          'usage',
          `invalid --level ${JSON.stringify(o.level)} (${backupLevels.join(', ')})`,
        );
      if (o.level !== undefined && o.dataset === undefined)
        throw new ArcaError('usage', '--level needs --dataset');
      await (await actions()).runCommand(o, makeOutput(o));
    });
  program
    .command('plan')
    .description('show what the policy makes due now, what is late or never ran, and why')
    .action(async (_o, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions>();
      await (await actions()).planCommand(o, makeOutput(o));
    });
  program
    .command('daemon')
    .description(
      'carry out the policy continuously: run what is due at its scheduled time (SIGTERM stops it)',
    )
    .option(
      '--stop-timeout <seconds>',
      'on SIGTERM, how long to let the current step finish before aborting it',
      (v: string) => {
        const n = Number(v);
        if (!Number.isFinite(n) || n < 0)
          throw new ArcaError('usage', `invalid --stop-timeout ${JSON.stringify(v)}: expected seconds`);
        return n;
      },
      60,
    )
    .action(async (_o, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions & { stopTimeout: number }>();
      await (await actions()).daemonCommand(o, makeOutput(o));
    });
  program
    .command('notify')
    .description('notification channels of the policy')
    .command('test')
    .description('send a test event through every channel configured for it')
    .option('--event <event>', 'failure, rpo-breach, drill-failure or success', 'failure')
    .option('--dataset <name>', 'the dataset the test event names (default: the first)')
    .action(async (_o, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions & { event: string; dataset?: string }>();
      await (await actions()).notifyTestCommand(o, makeOutput(o));
    });
}
