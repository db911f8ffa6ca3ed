/**
 * What `arca run`, `arca plan`, `arca daemon` and `arca notify test` do. Kept apart from
 * their registration so that the policy, journal and runner modules load only when one of
 * them runs.
 */
import { arcaDirs } from '../dirs.js';
import { ArcaError, ExitCode } from '../errors.js';
import { Journal } from '../journal/journal.js';
import { journalPath } from '../journal/path.js';
import { currentWho } from '../journal/record.js';
import type { ArcaEvent } from '../notify/event.js';
import { checkPolicy } from '../policy/findings.js';
import { type LoadedPolicy, readPolicy, resolvePolicyFile } from '../policy/load.js';
import { type NotificationEvent, notificationEvents } from '../policy/notifications.js';
import type { BackupLevel } from '../policy/schedules.js';
import {
  abortableSleep,
  hostName,
  type RunnerContext,
  type RunnerEvent,
  recordInterrupted,
} from '../runner/context.js';
import { runDaemon } from '../runner/daemon.js';
import { notifyAndRecord } from '../runner/notify.js';
import { type DatasetPlan, makePlan } from '../runner/plan.js';
import { currentPlan, loadRunnablePolicy, recordPolicyChange, runOnce } from '../runner/runner.js';
import {
  type GlobalOptions,
  type Output,
  onInterrupt,
  onStopRequest,
  runInterruptHandler,
  stackOptions,
} from './context.js';
import { localTime, table } from './format.js';

/** Events printed on stderr rather than stdout. */
const problemTypes = new Set(['warning', 'failed', 'retry', 'rpo-breach']);

/** The runner's context for a CLI command: the journal of `--journal`, progress on `out` (timestamped with `stamp`). */
export function makeContext(
  o: GlobalOptions,
  out: Output,
  loaded: LoadedPolicy,
  signal: AbortSignal,
  stamp: boolean,
): RunnerContext {
  const limits = stackOptions(o);
  const journal = Journal.open(journalPath(o.journal));
  return {
    loaded,
    journal,
    access: {
      env: process.env,
      cacheDir: o.cache === false ? false : o.cacheDir,
      // The global --limit-upload/--limit-download apply to every repository of the policy.
      limitUploadKiBs: limits.limitUploadKiBs,
      limitDownloadKiBs: limits.limitDownloadKiBs,
      onRetry: (line) => out.warn(`arca: ${line}`),
      onWarning: (line) => out.warn(`arca: warning: ${line}`),
      keys: new Map(),
    },
    env: process.env,
    host: hostName(),
    stateDir: arcaDirs().state,
    signal,
    report: (e: RunnerEvent) => {
      if (out.json) {
        out.printJson({ time: new Date().toISOString(), ...e });
        return;
      }
      const line = stamp ? `${new Date().toISOString()} ${e.text}` : e.text;
      if (problemTypes.has(e.type)) out.warn(line);
      else if (e.type !== 'sleep' || out.verbose) out.info(line);
    },
    sleep: abortableSleep,
    now: () => new Date(),
  };
}

/** `arca run`: what is due (or the named dataset) once; exit 1 when a run failed, 3 when one was partial. */
export async function runCommand(
  o: GlobalOptions & { dataset?: string; level?: string },
  out: Output,
): Promise<void> {
  const loaded = loadRunnablePolicy(resolvePolicyFile(o.policy));
  const controller = new AbortController();
  const ctx = makeContext(o, out, loaded, controller.signal, false);
  // Ctrl-C: stop dumps and hooks, record the step as interrupted; the locks are released by their own handlers.
  const cleanUp = onInterrupt(async () => {
    controller.abort(new ArcaError('interrupted', 'interrupted'));
    recordInterrupted(ctx, 'interrupted by a signal');
  });
  try {
    recordPolicyChange(ctx);
    const outcome = await runOnce(ctx, { dataset: o.dataset, level: o.level as BackupLevel | undefined });
    if (outcome.jobs.length === 0 && outcome.prunes.length === 0 && outcome.drills.length === 0) {
      const next = currentPlan(ctx).next;
      out.info(`nothing is due${next ? `; next at ${localTime(next)}` : ''}`);
    }
    const failed =
      outcome.jobs.filter((j) => j.result === 'failed').length +
      outcome.prunes.filter((p) => !p.ok).length +
      outcome.drills.filter((d) => d.result === 'failed').length;
    const partial = outcome.jobs.filter((j) => j.result === 'partial').length;
    const missed = outcome.drills.filter((d) => d.result === 'partial').length;
    if (outcome.jobs.some((j) => j.result === 'interrupted'))
      throw new ArcaError('interrupted', 'interrupted');
    if (failed > 0) {
      const total = outcome.jobs.length + outcome.prunes.length + outcome.drills.length;
      throw new ArcaError(
        'io',
        `${failed} of ${total} ${total === 1 ? 'run' : 'runs'} failed (arca journal --result failed)`,
      );
    }
    if (partial > 0) {
      out.warn(
        `arca: ${partial} ${partial === 1 ? 'backup was' : 'backups were'} partial: some files could not be read`,
      );
      process.exitCode = ExitCode.partial;
    }
    if (missed > 0) {
      out.warn(
        `arca: ${missed} restore ${missed === 1 ? 'drill' : 'drills'} missed the RTO or RPO (arca journal --operation drill)`,
      );
      process.exitCode = ExitCode.partial;
    }
  } finally {
    cleanUp();
    ctx.journal.close();
  }
}

/** `arca plan`: the plan as a table (or JSON); an invalid policy is an error, findings are only counted. */
export async function planCommand(o: GlobalOptions, out: Output): Promise<void> {
  const loaded = readPolicy(resolvePolicyFile(o.policy));
  const now = new Date();
  const errors = checkPolicy(loaded.policy, { now }).filter((f) => f.severity === 'error').length;
  const file = journalPath(o.journal);
  let journal: Journal | undefined;
  try {
    journal = Journal.open(file, { readonly: true });
  } catch (err) {
    if (!(err instanceof ArcaError && err.code === 'not-found')) throw err;
  }
  try {
    const plan =
      journal === undefined
        ? makePlan(loaded.policy, [], now)
        : currentPlan({ loaded, journal, now: () => now });
    if (out.json) {
      out.printJson({ ...plan, policy_errors: errors });
      return;
    }
    const rows = plan.datasets.map((d) => [
      d.dataset,
      String(d.tier),
      d.status,
      d.run ?? '-',
      d.lastGood ? localTime(d.lastGood) : 'never',
      d.next ? localTime(d.next) : '-',
      why(d),
    ]);
    for (const l of table(['Dataset', 'Tier', 'Status', 'Runs now', 'Last good backup', 'Next', 'Why'], rows))
      out.print(l);
    if (plan.prunes.length > 0) {
      out.print('');
      for (const l of table(
        ['Prune', 'Due', 'Last run', 'Next'],
        plan.prunes.map((p) => [
          p.repository,
          p.due ? 'yes' : 'no',
          p.lastRun ? localTime(p.lastRun) : 'never',
          p.next ? localTime(p.next) : '-',
        ]),
      ))
        out.print(l);
    }
    if (plan.drills.length > 0) {
      out.print('');
      for (const l of table(
        ['Drill', 'Due', 'Last drill', 'Next', 'Why'],
        plan.drills.map((d) => [
          d.dataset,
          d.due ? 'yes' : 'no',
          d.lastRun ? localTime(d.lastRun) : 'never',
          d.next ? localTime(d.next) : '-',
          d.reason,
        ]),
      ))
        out.print(l);
    }
    if (errors > 0)
      out.warn(
        `arca: the policy has ${errors} errors against the control: arca run refuses it (arca policy check)`,
      );
  } finally {
    journal?.close();
  }
}

function why(d: DatasetPlan): string {
  const parts = [d.reason];
  if (d.rpoBreach) parts.push('RPO breached');
  if (d.lastResult?.result === 'failed') parts.push(`last run failed: ${d.lastResult.error ?? ''}`);
  return parts.join('; ');
}

/** `arca daemon`: runs until SIGTERM or Ctrl-C; the first lets the current step finish (up to --stop-timeout). */
export async function daemonCommand(o: GlobalOptions & { stopTimeout: number }, out: Output): Promise<void> {
  const file = resolvePolicyFile(o.policy);
  const loaded = loadRunnablePolicy(file);
  const controller = new AbortController();
  const ctx = makeContext(o, out, loaded, controller.signal, true);
  const removeStop = onStopRequest((signal) => {
    ctx.report({
      type: 'info',
      text: `received ${signal}: stopping after the current step (at most ${o.stopTimeout} s; send it again to stop now)`,
    });
    controller.abort(new ArcaError('interrupted', `stopped by ${signal}`));
    setTimeout(() => {
      ctx.report({
        type: 'warning',
        text: `the current step did not end within ${o.stopTimeout} s: aborting it`,
      });
      recordInterrupted(ctx, `stopped by ${signal} before the step ended`);
      void runInterruptHandler().finally(() => process.exit(ExitCode.interrupted));
    }, o.stopTimeout * 1000).unref();
  });
  const cleanUp = onInterrupt(async () => {
    controller.abort(new ArcaError('interrupted', 'interrupted'));
    recordInterrupted(ctx, 'interrupted by a signal');
  });
  try {
    await runDaemon(ctx, { policyFile: file });
  } finally {
    removeStop();
    cleanUp();
    ctx.journal.close();
  }
}

/** `arca notify test`: a test event through every channel that takes it; exit 1 when a channel failed. */
export async function notifyTestCommand(
  o: GlobalOptions & { event: string; dataset?: string },
  out: Output,
): Promise<void> {
  if (!(notificationEvents as readonly string[]).includes(o.event))
    throw new ArcaError(
      'usage',
      `invalid --event ${JSON.stringify(o.event)} (${notificationEvents.join(', ')})`,
    );
  const loaded = readPolicy(resolvePolicyFile(o.policy));
  const dataset = o.dataset ?? Object.keys(loaded.policy.datasets)[0]!;
  if (loaded.policy.datasets[dataset] === undefined)
    throw new ArcaError('usage', `no dataset ${JSON.stringify(dataset)} in the policy`);
  if (loaded.policy.notifications === undefined)
    throw new ArcaError('usage', 'the policy configures no notification channel (notifications:)');
  const ctx = makeContext(o, out, loaded, new AbortController().signal, false);
  let failed = 0;
  let sent = 0;
  const report = ctx.report;
  ctx.report = (e) => {
    if (e.type === 'notification') sent++;
    if (e.type === 'notification' && e.ok === false) failed++;
    report(e);
  };
  try {
    const event: ArcaEvent = {
      event: o.event as NotificationEvent,
      time: new Date().toISOString(),
      who: currentWho(),
      policy: loaded.policy.metadata.id,
      dataset,
      summary: `TEST: a ${o.event} event sent by arca notify test; no backup ran`,
    };
    await notifyAndRecord(ctx, event);
  } finally {
    ctx.journal.close();
  }
  if (sent === 0) throw new ArcaError('usage', `no notification channel takes ${o.event} events`);
  if (failed > 0)
    throw new ArcaError('io', `${failed} notification ${failed === 1 ? 'channel' : 'channels'} failed`);
}
