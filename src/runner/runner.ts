/**
 * Carrying out the policy once: what `arca run` does, and what the daemon does each time
 * something comes due. It refuses a policy with errors against the control, records a
 * changed policy in the journal, runs the due datasets one at a time (most critical tier
 * first, so no two runs overlap), then the due prunes and restore drills, raises RPO-breach
 * alerts, and backs the journal up into every repository it wrote to (R18, R19, R23, R41).
 */
import { readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { Readable } from 'node:stream';
import { onInterrupt } from '../cli/context.js';
import { ArcaError } from '../errors.js';
import { exportJournal } from '../journal/export.js';
import { currentWho, type JournalResult } from '../journal/record.js';
import { backup } from '../ops/backup.js';
import { planForget, removeSnapshots } from '../ops/forget.js';
import { parseMaxUnused, prune } from '../ops/prune.js';
import { checkPolicy, formatFinding } from '../policy/findings.js';
import { type LoadedPolicy, readPolicy } from '../policy/load.js';
import type { BackupLevel } from '../policy/schedules.js';
import { type RunnerContext, recorded } from './context.js';
import { type DatasetLock, lockDataset } from './dataset_lock.js';
import { type JobResult, runDatasetJob } from './job.js';
import { notifyAndRecord } from './notify.js';
import { effectiveLevel, historyFrom, makePlan, type Plan } from './plan.js';
import { withPolicyRepository } from './repos.js';
import { errorText, isInterruption, withRetries } from './retry.js';

/** The tag of the journal's own snapshots. */
export const journalTag = 'arca-journal';

/** Reads the policy and refuses it when the check finds errors (the runner carries out only a sound policy). */
export function loadRunnablePolicy(file: string, now = new Date()): LoadedPolicy {
  const loaded = readPolicy(file);
  const errors = checkPolicy(loaded.policy, { now }).filter((f) => f.severity === 'error');
  if (errors.length > 0) {
    throw new ArcaError(
      'usage',
      `${file}: the policy has ${errors.length} ${errors.length === 1 ? 'error' : 'errors'} against the backup control ` +
        `(first: ${formatFinding(errors[0]!)}); fix them (arca policy check lists them) before it runs`,
    );
  }
  return loaded;
}

/** Appends a `policy-change` record when the policy file differs from the one the journal last saw. */
export function recordPolicyChange(ctx: RunnerContext): boolean {
  const last = ctx.journal.list({ operation: 'policy-change', last: 1 })[0];
  if (last?.policy_hash === ctx.loaded.sha256) return false;
  const m = ctx.loaded.policy.metadata;
  const now = ctx.now();
  ctx.journal.append({
    operation: 'policy-change',
    result: 'success',
    started_at: now,
    ended_at: now,
    policy_hash: ctx.loaded.sha256,
    details: {
      file: ctx.loaded.file,
      id: m.id,
      version: m.version,
      approved_by: m.approved_by,
      approved_on: m.approved_on,
      previous_hash: last?.policy_hash ?? null,
    },
  });
  ctx.report({
    type: 'info',
    text: `policy ${m.id} version ${m.version} (${ctx.loaded.sha256.slice(0, 12)}) ${last ? 'changed' : 'first seen'}; recorded`,
  });
  return true;
}

/** The plan at this moment, from the journal. */
export function currentPlan(ctx: Pick<RunnerContext, 'loaded' | 'journal' | 'now'>): Plan {
  return makePlan(
    ctx.loaded.policy,
    ctx.journal.list({ operation: ['backup', 'prune', 'drill'] }),
    ctx.now(),
  );
}

/** What to run: everything due, or the named dataset (at the named level, else its due level, else its most frequent one). */
export interface RunSelection {
  dataset?: string;
  level?: BackupLevel;
}

/** What a run did. */
export interface RunOutcome {
  jobs: JobResult[];
  prunes: { repository: string; ok: boolean; error?: string }[];
  /** The scheduled restore drills that ran, with their journal result. */
  drills: { dataset: string; drill_id: string; result: JournalResult; error: string | null }[];
  breaches: string[];
  /** Datasets another arca process was running. */
  skipped: string[];
}

/** Runs what is due (or what `sel` names) once, then the due prunes, breach alerts and the journal's backup. */
export async function runOnce(ctx: RunnerContext, sel: RunSelection = {}): Promise<RunOutcome> {
  const policy = ctx.loaded.policy;
  const plan = currentPlan(ctx);
  const todo: { dataset: string; level: BackupLevel }[] = [];
  if (sel.dataset !== undefined) {
    const d = policy.datasets[sel.dataset];
    if (d === undefined) {
      throw new ArcaError(
        'usage',
        `no dataset ${JSON.stringify(sel.dataset)} in the policy (datasets: ${Object.keys(policy.datasets).join(', ')})`,
      );
    }
    const p = plan.datasets.find((x) => x.dataset === sel.dataset)!;
    // Nothing due: the level that runs most often, which is the cheapest.
    const wanted =
      sel.level ??
      p.run ??
      (['incremental', 'differential', 'full'] as const).find((l) => d.schedule[l]) ??
      'full';
    const history = historyFrom(ctx.journal.list({ operation: 'backup', dataset: sel.dataset })).get(
      sel.dataset,
    );
    const eff = effectiveLevel(wanted, history, d.schedule.full !== undefined);
    if (eff.promoted !== undefined)
      ctx.report({
        type: 'info',
        dataset: sel.dataset,
        text: `${sel.dataset}: ${eff.promoted}: running a full`,
      });
    const level = eff.level;
    todo.push({ dataset: sel.dataset, level });
  } else {
    for (const p of [...plan.datasets].sort(
      (a, b) => a.tier - b.tier || a.dataset.localeCompare(b.dataset),
    )) {
      if (p.run !== null) todo.push({ dataset: p.dataset, level: p.run });
    }
  }
  const outcome: RunOutcome = { jobs: [], prunes: [], drills: [], breaches: [], skipped: [] };
  const touched = new Set<string>();
  for (const t of todo) {
    if (ctx.signal.aborted) break;
    let lock: DatasetLock;
    try {
      lock = lockDataset(ctx.stateDir, t.dataset);
    } catch (err) {
      // A dataset named on the command line must run: say why it cannot.
      if (!(err instanceof ArcaError && err.code === 'locked') || sel.dataset !== undefined) throw err;
      ctx.report({ type: 'warning', dataset: t.dataset, text: `${t.dataset}: skipped: ${err.message}` });
      outcome.skipped.push(t.dataset);
      continue;
    }
    // Ctrl-C and a forced stop exit before `finally` runs: the lock goes with the other clean-ups.
    const dropLock = onInterrupt(async () => lock.release());
    let r: JobResult;
    try {
      ctx.report({
        type: 'info',
        dataset: t.dataset,
        level: t.level,
        text: `${t.dataset}: ${t.level} backup starts`,
      });
      r = await runDatasetJob(ctx, t.dataset, t.level);
    } finally {
      dropLock();
      lock.release();
    }
    outcome.jobs.push(r);
    for (const repo of r.touched) touched.add(repo);
  }
  if (sel.dataset === undefined) {
    for (const p of plan.prunes.filter((x) => x.due)) {
      if (ctx.signal.aborted) break;
      const pruned = await pruneJob(ctx, p.repository);
      outcome.prunes.push(pruned);
      if (pruned.ok) touched.add(p.repository);
    }
    // Drills after the backups, so a dataset's first drill can follow its first backup in one round.
    const drills = currentPlan(ctx).drills.filter((x) => x.due);
    for (const p of drills.sort((a, b) => a.tier - b.tier || a.dataset.localeCompare(b.dataset))) {
      if (ctx.signal.aborted) break;
      outcome.drills.push(await drillJob(ctx, p.dataset));
    }
  }
  if (!ctx.signal.aborted) outcome.breaches = await raiseBreaches(ctx);
  if (touched.size > 0 && !ctx.signal.aborted) await backupJournal(ctx, [...touched]);
  return outcome;
}

/**
 * Prunes repository `name` under an exclusive lock, with the retries a backup gets; each
 * attempt is a `prune` record naming the repository, and a prune that failed for good is
 * reported through the notification channels.
 */
export async function pruneJob(
  ctx: RunnerContext,
  name: string,
): Promise<{ repository: string; ok: boolean; error?: string }> {
  const policy = ctx.loaded.policy;
  const r = policy.repositories[name]!;
  const { attempts, error } = await withRetries(
    ctx,
    `prune of ${name}`,
    () =>
      recorded(
        ctx,
        { operation: 'prune', repository: r.location, details: { repository_name: name } },
        (report) =>
          withPolicyRepository(policy, name, ctx.access, 'exclusive', async (repo) => {
            const result = await prune(repo, {
              maxUnused: r.prune?.max_unused === undefined ? undefined : parseMaxUnused(r.prune.max_unused),
            });
            const s = result.plan.stats;
            report.details = {
              packs_deleted: result.packsDeleted,
              packs_written: result.packsWritten,
              bytes_removed: s.size.remove + s.size.repackrm + s.size.unref,
            };
            ctx.report({
              type: 'prune',
              repository: name,
              text: `prune of ${name}: ${result.packsDeleted} packs deleted, ${result.packsWritten} written`,
            });
          }),
      ),
    { repository: name },
  );
  if (error === undefined) return { repository: name, ok: true };
  const text = errorText(error);
  if (isInterruption(error)) return { repository: name, ok: false, error: text };
  const summary = `prune of repository ${name} FAILED after ${attempts} ${attempts === 1 ? 'attempt' : 'attempts'}: ${text}`;
  ctx.report({ type: 'failed', repository: name, text: summary });
  await notifyAndRecord(ctx, {
    event: 'failure',
    operation: 'prune',
    time: ctx.now().toISOString(),
    who: currentWho(),
    policy: policy.metadata.id,
    repository: name,
    summary,
    error: text,
    attempts,
  });
  return { repository: name, ok: false, error: text };
}

/** Runs the scheduled restore drill of `dataset`; the drill records, reports and notifies itself. */
async function drillJob(ctx: RunnerContext, dataset: string): Promise<RunOutcome['drills'][number]> {
  ctx.report({ type: 'info', dataset, text: `${dataset}: restore drill starts` });
  const { runDrill } = await import('../drill/drill.js');
  const o = await runDrill(ctx, { kind: 'scheduled', dataset });
  const text = `${dataset}: restore drill ${o.details.drill_id}: ${o.result}${o.record.error ? `: ${o.record.error}` : ''}`;
  ctx.report({ type: o.result === 'success' ? 'drill' : 'failed', dataset, text });
  return { dataset, drill_id: o.details.drill_id, result: o.result, error: o.record.error };
}

/**
 * Raises an RPO-breach alert for each dataset whose newest good backup is older than its
 * RPO: recorded in the journal (`rpo-breach`) once per breach, and sent to the channels
 * until one of them has taken it.
 */
export async function raiseBreaches(ctx: RunnerContext): Promise<string[]> {
  const plan = currentPlan(ctx);
  const raised: string[] = [];
  const earlier = ctx.journal.list({ operation: 'rpo-breach' });
  const delivered = ctx.journal.list({ operation: 'notification', result: 'success' });
  for (const p of plan.datasets) {
    if (!p.rpoBreach) continue;
    const since = p.lastGood?.toISOString() ?? null;
    const recorded = earlier.some((r) => r.dataset === p.dataset && r.details.newest_snapshot_at === since);
    const sent = delivered.some(
      (r) =>
        r.dataset === p.dataset && r.details.event === 'rpo-breach' && r.details.newest_snapshot_at === since,
    );
    if (recorded && (sent || ctx.loaded.policy.notifications === undefined)) continue;
    const d = ctx.loaded.policy.datasets[p.dataset]!;
    const summary =
      since === null
        ? `RPO breach: dataset ${p.dataset} has had no good backup within its RPO of ${d.rpo}`
        : `RPO breach: the newest good backup of dataset ${p.dataset} is from ${since}, older than its RPO of ${d.rpo}`;
    const now = ctx.now();
    if (!recorded) {
      ctx.journal.append({
        operation: 'rpo-breach',
        result: 'failed',
        started_at: now,
        ended_at: now,
        dataset: p.dataset,
        error: summary,
        policy_hash: ctx.loaded.sha256,
        details: { rpo: d.rpo, newest_snapshot_at: since },
      });
      ctx.report({ type: 'rpo-breach', dataset: p.dataset, text: summary });
    }
    await notifyAndRecord(ctx, {
      event: 'rpo-breach',
      time: now.toISOString(),
      who: currentWho(),
      policy: ctx.loaded.policy.metadata.id,
      dataset: p.dataset,
      summary,
      rpo: d.rpo,
      newest_snapshot_at: since,
    });
    raised.push(p.dataset);
  }
  return raised;
}

/**
 * Backs the journal up into each of `repos` as a snapshot of one file, `arca-journal.jsonl`
 * (the export, which `arca journal verify FILE` checks), tagged `arca-journal`, keeping the
 * newest `scheduler.journal_snapshots` of them where the repository allows deletions. So the
 * record of backups survives the loss of this machine: `arca restore latest --tag arca-journal`.
 */
export async function backupJournal(ctx: RunnerContext, repos: readonly string[]): Promise<void> {
  const policy = ctx.loaded.policy;
  const keep = policy.scheduler?.journal_snapshots ?? 30;
  const file = path.join(ctx.stateDir, `journal-export-${process.pid}.jsonl`);
  let bytes: Buffer;
  let records: number;
  try {
    const summary = exportJournal(ctx.journal, file);
    bytes = readFileSync(file);
    records = summary.records;
    ctx.report({ type: 'journal', text: `journal: ${summary.records} records exported` });
  } finally {
    rmSync(file, { force: true });
  }
  for (const name of repos) {
    if (ctx.signal.aborted) return;
    try {
      await recorded(
        ctx,
        {
          operation: 'journal-backup',
          repository: policy.repositories[name]!.location,
          details: { repository_name: name, records },
        },
        (report) =>
          withPolicyRepository(policy, name, ctx.access, 'shared', async (repo) => {
            const saved = await backup(repo, {
              paths: [],
              stdin: { stream: Readable.from([bytes]), filename: 'arca-journal.jsonl' },
              tags: [journalTag],
              host: ctx.host,
              workers: false,
            });
            report.snapshot_id = saved.snapshot?.id ?? null;
            report.bytes_added = saved.saver.dataAddedPacked;
          }),
      );
      if (!policy.repositories[name]!.immutable) {
        await withPolicyRepository(policy, name, ctx.access, 'exclusive', async (repo) => {
          const plan = await planForget(repo, {
            policy: { last: keep },
            filter: { tags: [journalTag], hosts: [ctx.host] },
            groupBy: { host: true, paths: false, tags: false },
          });
          await removeSnapshots(repo, plan.remove);
        });
      }
      ctx.report({ type: 'journal', repository: name, text: `journal: backed up into ${name}` });
    } catch (err) {
      ctx.report({
        type: 'warning',
        repository: name,
        text: `journal: could not back it up into ${name}: ${err instanceof Error ? err.message : String(err)}`,
      });
    }
  }
}
