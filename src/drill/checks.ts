/**
 * A drill's validation checks (R27): the dataset's own commands, run one after another with
 * `/bin/sh -c` against the restored data. They run inside the sandbox — working directory
 * the sandbox, `TMPDIR` its `.tmp` — so that whatever a check writes (`sqlite3 scratch.db`,
 * `mktemp`) lands in the sandbox and goes when it is removed, never beside the original
 * data or in the system's temporary directory.
 */
import { mkdirSync } from 'node:fs';
import path from 'node:path';
import { ArcaError } from '../errors.js';
import { childFailure, lastLine, runChild } from '../runner/child.js';
import type { RunnerContext } from '../runner/context.js';
import type { DrillCheckResult } from './record.js';

/** How long each validation check may run. */
const CHECK_TIMEOUT_MS = 60 * 60 * 1000;

/** The directory below the sandbox that checks get as `TMPDIR`. */
export const checkTmpName = '.tmp';

/**
 * Runs `checks` one after another in `sandbox`, with `TMPDIR` = `<sandbox>/.tmp` (created
 * when there is a check), arca's environment and `vars`; every check runs whatever the
 * others did. Rejects only with ArcaError `interrupted`.
 */
export async function runChecks(
  ctx: Pick<RunnerContext, 'env' | 'signal' | 'report'>,
  checks: readonly { name: string; command: string }[],
  sandbox: string,
  vars: Record<string, string>,
): Promise<DrillCheckResult[]> {
  const results: DrillCheckResult[] = [];
  if (checks.length === 0) return results;
  const tmp = path.join(sandbox, checkTmpName);
  mkdirSync(tmp, { recursive: true, mode: 0o700 });
  for (const c of checks) {
    const run = {
      what: `check ${JSON.stringify(c.name)}`,
      file: '/bin/sh',
      args: ['-c', c.command],
      cwd: sandbox,
      env: { ...ctx.env, ...vars, TMPDIR: tmp },
      tailBytes: 2048,
      timeoutMs: CHECK_TIMEOUT_MS,
      signal: ctx.signal,
    };
    let output: string;
    let pass: boolean;
    try {
      const exit = await runChild(run);
      const failure = childFailure(run, exit, lastLine(exit.stderr) || lastLine(exit.output));
      pass = failure === undefined;
      output = lastLines(exit.output, 5) || (failure?.message ?? '');
      if (failure !== undefined && !output.includes(failure.message))
        output = `${output}\n${failure.message}`.trim();
    } catch (err) {
      if (err instanceof ArcaError && err.code === 'interrupted') throw err;
      pass = false;
      output = `cannot run: ${(err as NodeJS.ErrnoException).code ?? String(err)}`;
    }
    results.push({ check: c.name, command: c.command, passed: pass, output });
    ctx.report({
      type: 'drill',
      text: `${vars.ARCA_DATASET}: drill: check ${JSON.stringify(c.name)} ${pass ? 'passed' : 'FAILED'}`,
    });
  }
  return results;
}

function lastLines(text: string, n: number): string {
  return text
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '')
    .slice(-n)
    .join('\n');
}
