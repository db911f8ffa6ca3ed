/**
 * A dataset's hooks (`before`, `after`, `on_failure`): shell commands run around its backup
 * with the run's facts in their environment (ARCA_DATASET, ARCA_LEVEL, ARCA_POLICY_ID, and
 * ARCA_SNAPSHOT_ID or ARCA_ERROR). Their output is kept as a tail for the journal; a failure
 * names the hook and its last line of standard error, never the command, which may carry
 * credentials.
 */
import { ArcaError } from '../errors.js';
import { type ChildRun, childFailure, lastLine, runChild } from './child.js';

/** How a hook runs. */
export interface HookOptions {
  /** The environment the hook starts from (default: arca's own). */
  env?: NodeJS.ProcessEnv;
  /** The run's facts, ARCA_DATASET etc., added to the environment. */
  vars: Record<string, string>;
  /** How long it may run (default 1 h); it is then killed and fails. */
  timeoutMs?: number;
  /** Aborting stops the hook (SIGTERM) and fails with ArcaError `interrupted`. */
  signal?: AbortSignal;
}

const DEFAULT_TIMEOUT_MS = 60 * 60 * 1000;
/** How much of a hook's output is kept. */
const OUTPUT_TAIL = 4096;

/** Runs a hook command with /bin/sh -c; resolves with its output tail; throws ArcaError('io', 'before hook failed (exit code 3): <last stderr line>') on failure or timeout. */
export async function runHook(
  name: 'before' | 'after' | 'on_failure',
  command: string,
  opts: HookOptions,
): Promise<{ ms: number; output: string }> {
  const run: ChildRun = {
    what: `${name} hook`,
    file: '/bin/sh',
    args: ['-c', command],
    env: { ...(opts.env ?? process.env), ...opts.vars },
    tailBytes: OUTPUT_TAIL,
    timeoutMs: opts.timeoutMs ?? DEFAULT_TIMEOUT_MS,
    signal: opts.signal,
  };
  const start = performance.now();
  let exit: Awaited<ReturnType<typeof runChild>>;
  try {
    exit = await runChild(run);
  } catch (err) {
    if (err instanceof ArcaError) throw err;
    throw new ArcaError(
      'io',
      `cannot run ${run.what}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`,
    );
  }
  // Scripts often report on standard output; its last line is better than nothing.
  const failure = childFailure(run, exit, lastLine(exit.stderr) || lastLine(exit.output));
  if (failure !== undefined) throw failure;
  return { ms: Math.round(performance.now() - start), output: exit.output };
}
