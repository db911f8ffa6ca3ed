/**
 * A restore drill (R23–R31): picks what to test by a recorded, seeded rule (select.ts),
 * restores it into an isolated sandbox that never touches the original (sandbox.ts), checks
 * every restored file against the snapshot (content re-hashed blob by blob, then mode, times
 * and link targets), runs the dataset's own validation checks, measures the restore against
 * the RTO and the restored point's age against the RPO (measure.ts), and appends ONE journal
 * record (record.ts). A failure or a missed objective is reported through the notification
 * channels and opens a corrective action; a passing drill closes the open ones it covers
 * (corrective.ts). Validation checks run inside the sandbox (checks.ts). A simulated drill
 * (`--dry-run`) selects and records what it would do, and restores nothing.
 */
import { lstatSync, readlinkSync } from 'node:fs';
import path from 'node:path';
import { onInterrupt } from '../cli/context.js';
import { restoreTree } from '../engine/restorer.js';
import { verifyRestoredFiles } from '../engine/verify.js';
import { ArcaError } from '../errors.js';
import type { JournalRecord, JournalResult } from '../journal/record.js';
import { currentWho } from '../journal/record.js';
import { parsePercent } from '../policy/drills.js';
import { durationMs } from '../policy/duration.js';
import { goTimeToNs, parseGoTime } from '../repo/gojson.js';
import type { Repository } from '../repo/repository.js';
import { snapshotTimeMs } from '../repo/snapshot.js';
import { displayName, type Node, posixMode } from '../repo/tree.js';
import { lastLine } from '../runner/child.js';
import type { RunnerContext } from '../runner/context.js';
import { notifyAndRecord } from '../runner/notify.js';
import { withPolicyRepository } from '../runner/repos.js';
import { runChecks } from './checks.js';
import {
  actionScope,
  closes,
  closingDrill,
  correctiveActionId,
  openActions,
  recordClosed,
  recordOpened,
} from './corrective.js';
import { restoreTiming, round } from './measure.js';
import type { DrillDetails, DrillStage } from './record.js';
import { drillSchemaName, isDrillRecord } from './record.js';
import {
  checkSandbox,
  createSandbox,
  keepSandbox,
  protectedPaths,
  removeSandbox,
  sweepSandboxes,
} from './sandbox.js';
import {
  copyDrillTimes,
  newSeed,
  pickDataset,
  pickRepository,
  pickSnapshot,
  type SnapshotRule,
  sampleFiles,
} from './select.js';

/** What to drill and how; everything left out follows the policy and the rotation. */
export interface DrillRequest {
  kind: 'scheduled' | 'ad-hoc';
  dataset?: string;
  /** The repository (policy name) to restore from, instead of the rotation's. */
  repo?: string;
  /** A snapshot ID (or unique prefix) instead of the newest. */
  snapshot?: string;
  /** A seeded random snapshot among those kept, instead of the newest. */
  random?: boolean;
  /** Percentage of files to restore; null for every file; undefined: the policy's `drill.sample`. */
  samplePercent?: number | null;
  seed?: string;
  /** Where to make the sandbox, instead of the policy's `drill.sandbox`. */
  sandboxBase?: string;
  keepSandbox?: boolean;
  dryRun?: boolean;
}

/** What a drill did: its record, and the error when the sandbox was refused. */
export interface DrillOutcome {
  record: JournalRecord;
  details: DrillDetails;
  result: JournalResult;
  /** ArcaError `unsafe-path` when the sandbox was refused (the drill is recorded as failed). */
  refused?: ArcaError;
}

/** Where a drill's sandboxes go by default: `$XDG_STATE_HOME/arca/drills`, on disk, not a RAM-backed /tmp. */
export function defaultSandboxBase(stateDir: string): string {
  return path.join(stateDir, 'drills');
}

/** A drill ID: `DRL-20261127T153012Z-<dataset>`, with `-2`, `-3`… when taken already. */
export function drillId(at: Date, dataset: string, taken: ReadonlySet<string>): string {
  const base = `DRL-${at
    .toISOString()
    .replace(/[-:]/g, '')
    .replace(/\.\d+Z$/, 'Z')}-${dataset}`;
  let id = base;
  for (let n = 2; taken.has(id); n++) id = `${base}-${n}`;
  return id;
}

/** Runs one drill and records it; throws only for a request that names what does not exist. */
export async function runDrill(ctx: RunnerContext, req: DrillRequest): Promise<DrillOutcome> {
  const policy = ctx.loaded.policy;
  const started = ctx.now();
  const t0 = performance.now();
  const history = ctx.journal.list({ operation: 'drill' });
  if (req.dataset !== undefined && policy.datasets[req.dataset] === undefined)
    throw new ArcaError(
      'usage',
      `no dataset ${JSON.stringify(req.dataset)} in the policy (datasets: ${Object.keys(policy.datasets).join(', ')})`,
    );
  const dataset = req.dataset ?? pickDataset(policy, history);
  const d = policy.datasets[dataset]!;
  const repoPick = pickRepository(d.copies, copyDrillTimes(history, dataset), req.repo);
  const repoConf = policy.repositories[repoPick.name]!;
  const seed = req.seed ?? newSeed();
  const percent =
    req.samplePercent === undefined
      ? d.drill?.sample === undefined
        ? null
        : parsePercent(d.drill.sample)
      : req.samplePercent;
  const sample = percent !== null && percent < 100;
  const rule: SnapshotRule = req.snapshot !== undefined ? 'named' : req.random ? 'random' : 'latest';
  const id = drillId(
    started,
    dataset,
    new Set(history.filter(isDrillRecord).map((r) => String(r.details.drill_id))),
  );
  const rtoSeconds = durationMs(d.rto) / 1000;
  const rpoSeconds = durationMs(d.rpo) / 1000;
  const details: DrillDetails = {
    schema: drillSchemaName,
    drill_id: id,
    kind: req.kind,
    simulated: req.dryRun === true,
    selection: {
      method: repoPick.method,
      seed,
      repositories: [...d.copies],
      repository_name: repoPick.name,
      snapshot_rule: rule,
      population: null,
      dataset_rule:
        req.dataset === undefined ? 'least-recently-drilled' : req.kind === 'scheduled' ? 'due' : 'named',
    },
    asset: { tier: d.tier, rpo: d.rpo, rto: d.rto, owner: d.owner, classification: d.classification },
    scope: sample ? 'sample' : 'full',
    sample_percent: sample ? percent : null,
    source: {
      repository_name: repoPick.name,
      site: repoConf.site,
      offsite: repoConf.offsite,
      immutable: repoConf.immutable,
      snapshot_id: null,
      recovery_point_time: null,
      level: null,
    },
    target: {
      environment: 'isolated-sandbox',
      path: null,
      same_as_source: false,
      overwrote_production: false,
    },
    timeline: {
      started_at: started.toISOString(),
      restore_started_at: null,
      data_restored_at: null,
      validated_at: null,
      completed_at: started.toISOString(),
    },
    measurements: {
      restore_seconds: null,
      bytes_restored: 0,
      files_restored: 0,
      bytes_per_second: null,
      files_per_second: null,
      snapshot_bytes: null,
      snapshot_files: null,
      restore_time_kind: null,
      restore_time_seconds: null,
      rto_seconds: rtoSeconds,
      rto_met: null,
      recovery_point_age_seconds: null,
      rpo_seconds: rpoSeconds,
      rpo_met: null,
    },
    validation: {
      integrity: { method: 'blob-rehash', files: 0, mismatched: 0 },
      metadata: { checked: 0, mismatched: 0 },
      checks: [],
    },
    failure: { stage: null, reason: null },
    corrective_action: null,
    cleanup: { removed_at: null },
  };
  const say = (text: string, extra: Record<string, unknown> = {}): void =>
    ctx.report({
      type: 'drill',
      dataset,
      repository: repoPick.name,
      text: `${dataset}: drill: ${text}`,
      ...extra,
    });

  let stage: DrillStage = 'select';
  let refused: ArcaError | undefined;
  let interrupted = false;
  let sandbox: string | undefined;
  let dumpDir: string | undefined;
  const dropCleanUp = onInterrupt(async () => {
    if (sandbox !== undefined && !req.keepSandbox) removeSandbox(sandbox);
  });
  const fail = (s: DrillStage, reason: string): void => {
    if (details.failure.stage !== null) return;
    details.failure = { stage: s, reason };
  };
  try {
    const base = req.sandboxBase ?? d.drill?.sandbox ?? defaultSandboxBase(ctx.stateDir);
    const protect = protectedPaths(policy, { journalFile: ctx.journal.file, stateDir: ctx.stateDir });
    try {
      checkSandbox(base, protect);
    } catch (err) {
      if (err instanceof ArcaError && err.code === 'unsafe-path') refused = err;
      throw err;
    }
    stage = 'open';
    await withPolicyRepository(policy, repoPick.name, ctx.access, 'shared', async (repo) => {
      stage = 'select';
      const snapshots = await repo.listSnapshots({ tags: [`dataset:${dataset}`] });
      details.selection.population = snapshots.length;
      const snap = pickSnapshot(snapshots, rule, seed, req.snapshot);
      const level = (snap.tags ?? []).find((t) => t.startsWith('level:'))?.slice('level:'.length) ?? null;
      details.source.snapshot_id = snap.id;
      details.source.recovery_point_time = new Date(snapshotTimeMs(snap)).toISOString();
      details.source.level = level;
      const age = Math.max(0, (started.getTime() - snapshotTimeMs(snap)) / 1000);
      details.measurements.recovery_point_age_seconds = round(age);
      // Only the newest point is held to the RPO: an older one chosen on purpose is old by
      // design, and a simulated drill judges nothing.
      details.measurements.rpo_met = rule === 'latest' && !req.dryRun ? age <= rpoSeconds : null;
      dumpDir = snap.paths.find((p) => p.endsWith(`${path.sep}staging${path.sep}${dataset}`));
      stage = 'restore';
      const walked = await walkSnapshot(repo, snap.tree);
      details.measurements.snapshot_bytes = walked.bytes;
      details.measurements.snapshot_files = walked.files.length;
      say(
        `${req.dryRun ? 'would restore' : 'restoring'} snapshot ${snap.id.slice(0, 8)} (${details.source.recovery_point_time}` +
          `${level ? `, ${level}` : ''}) from repository ${repoPick.name}${sample ? `, a ${percent}% sample` : ''}`,
      );
      if (req.dryRun) return;
      const chosen = sample
        ? sampleFiles(
            walked.files.map((f) => f.path),
            percent!,
            seed,
          )
        : undefined;
      // Sandboxes of drills that were killed before they could remove them go first.
      for (const left of sweepSandboxes(base)) {
        ctx.report({
          type: 'warning',
          dataset,
          text: `${dataset}: drill: removed the sandbox ${left}, which a stopped drill had left`,
        });
      }
      sandbox = createSandbox(base, protect);
      details.target.path = sandbox;
      const restoreStarted = ctx.now();
      details.timeline.restore_started_at = restoreStarted.toISOString();
      const r0 = performance.now();
      const restored = await restoreTree(repo, snap.tree, {
        target: sandbox,
        owner: false,
        select:
          chosen === undefined
            ? undefined
            : (p, isDir) => ({
                selected:
                  isDir ||
                  chosen.has(Buffer.from(p).toString('latin1')) ||
                  !walked.regular.has(Buffer.from(p).toString('latin1')),
                descend: isDir,
              }),
      });
      const seconds = (performance.now() - r0) / 1000;
      details.timeline.data_restored_at = new Date(restoreStarted.getTime() + seconds * 1000).toISOString();
      const timing = restoreTiming({
        restoreSeconds: seconds,
        bytesRestored: restored.bytes,
        filesRestored: restored.files,
        snapshotBytes: walked.bytes,
        snapshotFiles: walked.files.length,
        sample,
      });
      Object.assign(details.measurements, {
        restore_seconds: round(seconds),
        bytes_restored: restored.bytes,
        files_restored: restored.files,
        ...timing,
        rto_met: timing.restore_time_seconds <= rtoSeconds,
      });
      if (restored.problems.length > 0) {
        const p = restored.problems[0]!;
        fail(
          'restore',
          `${restored.problems.length} ${restored.problems.length === 1 ? 'problem' : 'problems'} restoring, the first: ${p.path}: ${p.message}`,
        );
        return;
      }
      stage = 'verify';
      const v = verifyRestoredFiles(repo, restored.restoredFiles);
      const content = v.problems.filter((p) => !/^(mode is|mtime differs)/.test(p.message));
      details.validation.integrity = {
        method: 'blob-rehash',
        files: v.files,
        mismatched: new Set(content.map((p) => p.path)).size,
      };
      const meta = checkMetadata(
        sandbox,
        walked.nodes,
        (p) => chosen === undefined || chosen.has(p) || !walked.regular.has(p),
      );
      details.validation.metadata = { checked: meta.checked, mismatched: meta.problems.length };
      const first = content[0] ?? meta.problems[0];
      if (first !== undefined)
        fail(
          'verify',
          `${content.length + meta.problems.length} restored files differ from the snapshot, the first: ${first.path}: ${first.message}`,
        );
    });
    if (!req.dryRun && details.failure.stage === null && sandbox !== undefined) {
      stage = 'validate';
      details.validation.checks = await runChecks(ctx, d.drill?.validate ?? [], sandbox, {
        ARCA_RESTORE_DIR: sandbox,
        ARCA_DUMP_DIR: dumpDir === undefined ? '' : path.join(sandbox, dumpDir),
        ARCA_DATASET: dataset,
        ARCA_SNAPSHOT_ID: details.source.snapshot_id ?? '',
        ARCA_POLICY_ID: policy.metadata.id,
      });
      details.timeline.validated_at = ctx.now().toISOString();
      const bad = details.validation.checks.find((c) => !c.passed);
      if (bad !== undefined)
        fail('validate', `check ${JSON.stringify(bad.check)} failed: ${lastLine(bad.output) || 'no output'}`);
    }
  } catch (err) {
    if (err instanceof ArcaError && err.code === 'interrupted') interrupted = true;
    fail(stage, err instanceof Error ? err.message : String(err));
  } finally {
    dropCleanUp();
    if (sandbox !== undefined) {
      if (req.keepSandbox) {
        keepSandbox(sandbox);
        details.cleanup = { removed_at: null, kept: true };
      } else {
        try {
          removeSandbox(sandbox);
          details.cleanup = { removed_at: ctx.now().toISOString() };
        } catch (err) {
          fail(
            'cleanup',
            `could not remove the sandbox ${sandbox}: ${err instanceof Error ? err.message : String(err)}`,
          );
        }
      }
    }
  }
  const m = details.measurements;
  const missed: string[] = [];
  if (m.rto_met === false)
    missed.push(
      `${m.restore_time_kind === 'forecast' ? 'forecast' : 'measured'} restore time ${m.restore_time_seconds} s exceeds the RTO of ${d.rto}`,
    );
  // rpo_met is null unless the newest point was restored (see above).
  if (m.rpo_met === false)
    missed.push(
      `the newest recovery point is ${Math.round(m.recovery_point_age_seconds ?? 0)} s old, older than the RPO of ${d.rpo}`,
    );
  const result: JournalResult = interrupted
    ? 'interrupted'
    : details.failure.stage !== null
      ? 'failed'
      : !details.simulated && missed.length > 0
        ? 'partial'
        : 'success';
  const error = details.failure.reason ?? (result === 'partial' ? missed.join('; ') : null);
  const evidence = !details.simulated && result !== 'interrupted';
  if (evidence && (result === 'failed' || result === 'partial'))
    details.corrective_action = correctiveActionId(id);
  const ended = ctx.now();
  details.timeline.completed_at = ended.toISOString();
  const record = ctx.journal.append({
    operation: 'drill',
    result,
    started_at: started,
    ended_at: ended,
    duration_ms: Math.round(performance.now() - t0),
    dataset,
    repository: repoConf.location,
    level: details.source.level,
    snapshot_id: details.source.snapshot_id,
    bytes_read: details.simulated ? null : m.bytes_restored,
    files_read: details.simulated ? null : m.files_restored,
    error,
    policy_hash: ctx.loaded.sha256,
    details: details as unknown as Record<string, unknown>,
  });
  const now = ctx.now();
  if (details.corrective_action !== null) {
    recordOpened(
      ctx.journal,
      {
        id: details.corrective_action,
        dataset,
        drillId: id,
        ...actionScope(details),
        description: `restore drill ${id} ${result === 'failed' ? `failed at ${details.failure.stage}` : 'missed its objectives'}: ${error}`,
      },
      ctx.loaded.sha256,
      now,
    );
    say(`corrective action ${details.corrective_action} opened`, { type: 'warning' });
  } else if (evidence && result === 'success') {
    for (const a of openActions(ctx.journal.list({ operation: 'corrective-action', dataset }), dataset)) {
      if (closes(a, { dataset, result, details })) {
        recordClosed(ctx.journal, { id: a.id, dataset, drillId: id }, ctx.loaded.sha256, now);
        say(`corrective action ${a.id} closed by drill ${id}`);
      } else say(`corrective action ${a.id} stays open: it needs ${closingDrill(a)}`);
    }
  }
  if (evidence && (result === 'failed' || result === 'partial')) {
    const summary =
      result === 'failed'
        ? `restore drill ${id} of dataset ${dataset} FAILED at ${details.failure.stage}: ${error}`
        : `restore drill ${id} of dataset ${dataset} missed its objectives: ${error}`;
    await notifyAndRecord(ctx, {
      event: 'drill-failure',
      operation: 'drill',
      time: ended.toISOString(),
      who: currentWho(),
      policy: policy.metadata.id,
      dataset,
      repository: repoPick.name,
      summary,
      error: error ?? undefined,
      ...(details.source.snapshot_id === null ? {} : { snapshot_id: details.source.snapshot_id }),
      drill_id: id,
      stage: details.failure.stage,
      corrective_action: details.corrective_action,
    });
  }
  return { record, details, result, ...(refused === undefined ? {} : { refused }) };
}

/** A snapshot's nodes with their snapshot paths, its regular files, and their total size (hard links once). */
interface WalkedSnapshot {
  nodes: { path: Buffer; node: Node }[];
  files: { path: Buffer; node: Node }[];
  /** Snapshot paths (latin1) of regular files: a sample chooses among these. */
  regular: Set<string>;
  bytes: number;
}

async function walkSnapshot(repo: Repository, tree: string): Promise<WalkedSnapshot> {
  const out: WalkedSnapshot = { nodes: [], files: [], regular: new Set(), bytes: 0 };
  const inodes = new Set<string>();
  const walk = async (id: string, dir: Buffer): Promise<void> => {
    for (const node of await repo.loadTree(id)) {
      const p = Buffer.concat([dir, Buffer.from('/'), node.name]);
      out.nodes.push({ path: p, node });
      if (node.type === 'dir' && node.subtree) await walk(node.subtree, p);
      if (node.type !== 'file') continue;
      out.files.push({ path: p, node });
      out.regular.add(p.toString('latin1'));
      if (node.links !== undefined && node.links > 1 && node.inode !== undefined) {
        const key = `${node.deviceId ?? 0n}:${node.inode}`;
        if (inodes.has(key)) continue;
        inodes.add(key);
      }
      out.bytes += node.size ?? 0;
    }
  };
  await walk(tree, Buffer.alloc(0));
  return out;
}

/** Compares mode, modification time and link target of each restored directory, file and symlink with its node. */
function checkMetadata(
  sandbox: string,
  nodes: readonly { path: Buffer; node: Node }[],
  restored: (latin1Path: string) => boolean,
): { checked: number; problems: { path: string; message: string }[] } {
  const problems: { path: string; message: string }[] = [];
  let checked = 0;
  const root = Buffer.from(sandbox);
  for (const { path: p, node } of nodes) {
    if (!['dir', 'file', 'symlink'].includes(node.type) || !restored(p.toString('latin1'))) continue;
    checked++;
    const dest = Buffer.concat([root, p]);
    const bad = (message: string) => problems.push({ path: displayName(p), message });
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(dest, { bigint: true });
    } catch (err) {
      bad(`missing: ${(err as NodeJS.ErrnoException).code ?? String(err)}`);
      continue;
    }
    const type = st.isDirectory() ? 'dir' : st.isSymbolicLink() ? 'symlink' : st.isFile() ? 'file' : 'other';
    if (type !== node.type) {
      bad(`is a ${type}, the snapshot has a ${node.type}`);
      continue;
    }
    if (node.type === 'symlink') {
      if (!readlinkSync(dest, { encoding: 'buffer' }).equals(node.linktarget ?? Buffer.alloc(0)))
        bad('symlink target differs from the snapshot');
      continue;
    }
    if ((Number(st.mode) & 0o7777) !== posixMode(node.mode))
      bad(
        `mode is ${(Number(st.mode) & 0o7777).toString(8)}, the snapshot says ${posixMode(node.mode).toString(8)}`,
      );
    else if (node.mtime && st.mtimeNs !== goTimeToNs(parseGoTime(node.mtime)))
      bad('mtime differs from the snapshot');
  }
  return { checked, problems };
}
