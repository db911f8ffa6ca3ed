/**
 * `forget`: decides which snapshots go, as restic 0.14's `cmd_forget.go` does, and removes
 * their files. Which snapshots a policy keeps is `retention.ts`'s business; this module adds
 * the rest of restic's command semantics:
 * - Explicit snapshot IDs (unique prefixes, or `latest`, which honours the filter) remove
 *   exactly those snapshots; the policy is then not applied. A reference that matches
 *   nothing is skipped with a reason, as restic 0.14 skips it with a warning.
 * - Otherwise the filtered snapshots are grouped (`--group-by`) and the policy is applied to
 *   each group. An empty policy removes nothing and yields no groups at all.
 * - Deleting a snapshot is deleting its file; the data it referenced stays until `prune`.
 * The caller holds an exclusive lock (restic 0.14 takes one for forget, even for a dry run).
 */
import { ArcaError } from '../errors.js';
import { type Id, resolvePrefix } from '../repo/id.js';
import type { Repository } from '../repo/repository.js';
import { type Snapshot, type SnapshotFilter, sortSnapshots } from '../repo/snapshot.js';
import {
  applyPolicy,
  defaultGroupBy,
  type GroupBy,
  groupSnapshots,
  isEmptyPolicy,
  type KeepPolicy,
  type KeptSnapshot,
  type SnapshotGroupKey,
  validatePolicy,
} from './retention.js';

/** What to forget: explicit snapshots, or a policy over filtered, grouped snapshots. */
export interface ForgetRequest {
  /** Snapshot IDs, unique prefixes or `latest`; when given, the policy is not applied. */
  ids?: readonly string[];
  policy?: KeepPolicy;
  filter?: SnapshotFilter;
  groupBy?: GroupBy;
  /** Decides which snapshots lie in the future (see `applyPolicy`). */
  now?: Date;
}

/** The policy's verdict for one group; both lists newest first. */
export interface ForgetGroup {
  key: SnapshotGroupKey;
  keep: KeptSnapshot[];
  remove: Snapshot[];
}

/** What `forget` will remove, and why. */
export interface ForgetPlan {
  /** One entry per group when a non-empty policy was applied; empty otherwise. */
  groups: ForgetGroup[];
  /** Every snapshot to remove, each once, oldest first. */
  remove: Snapshot[];
  /** Given references that matched no snapshot (restic ignores them and goes on). */
  ignored: { ref: string; reason: string }[];
  /** True when neither IDs nor a keep rule were given, so nothing is removed. */
  policyEmpty: boolean;
}

/**
 * Works out which snapshots `forget` removes, without changing anything. Throws ArcaError
 * `usage` for an invalid policy and whatever loading the snapshots throws.
 */
export async function planForget(repo: Repository, req: ForgetRequest): Promise<ForgetPlan> {
  const policy = req.policy ?? {};
  validatePolicy(policy);
  const filter = req.filter ?? {};
  if (req.ids !== undefined && req.ids.length > 0) {
    const chosen = new Map<Id, Snapshot>();
    const ignored: ForgetPlan['ignored'] = [];
    const all = await repo.listIds('snapshots');
    for (const ref of req.ids) {
      try {
        const snapshot =
          ref === 'latest'
            ? await repo.findSnapshot(ref, filter)
            : await repo.loadSnapshot(resolvePrefix(ref, all, 'snapshot'));
        chosen.set(snapshot.id, snapshot);
      } catch (err) {
        if (!(err instanceof ArcaError) || (err.code !== 'not-found' && err.code !== 'usage')) throw err;
        ignored.push({ ref, reason: err.message });
      }
    }
    return { groups: [], remove: sortSnapshots([...chosen.values()]), ignored, policyEmpty: false };
  }
  if (isEmptyPolicy(policy)) return { groups: [], remove: [], ignored: [], policyEmpty: true };
  const snapshots = await repo.listSnapshots(filter);
  const groups: ForgetGroup[] = [];
  const remove = new Map<Id, Snapshot>();
  for (const { key, snapshots: members } of groupSnapshots(snapshots, req.groupBy ?? defaultGroupBy)) {
    const result = applyPolicy(members, policy, req.now);
    groups.push({ key, keep: result.keep, remove: result.remove });
    for (const s of result.remove) remove.set(s.id, s);
  }
  return { groups, remove: sortSnapshots([...remove.values()]), ignored: [], policyEmpty: false };
}

/** Deletes the snapshots' files. The data they referenced stays until `prune` removes it. */
export async function removeSnapshots(repo: Repository, snapshots: readonly Snapshot[]): Promise<void> {
  for (const s of snapshots) await repo.backend.remove({ type: 'snapshots', name: s.id });
}
