import type { Command } from 'commander';
import { type GlobalOptions, makeOutput } from './context.js';

/** The policy commands' work, loaded when one of them runs (zod and the YAML parser are slow to load). */
const actions = () => import('./policy_actions.js');

/** Registers `arca policy init|schema|check`. */
export function registerPolicy(program: Command): void {
  const policy = program
    .command('policy')
    .description(
      'the backup policy file: write an example, print its JSON Schema, check it against the control',
    );
  policy
    .command('init')
    .description('write an annotated example policy that runs on embedded defaults')
    .option(
      '--output <file>',
      'where to write it, - for standard output (default: $ARCA_POLICY or arca.yaml)',
    )
    .option('--force', 'replace an existing file')
    .option('--no-init', 'do not create the local repository the example names when it does not exist')
    .action(async (_opts, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions & { output?: string; force?: boolean; init: boolean }>();
      const a = await actions();
      const file = a.policyInit(o);
      if (file === '-') return;
      const out = makeOutput(o);
      out.info(`wrote ${file}; check it with: arca policy check --policy ${file}`);
      if (o.init) await a.setUpDefaultRepository(o, out);
    });
  policy
    .command('schema')
    .description("print the policy file's JSON Schema (for editors)")
    .action(async () => {
      process.stdout.write((await actions()).policySchemaText());
    });
  policy
    .command('check')
    .description('validate the policy and report findings against the backup control (exit 2 on errors)')
    .option('--strict', 'treat warnings as errors')
    .action(async (_opts, cmd: Command) => {
      const o = cmd.optsWithGlobals<GlobalOptions & { strict?: boolean }>();
      const { policyCheck, reportPolicyCheck } = await actions();
      reportPolicyCheck(policyCheck(o), makeOutput(o));
    });
}
