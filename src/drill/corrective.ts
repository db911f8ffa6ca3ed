/**
 * Corrective actions (R30): a failed drill, or one that missed its RTO or RPO, opens one
 * (`operation: 'corrective-action'`, `result: 'failed'`, status `open`), named after the
 * drill. The open record keeps what the failure was about: the repository drilled, the
 * scope, the snapshot rule, the stage and the objectives missed. Only a later drill that
 * covers that failure closes it ({@link closes}): a passing drill of the same dataset from
 * the same repository, of every file when the failure was in the data (restore, verify,
 * validate: a sample may skip the damaged files), of the newest snapshot when the RPO was
 * missed. The closing record names that drill. An action is open while its ID has no
 * closing record.
 */
import type { Journal } from '../journal/journal.js';
import type { JournalRecord, JournalResult } from '../journal/record.js';
import type { DrillDetails, DrillStage } from './record.js';

/** What the failed drill was, as the open record keeps it: the closing drill must cover it. */
export interface ActionScope {
  /** The repository (policy name) the failed drill read from; null in records made before it was kept. */
  repository_name: string | null;
  scope: 'full' | 'sample' | null;
  snapshot_rule: 'latest' | 'random' | 'named' | null;
  /** The stage it failed at; null for a drill that passed verification but missed an objective. */
  stage: DrillStage | null;
  rto_missed: boolean;
  rpo_missed: boolean;
}

/** An open corrective action. */
export interface OpenAction extends ActionScope {
  id: string;
  dataset: string;
  drill_id: string;
  opened_at: string;
}

/** The stages where the damage may be in files that a sample skips. */
const dataStages: readonly (DrillStage | null)[] = ['restore', 'verify', 'validate'];

/** The ID of the corrective action a drill opens: `CA-` and the drill ID's date and dataset. */
export function correctiveActionId(drillId: string): string {
  return `CA-${drillId.replace(/^DRL-/, '')}`;
}

/** What a failed or partial drill leaves for the drill that closes its action to cover. */
export function actionScope(d: DrillDetails): ActionScope {
  return {
    repository_name: d.selection.repository_name,
    scope: d.scope,
    snapshot_rule: d.selection.snapshot_rule,
    stage: d.failure.stage,
    rto_missed: d.measurements.rto_met === false,
    rpo_missed: d.measurements.rpo_met === false,
  };
}

/**
 * Whether a drill closes `action`: it passed (`success`, a real drill, RTO met and RPO not
 * missed) for the same dataset, from the same repository, with every file when the action's
 * drill failed at restore, verify or validate, and restoring the newest snapshot (RPO met)
 * when the action's drill missed the RPO.
 */
export function closes(
  action: OpenAction,
  drill: { dataset: string; result: JournalResult; details: DrillDetails },
): boolean {
  const d = drill.details;
  const m = d.measurements;
  if (drill.dataset !== action.dataset || drill.result !== 'success' || d.simulated) return false;
  if (m.rto_met !== true || m.rpo_met === false || d.failure.stage !== null) return false;
  if (action.repository_name !== null && d.selection.repository_name !== action.repository_name) return false;
  if (dataStages.includes(action.stage) && d.scope !== 'full') return false;
  if (action.rpo_missed && (d.selection.snapshot_rule !== 'latest' || m.rpo_met !== true)) return false;
  return true;
}

/** What drill closes `a`, in words: `a passing drill from repository local, of every file`. */
export function closingDrill(a: OpenAction): string {
  const need = [a.repository_name === null ? 'from any copy' : `from repository ${a.repository_name}`];
  if (dataStages.includes(a.stage)) need.push('of every file');
  if (a.rpo_missed) need.push('of the newest snapshot');
  return `a passing drill ${need.join(', ')}`;
}

/** The corrective actions of `dataset` (every dataset when undefined) that have no closing record. */
export function openActions(records: readonly JournalRecord[], dataset?: string): OpenAction[] {
  const closed = new Set<string>();
  const opened: OpenAction[] = [];
  for (const r of records) {
    if (r.operation !== 'corrective-action' || (dataset !== undefined && r.dataset !== dataset)) continue;
    const x = r.details;
    const id = x.id;
    if (typeof id !== 'string') continue;
    if (x.status === 'closed') closed.add(id);
    else if (x.status === 'open')
      opened.push({
        id,
        dataset: r.dataset ?? '',
        drill_id: String(x.drill_id ?? ''),
        opened_at: r.started_at,
        repository_name: typeof x.repository_name === 'string' ? x.repository_name : null,
        scope: x.scope === 'full' || x.scope === 'sample' ? x.scope : null,
        snapshot_rule:
          x.snapshot_rule === 'latest' || x.snapshot_rule === 'random' || x.snapshot_rule === 'named'
            ? x.snapshot_rule
            : null,
        stage: typeof x.stage === 'string' ? (x.stage as DrillStage) : null,
        rto_missed: x.rto_missed === true,
        rpo_missed: x.rpo_missed === true,
      });
  }
  return opened.filter((a) => !closed.has(a.id));
}

/** Appends the record that opens a corrective action, with what the closing drill must cover. */
export function recordOpened(
  journal: Journal,
  a: { id: string; dataset: string; drillId: string; description: string } & ActionScope,
  policyHash: string | null,
  at: Date,
): void {
  journal.append({
    operation: 'corrective-action',
    result: 'failed',
    started_at: at,
    ended_at: at,
    dataset: a.dataset,
    error: a.description,
    policy_hash: policyHash,
    details: {
      id: a.id,
      status: 'open',
      drill_id: a.drillId,
      stage: a.stage,
      description: a.description,
      repository_name: a.repository_name,
      scope: a.scope,
      snapshot_rule: a.snapshot_rule,
      rto_missed: a.rto_missed,
      rpo_missed: a.rpo_missed,
    },
  });
}

/** Appends the record that closes corrective action `id`, closed by drill `drillId`. */
export function recordClosed(
  journal: Journal,
  a: { id: string; dataset: string; drillId: string },
  policyHash: string | null,
  at: Date,
): void {
  journal.append({
    operation: 'corrective-action',
    result: 'success',
    started_at: at,
    ended_at: at,
    dataset: a.dataset,
    policy_hash: policyHash,
    details: { id: a.id, status: 'closed', closed_by_drill: a.drillId },
  });
}
