/**
 * One dataset's run, as the policy asks (R15–R20, R41): the `before` hook and the dumps,
 * the backup into the first repository of `copies` at the chosen level, a verified copy to
 * each other repository, then retention (`forget`) in each, then the `after` hook. Each
 * operation is recorded in the journal.
 *
 * A failure is retried with exponential backoff (scheduler.retry) from the step that
 * failed: a backup that was saved is not made again, a copy that landed is not repeated.
 * When the last attempt fails, the `on_failure` hook runs and the failure is reported
 * through every notification channel (R19). The level is recorded on the snapshot as the
 * tag `level:<level>` and the dataset as `dataset:<name>`, which restic shows and filters on.
 */
import { rm } from 'node:fs/promises';
import path from 'node:path';
import { PathFilter } from '../engine/filter.js';
import { ArcaError } from '../errors.js';
import { currentWho } from '../journal/record.js';
import type { ArcaEvent } from '../notify/event.js';
import { backup } from '../ops/backup.js';
import { copySnapshots } from '../ops/copy.js';
import { verifyCopy } from '../ops/copy_verify.js';
import { planForget, removeSnapshots } from '../ops/forget.js';
import type { Dataset } from '../policy/datasets.js';
import { durationMs } from '../policy/duration.js';
import { keepPolicyFor } from '../policy/retention.js';
import { retrySettings } from '../policy/scheduler.js';
import type { BackupLevel } from '../policy/schedules.js';
import { type Id, shortId } from '../repo/id.js';
import type { Repository } from '../repo/repository.js';
import { type RunnerContext, recorded } from './context.js';
import { hasDumps, writeDumps } from './dumps.js';
import { runHook } from './hooks.js';
import { notifyAndRecord } from './notify.js';
import { withPolicyRepository } from './repos.js';

/** The tag that marks a dataset's snapshots. */
export function datasetTag(dataset: string): string {
  return `dataset:${dataset}`;
}

/** The tag that records a snapshot's backup level. */
export function levelTag(level: BackupLevel): string {
  return `level:${level}`;
}

/** How a dataset's run ended. */
export interface JobResult {
  dataset: string;
  level: BackupLevel;
  result: 'success' | 'partial' | 'failed' | 'interrupted';
  attempts: number;
  /** The snapshot saved in the first repository. */
  snapshot?: Id;
  error?: string;
  /** Repositories the run wrote to (for the journal's own backup). */
  touched: string[];
}

/** What is done already, so a retry goes on from the step that failed. */
interface Progress {
  snapshot?: { id: Id; tree: Id; partial: boolean };
  copied: Set<string>;
  forgotten: Set<string>;
}

/** Runs dataset `name` at `level`, with retries, hooks, copies, retention and notifications. */
export async function runDatasetJob(
  ctx: RunnerContext,
  name: string,
  level: BackupLevel,
): Promise<JobResult> {
  const policy = ctx.loaded.policy;
  const d = policy.datasets[name];
  if (d === undefined) throw new ArcaError('usage', `the policy has no dataset ${JSON.stringify(name)}`);
  const retry = retrySettings(policy.scheduler?.retry);
  const progress: Progress = { copied: new Set(), forgotten: new Set() };
  const touched = new Set<string>();
  const { pingHealthchecks } = await import('../notify/notify.js');
  await pingHealthchecks(policy.notifications, 'start', undefined, { env: ctx.env });
  let attempt = 0;
  let lastError: unknown;
  for (;;) {
    attempt++;
    try {
      await attemptJob(ctx, name, d, level, progress, touched);
      lastError = undefined;
      break;
    } catch (err) {
      lastError = err;
      if (isInterrupt(err, ctx) || attempt > retry.attempts || !worthRetrying(err)) break;
      const wait = Math.min(retry.maxDelayMs, retry.delayMs * 2 ** (attempt - 1));
      ctx.report({
        type: 'retry',
        dataset: name,
        level,
        attempt,
        text: `${name}: attempt ${attempt} failed: ${message(err)}; retrying in ${formatSeconds(wait)}`,
      });
      try {
        await ctx.sleep(wait, ctx.signal);
      } catch {
        break;
      }
    }
  }
  const result: JobResult = {
    dataset: name,
    level,
    result:
      lastError === undefined
        ? progress.snapshot?.partial
          ? 'partial'
          : 'success'
        : isInterrupt(lastError, ctx)
          ? 'interrupted'
          : 'failed',
    attempts: attempt,
    snapshot: progress.snapshot?.id,
    error: lastError === undefined ? undefined : message(lastError),
    touched: [...touched],
  };
  if (result.result === 'interrupted') return result;
  const event: ArcaEvent = {
    event: lastError === undefined ? 'success' : 'failure',
    time: ctx.now().toISOString(),
    who: currentWho(),
    policy: policy.metadata.id,
    dataset: name,
    level,
    summary:
      lastError === undefined
        ? `${level} backup of dataset ${name} succeeded (snapshot ${shortId(result.snapshot ?? '')})`
        : `${level} backup of dataset ${name} FAILED after ${attempt} ${attempt === 1 ? 'attempt' : 'attempts'}: ${result.error}`,
    attempts: attempt,
    repositories: d.copies,
    ...(result.snapshot ? { snapshot_id: result.snapshot } : {}),
    ...(result.error ? { error: result.error } : {}),
  };
  if (lastError !== undefined) {
    ctx.report({ type: 'failed', dataset: name, level, text: event.summary });
    if (d.hooks?.on_failure !== undefined) {
      await hook(ctx, name, level, d, 'on_failure', { ARCA_ERROR: result.error ?? '' }).catch((err) =>
        ctx.report({ type: 'hook', dataset: name, text: `${name}: ${message(err)}` }),
      );
    }
    await pingHealthchecks(policy.notifications, 'fail', event.summary, { env: ctx.env });
  } else {
    await pingHealthchecks(policy.notifications, 'success', undefined, { env: ctx.env });
  }
  await notifyAndRecord(ctx, event);
  return result;
}

async function attemptJob(
  ctx: RunnerContext,
  name: string,
  d: Dataset,
  level: BackupLevel,
  progress: Progress,
  touched: Set<string>,
): Promise<void> {
  const [first, ...others] = d.copies as [string, ...string[]];
  if (progress.snapshot === undefined) {
    checkAbort(ctx);
    touched.add(first);
    progress.snapshot = await backupStep(ctx, name, d, level, first);
  }
  const snap = progress.snapshot;
  for (const to of others) {
    if (progress.copied.has(to)) continue;
    checkAbort(ctx);
    touched.add(to);
    await copyStep(ctx, name, level, first, to, snap.id, snap.tree);
    progress.copied.add(to);
  }
  for (const repo of d.copies) {
    if (progress.forgotten.has(repo)) continue;
    checkAbort(ctx);
    await forgetStep(ctx, name, d, repo);
    progress.forgotten.add(repo);
  }
  if (d.hooks?.after !== undefined) await hook(ctx, name, level, d, 'after', { ARCA_SNAPSHOT_ID: snap.id });
}

async function backupStep(
  ctx: RunnerContext,
  name: string,
  d: Dataset,
  level: BackupLevel,
  repoName: string,
): Promise<{ id: Id; tree: Id; partial: boolean }> {
  const policy = ctx.loaded.policy;
  const staging = path.join(ctx.stateDir, 'staging', name);
  const location = policy.repositories[repoName]!.location;
  // Each attempt is one record, whichever part fails: the hook, a dump or the backup.
  return recorded(
    ctx,
    { operation: 'backup', dataset: name, level, repository: location },
    async (report) => {
      try {
        if (d.hooks?.before !== undefined) await hook(ctx, name, level, d, 'before', {});
        checkAbort(ctx);
        const paths = [...(d.sources.paths ?? [])];
        if (hasDumps(d.sources)) {
          const dumps = await writeDumps(d.sources, staging, { env: ctx.env, signal: ctx.signal });
          for (const dump of dumps) {
            ctx.report({
              type: 'dump',
              dataset: name,
              text: `${name}: dumped ${dump.name} (${dump.bytes} bytes)`,
              file: dump.name,
              bytes: dump.bytes,
            });
          }
          report.details = {
            dumps: dumps.map((x) => ({ name: x.name, bytes: x.bytes, ms: Math.round(x.ms) })),
          };
          paths.push(staging);
        }
        checkAbort(ctx);
        const excludes = d.sources.exclude ?? [];
        const filter = excludes.length > 0 ? new PathFilter(excludes) : undefined;
        return await withPolicyRepository(policy, repoName, ctx.access, 'shared', async (repo) => {
          const parent = await findParent(repo, name, level, ctx.host);
          const result = await backup(repo, {
            paths,
            tags: [datasetTag(name), levelTag(level)],
            host: ctx.host,
            parent: parent?.id,
            force: parent === undefined,
            exclude: filter ? (p: Buffer) => filter.matches(p) : undefined,
            excludes,
          });
          const snapshot = result.snapshot;
          if (snapshot === undefined) throw new ArcaError('io', 'the backup saved no snapshot');
          const s = result.stats;
          const partial = result.problems.length > 0;
          Object.assign(report, {
            snapshot_id: snapshot.id,
            bytes_read: s.totalBytes,
            files_read: s.totalFiles,
            bytes_added: result.saver.dataAddedPacked,
            files_added: s.filesNew,
            ...(partial
              ? { result: 'partial' as const, error: `${result.problems.length} files could not be read` }
              : {}),
          });
          report.details = {
            ...report.details,
            repository_name: repoName,
            parent: parent?.id ?? null,
            parent_level: parent
              ? (parent.tags?.find((t) => t.startsWith('level:'))?.slice(6) ?? null)
              : null,
            problems: result.problems.slice(0, 20).map((p) => `${p.path}: ${p.message}`),
          };
          ctx.report({
            type: 'backup',
            dataset: name,
            level,
            repository: repoName,
            snapshot_id: snapshot.id,
            text:
              `${name}: ${level} backup to ${repoName}: snapshot ${shortId(snapshot.id)}` +
              `${parent ? ` (compared with ${shortId(parent.id)})` : ' (read every file)'}, ` +
              `${s.totalFiles} files, ${s.filesNew} new, ${s.filesChanged} changed` +
              (partial ? `; ${result.problems.length} files could not be read` : ''),
          });
          for (const p of result.problems.slice(0, 20))
            ctx.report({ type: 'warning', dataset: name, text: `${name}: ${p.path}: ${p.message}` });
          return { id: snapshot.id, tree: snapshot.tree, partial };
        });
      } finally {
        // Dumps can hold every row of a database: never leave them on disk.
        await rm(staging, { recursive: true, force: true });
      }
    },
  );
}

/** The snapshot a run of `level` compares against: none for a full, the newest full for a differential, the newest of the dataset for an incremental. */
async function findParent(repo: Repository, dataset: string, level: BackupLevel, host: string) {
  if (level === 'full') return undefined;
  const tags = level === 'differential' ? `${datasetTag(dataset)},${levelTag('full')}` : datasetTag(dataset);
  const found = await repo.listSnapshots({ tags: [tags], hosts: [host] });
  return found[found.length - 1];
}

async function copyStep(
  ctx: RunnerContext,
  name: string,
  level: BackupLevel,
  from: string,
  to: string,
  snapshot: Id,
  tree: Id,
): Promise<void> {
  const policy = ctx.loaded.policy;
  await recorded(
    ctx,
    { operation: 'copy', dataset: name, level, repository: policy.repositories[to]!.location },
    (report) =>
      withPolicyRepository(policy, from, ctx.access, 'shared', (src) =>
        withPolicyRepository(policy, to, ctx.access, 'shared', async (dst) => {
          const result = await copySnapshots(src, dst, { snapshots: [snapshot] });
          const id = result.copied[0]?.id ?? result.skipped[0]?.existing.id;
          const check = await verifyCopy(dst, [tree], result.newPacks, { kind: 'all' });
          report.snapshot_id = id ?? null;
          report.bytes_added = result.stats.dataAddedPacked;
          report.details = {
            from: from,
            repository_name: to,
            source_snapshot: snapshot,
            already_there: result.copied.length === 0,
            verified: { trees: check.trees, data_blobs: check.dataBlobs, packs_read: check.packsRead },
          };
          if (check.problems.length > 0) {
            throw new ArcaError(
              'corrupt',
              `the copy to ${to} did not verify: ${check.problems.slice(0, 3).join('; ')}`,
            );
          }
          ctx.report({
            type: 'copy',
            dataset: name,
            repository: to,
            snapshot_id: id,
            text:
              `${name}: copied to ${to}: snapshot ${shortId(id ?? '')}` +
              `${result.copied.length === 0 ? ' (already there)' : ''}, verified ` +
              `(${check.trees} trees, ${check.packsRead} new packs read back)`,
          });
        }),
      ),
  );
}

async function forgetStep(ctx: RunnerContext, name: string, d: Dataset, repoName: string): Promise<void> {
  const policy = ctx.loaded.policy;
  const r = policy.repositories[repoName]!;
  if (d.retention === undefined) return;
  if (r.immutable) {
    ctx.report({
      type: 'forget',
      dataset: name,
      repository: repoName,
      text: `${name}: retention not applied in ${repoName}: it is immutable (its own retention rules apply)`,
    });
    return;
  }
  const keep = keepPolicyFor(d.retention);
  await recorded(ctx, { operation: 'forget', dataset: name, repository: r.location }, async (report) => {
    if (keep === null) {
      report.details = {
        repository_name: repoName,
        legal_hold: d.retention?.archive?.legal_hold?.reason ?? '',
        removed: [],
      };
      ctx.report({
        type: 'forget',
        dataset: name,
        repository: repoName,
        text: `${name}: nothing forgotten in ${repoName}: legal hold`,
      });
      return;
    }
    await withPolicyRepository(policy, repoName, ctx.access, 'exclusive', async (repo) => {
      const plan = await planForget(repo, {
        policy: keep,
        filter: { tags: [datasetTag(name)], hosts: [ctx.host] },
        groupBy: { host: true, paths: false, tags: false },
        now: ctx.now(),
      });
      await removeSnapshots(repo, plan.remove);
      const kept = plan.groups.reduce((n, g) => n + g.keep.length, 0);
      report.details = {
        repository_name: repoName,
        removed: plan.remove.map((s) => s.id),
        kept,
        rules: d.retention?.keep ?? {},
        archive_tags: d.retention?.archive?.tags ?? [],
      };
      ctx.report({
        type: 'forget',
        dataset: name,
        repository: repoName,
        removed: plan.remove.map((s) => s.id),
        text: `${name}: retention in ${repoName}: kept ${kept}, removed ${plan.remove.length} snapshots`,
      });
    });
  });
}

async function hook(
  ctx: RunnerContext,
  name: string,
  level: BackupLevel,
  d: Dataset,
  which: 'before' | 'after' | 'on_failure',
  vars: Record<string, string>,
): Promise<void> {
  const command = d.hooks?.[which];
  if (command === undefined) return;
  const r = await runHook(which, command, {
    env: ctx.env,
    vars: {
      ARCA_DATASET: name,
      ARCA_LEVEL: level,
      ARCA_POLICY_ID: ctx.loaded.policy.metadata.id,
      ...vars,
    },
    timeoutMs: d.hooks?.timeout === undefined ? undefined : durationMs(d.hooks.timeout),
    signal: ctx.signal,
  });
  ctx.report({ type: 'hook', dataset: name, text: `${name}: ${which} hook ran (${Math.round(r.ms)} ms)` });
}

function checkAbort(ctx: RunnerContext): void {
  if (ctx.signal.aborted) throw new ArcaError('interrupted', 'stopped before the next step');
}

/** Errors that waiting does not cure (a wrong password, a missing repository or setting) are reported at once. */
function worthRetrying(err: unknown): boolean {
  return !(
    err instanceof ArcaError &&
    (err.code === 'usage' ||
      err.code === 'no-repository' ||
      err.code === 'wrong-password' ||
      err.code === 'no-password' ||
      err.code === 'unsafe-path')
  );
}

function isInterrupt(err: unknown, ctx: RunnerContext): boolean {
  return ctx.signal.aborted || (err instanceof ArcaError && err.code === 'interrupted');
}

function message(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}

function formatSeconds(ms: number): string {
  return ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.round(ms / 1000)} s`;
}
