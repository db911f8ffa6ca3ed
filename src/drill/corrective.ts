/**
 * Corrective actions (R30): a failed drill, or one that missed its RTO or RPO, opens one
 * (`operation: 'corrective-action'`, `result: 'failed'`, status `open`), named after the
 * drill; it stays open until a later drill of the same dataset passes, which appends a
 * closing record naming that drill. An action is open while its ID has no closing record.
 */
import type { Journal } from '../journal/journal.js';
import type { JournalRecord } from '../journal/record.js';
import type { DrillStage } from './record.js';

/** An open corrective action. */
export interface OpenAction {
  id: string;
  dataset: string;
  drill_id: string;
  opened_at: string;
}

/** The ID of the corrective action a drill opens: `CA-` and the drill ID's date and dataset. */
export function correctiveActionId(drillId: string): string {
  return `CA-${drillId.replace(/^DRL-/, '')}`;
}

/** The corrective actions of `dataset` (every dataset when undefined) that have no closing record. */
export function openActions(records: readonly JournalRecord[], dataset?: string): OpenAction[] {
  const closed = new Set<string>();
  const opened: OpenAction[] = [];
  for (const r of records) {
    if (r.operation !== 'corrective-action' || (dataset !== undefined && r.dataset !== dataset)) continue;
    const id = r.details.id;
    if (typeof id !== 'string') continue;
    if (r.details.status === 'closed') closed.add(id);
    else if (r.details.status === 'open')
      opened.push({
        id,
        dataset: r.dataset ?? '',
        drill_id: String(r.details.drill_id ?? ''),
        opened_at: r.started_at,
      });
  }
  return opened.filter((a) => !closed.has(a.id));
}

/** Appends the record that opens a corrective action. */
export function recordOpened(
  journal: Journal,
  a: { id: string; dataset: string; drillId: string; stage: DrillStage | null; description: string },
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
    details: { id: a.id, status: 'open', drill_id: a.drillId, stage: a.stage, description: a.description },
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
