/**
 * The daemon: carries out the policy continuously (R17). It works out what is due, runs it
 * (one job at a time, so no two runs of a dataset ever overlap), and sleeps until the next
 * scheduled moment of any dataset or prune, at most a minute so that a changed policy file
 * and RPO breaches are noticed. Moments missed while it was down are caught up once when it
 * starts: the plan collapses them into one run per dataset.
 *
 * The policy file is read again before each round; a changed one is recorded in the
 * journal, and one that became invalid is reported and the previous one kept.
 *
 * Stopping: the signal passed in (SIGTERM, Ctrl-C) stops it between steps; the step running
 * then either finishes or is aborted by the caller (see cmd_run.ts).
 */
import type { RunnerContext } from './context.js';
import { currentPlan, loadRunnablePolicy, recordPolicyChange, runOnce } from './runner.js';

/** How the daemon behaves. */
export interface DaemonOptions {
  /** The policy file, read again before each round. */
  policyFile: string;
  /** The longest sleep between rounds (default 60 s). */
  maxSleepMs?: number;
}

/** Runs until `ctx.signal` aborts. */
export async function runDaemon(ctx: RunnerContext, opts: DaemonOptions): Promise<void> {
  const maxSleep = opts.maxSleepMs ?? 60_000;
  ctx.report({
    type: 'info',
    text: `daemon started: policy ${ctx.loaded.policy.metadata.id} (${Object.keys(ctx.loaded.policy.datasets).length} datasets)`,
  });
  recordPolicyChange(ctx);
  const rejected = new Set<string>();
  while (!ctx.signal.aborted) {
    reloadPolicy(ctx, opts.policyFile, rejected);
    const outcome = await runOnce(ctx);
    if (ctx.signal.aborted) break;
    const plan = currentPlan(ctx);
    // Something came due while the round ran (a dataset's next moment passed during a long
    // backup): go again at once. Only what this round did not attempt counts, so a failure
    // that leaves something due cannot make the daemon spin.
    const attempted = new Set([
      ...outcome.jobs.map((j) => `dataset:${j.dataset}`),
      ...outcome.prunes.map((p) => `prune:${p.repository}`),
      ...outcome.skipped.map((d) => `dataset:${d}`),
    ]);
    const dueNow = [
      ...plan.datasets.filter((d) => d.run !== null).map((d) => `dataset:${d.dataset}`),
      ...plan.prunes.filter((p) => p.due).map((p) => `prune:${p.repository}`),
    ];
    if (dueNow.some((k) => !attempted.has(k))) continue;
    const now = ctx.now().getTime();
    const wait = plan.next === null ? maxSleep : Math.min(maxSleep, Math.max(0, plan.next.getTime() - now));
    if (plan.next !== null && wait < maxSleep)
      ctx.report({
        type: 'sleep',
        text: `next run at ${plan.next.toISOString()}`,
        next: plan.next.toISOString(),
      });
    try {
      // A scheduled moment is reached when the clock has passed it: wake just after.
      await ctx.sleep(wait + 5, ctx.signal);
    } catch {
      break;
    }
  }
  ctx.report({ type: 'info', text: 'daemon stopped' });
}

/**
 * Reads the policy file again; a valid change replaces the policy (and is recorded), an
 * invalid one is reported once (`rejected` remembers its message) and the previous one kept.
 */
function reloadPolicy(ctx: RunnerContext, file: string, rejected: Set<string>): void {
  try {
    const loaded = loadRunnablePolicy(file, ctx.now());
    rejected.clear();
    if (loaded.sha256 === ctx.loaded.sha256) return;
    ctx.loaded = loaded;
    // A repository name may now stand for another repository: unlock keys afresh.
    ctx.access.keys?.clear();
    recordPolicyChange(ctx);
  } catch (err) {
    const text = err instanceof Error ? err.message : String(err);
    if (rejected.has(text)) return;
    rejected.add(text);
    ctx.report({
      type: 'warning',
      text: `the policy file cannot be used, keeping the previous one: ${text}`,
    });
  }
}
