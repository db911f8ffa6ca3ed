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
import { onInterrupt } from '../cli/context.js';
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
import type { BackupLevel } from '../policy/schedules.js';
import { type Id, shortId } from '../repo/id.js';
import type { Repository } from '../repo/repository.js';
import { type RunnerContext, recorded } from './context.js';
import { hasDumps, writeDumps } from './dumps.js';
import { runHook } from './hooks.js';
import { notifyAndRecord, pingAndRecord } from './notify.js';
import { withPolicyRepository } from './repos.js';
import { errorText, isInterruption, withRetries } from './retry.js';

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
  /** Packs a copy wrote that did not verify, by destination: verified again on the retry. */
  unverified: Map<string, Map<Id, number>>;
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
  const progress: Progress = { copied: new Set(), unverified: new Map(), forgotten: new Set() };
  const touched = new Set<string>();
  await pingAndRecord(ctx, 'start', { dataset: name, level });
  const { attempts, error } = await withRetries(
    ctx,
    name,
    () => attemptJob(ctx, name, d, level, progress, touched),
    { dataset: name, level },
  );
  const interrupted = error !== undefined && isInterruption(error);
  const result: JobResult = {
    dataset: name,
    level,
    result:
      error === undefined
        ? progress.snapshot?.partial
          ? 'partial'
          : 'success'
        : interrupted
          ? 'interrupted'
          : 'failed',
    attempts,
    snapshot: progress.snapshot?.id,
    error: error === undefined ? undefined : errorText(error),
    touched: [...touched],
  };
  if (interrupted) {
    // Whatever `before` changed must still be undone; the hook gets a short time, the process is stopping.
    await runOnFailure(ctx, name, level, d, 'interrupted', 60_000);
    return result;
  }
  const event: ArcaEvent = {
    event: error === undefined ? 'success' : 'failure',
    time: ctx.now().toISOString(),
    who: currentWho(),
    policy: policy.metadata.id,
    dataset: name,
    level,
    summary:
      error === undefined
        ? `${level} backup of dataset ${name} succeeded (snapshot ${shortId(result.snapshot ?? '')})`
        : `${level} backup of dataset ${name} FAILED after ${attempts} ${attempts === 1 ? 'attempt' : 'attempts'}: ${result.error}`,
    attempts,
    repositories: d.copies,
    ...(result.snapshot ? { snapshot_id: result.snapshot } : {}),
    ...(result.error ? { error: result.error } : {}),
  };
  if (error !== undefined) {
    ctx.report({ type: 'failed', dataset: name, level, text: event.summary });
    await runOnFailure(ctx, name, level, d, result.error ?? '');
    await pingAndRecord(ctx, 'fail', { dataset: name, level }, event.summary);
  } else {
    await pingAndRecord(ctx, 'success', { dataset: name, level });
  }
  await notifyAndRecord(ctx, event);
  return result;
}

/** The `on_failure` hook, whose own failure is reported and changes nothing else. */
async function runOnFailure(
  ctx: RunnerContext,
  name: string,
  level: BackupLevel,
  d: Dataset,
  error: string,
  maxMs?: number,
): Promise<void> {
  if (d.hooks?.on_failure === undefined) return;
  await hook(ctx, name, level, d, 'on_failure', { ARCA_ERROR: error }, maxMs).catch((err) =>
    ctx.report({ type: 'warning', dataset: name, text: `${name}: ${errorText(err)}` }),
  );
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
    await copyStep(ctx, name, level, first, to, snap.id, progress);
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
      // Dumps can hold every row of a database: never leave them on disk, even when arca is stopped.
      const dropStaging = onInterrupt(async () => rm(staging, { recursive: true, force: true }));
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
        dropStaging();
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

/**
 * Copies to `to` the dataset's snapshots on this host that are newer than the newest one
 * there (this run's, and any an earlier run could not copy), then verifies them from the
 * destination. A copy that does not verify is removed from the destination, so it does not
 * pass for a good copy, and its packs are read again on the retry.
 */
async function copyStep(
  ctx: RunnerContext,
  name: string,
  level: BackupLevel,
  from: string,
  to: string,
  snapshot: Id,
  progress: Progress,
): Promise<void> {
  const policy = ctx.loaded.policy;
  const filter = { tags: [datasetTag(name)], hosts: [ctx.host] };
  await recorded(
    ctx,
    { operation: 'copy', dataset: name, level, repository: policy.repositories[to]!.location },
    (report) =>
      withPolicyRepository(policy, from, ctx.access, 'shared', (src) =>
        withPolicyRepository(policy, to, ctx.access, 'shared', async (dst) => {
          const there = await dst.listSnapshots(filter);
          const newestThere = there.length === 0 ? undefined : there[there.length - 1]!.time;
          const wanted = (await src.listSnapshots(filter))
            .filter((s) => s.id === snapshot || newestThere === undefined || s.time > newestThere)
            .map((s) => s.id);
          const result = await copySnapshots(src, dst, { snapshots: wanted });
          const packs = new Map([...(progress.unverified.get(to) ?? []), ...result.newPacks]);
          const roots = [
            ...result.copied.map((c) => c.source.tree),
            ...result.skipped.map((s) => s.source.tree),
          ];
          const check = await verifyCopy(dst, roots, packs, { kind: 'all' });
          const id =
            result.copied.find((c) => c.source.id === snapshot)?.id ??
            result.skipped.find((s) => s.source.id === snapshot)?.existing.id;
          report.snapshot_id = id ?? null;
          report.bytes_added = result.stats.dataAddedPacked;
          report.details = {
            from,
            repository_name: to,
            source_snapshot: snapshot,
            copied: result.copied.map((c) => ({ source: c.source.id, id: c.id ?? null })),
            already_there: result.skipped.map((x) => x.source.id),
            verified: { trees: check.trees, data_blobs: check.dataBlobs, packs_read: check.packsRead },
          };
          if (check.problems.length > 0) {
            progress.unverified.set(to, packs);
            const written = result.copied.flatMap((c) => (c.id === undefined ? [] : [c.id]));
            for (const w of written) await dst.backend.remove({ type: 'snapshots', name: w });
            throw new ArcaError(
              'corrupt',
              `the copy to ${to} did not verify (${written.length} copied snapshots removed again): ${check.problems.slice(0, 3).join('; ')}`,
            );
          }
          progress.unverified.delete(to);
          ctx.report({
            type: 'copy',
            dataset: name,
            repository: to,
            snapshot_id: id,
            text:
              `${name}: copied to ${to}: snapshot ${shortId(id ?? '')}` +
              `${result.copied.length > 1 ? ` and ${result.copied.length - 1} an earlier run had not copied` : ''}` +
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
  maxMs?: number,
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
    timeoutMs: Math.min(
      d.hooks?.timeout === undefined ? 3_600_000 : durationMs(d.hooks.timeout),
      maxMs ?? Infinity,
    ),
    // A hook that undoes `before` runs even when arca is stopping.
    signal: which === 'on_failure' ? undefined : ctx.signal,
  });
  ctx.report({ type: 'hook', dataset: name, text: `${name}: ${which} hook ran (${Math.round(r.ms)} ms)` });
}

function checkAbort(ctx: RunnerContext): void {
  if (ctx.signal.aborted) throw new ArcaError('interrupted', 'stopped before the next step');
}
