/**
 * `arca report`: the evidence pack for an auditor, computed from the policy, the journal
 * and the repositories (docs/report.md). Registration only; the work loads lazily.
 */
import type { Command } from 'commander';
import { type GlobalOptions, makeOutput } from './context.js';
import { collect } from './format.js';

/** The report's work, loaded when the command runs (zod, YAML, SQLite and the renderers are slow to load). */
const actions = () => import('./report_actions.js');

/** Options of `arca report`. */
export interface ReportOptions extends GlobalOptions {
  from?: string;
  to?: string;
  format?: string[];
  out?: string;
  store?: boolean;
}

/** Registers `arca report`. */
export function registerReport(program: Command): void {
  program
    .command('report')
    .description(
      'write the evidence pack (HTML, JSON, markdown and index.json) and store it in the repositories',
    )
    .option(
      '--from <time>',
      'start of the period: ISO 8601 date or time, or an age like 90d (default: 90 days before --to)',
    )
    .option(
      '--to <time>',
      'end of the period: ISO 8601 time, or a date (its whole day is included); default: now',
    )
    .option('--format <format>', 'html, json or md; repeat or separate by commas (default: all)', collect)
    .option('--out <dir>', 'where to write the pack (default: ./arca-report-<date>)')
    .option('--no-store', 'do not back the pack up into the repositories')
    .action(async (_o, cmd: Command) => {
      const o = cmd.optsWithGlobals<ReportOptions>();
      await (await actions()).reportCommand(o, makeOutput(o));
    });
}
