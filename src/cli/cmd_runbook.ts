/**
 * `arca runbook`: the restoration procedure of each dataset of the policy, as markdown.
 * The work (policy, journal) is loaded only when the command runs.
 */
import type { Command } from 'commander';
import { type GlobalOptions, makeOutput } from './context.js';

const actions = () => import('./runbook_actions.js');

/** Registers `arca runbook`. */
export function registerRunbook(program: Command): void {
  program
    .command('runbook')
    .description(
      "write each dataset's restoration procedure (markdown): copies, keys, arca and plain restic commands, last drill, checks",
    )
    .option('--dataset <name>', 'only this dataset')
    .option('--out <dir>', 'write <dataset>.md for each dataset and index.md into this directory')
    .action(async (_o, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions & { dataset?: string; out?: string }>();
      await (await actions()).runbookCommand(o, makeOutput(o));
    });
}
