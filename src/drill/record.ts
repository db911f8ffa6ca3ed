/**
 * The drill record (REQUIREMENTS §3.3, docs/drills.md): the `details` of the one journal
 * record a drill appends, `operation: 'drill'`. The report and the runbooks read it; this is
 * its only definition. A simulated drill (`--dry-run`) carries `simulated: true` and never
 * counts as evidence.
 */
import type { JournalRecord } from '../journal/record.js';

/** The `details.schema` of a drill record. */
export const drillSchemaName = 'restore-drill/v1';

/** The stage a drill failed at. */
export type DrillStage = 'select' | 'open' | 'restore' | 'verify' | 'validate' | 'cleanup';

/** One user check and how it went. */
export interface DrillCheckResult {
  check: string;
  command: string;
  /**
   * Whether it exited 0.
   */
  passed: boolean;
  /** The last lines of its output. */
  output: string;
}

/** The `details` of a drill record. */
export interface DrillDetails {
  schema: typeof drillSchemaName;
  drill_id: string;
  kind: 'scheduled' | 'ad-hoc';
  simulated: boolean;
  selection: {
    /** `least-recently-drilled-copy` (the rotation; `rotating-seeded` in records made before it) or `named`. */
    method: 'least-recently-drilled-copy' | 'named';
    seed: string;
    repositories: string[];
    repository_name: string;
    snapshot_rule: 'latest' | 'random' | 'named';
    /** How many snapshots of the dataset the repository held (null when it could not be read). */
    population: number | null;
    /** How the dataset was chosen: named on the command line, due by the schedule, or least recently drilled. */
    dataset_rule: 'named' | 'due' | 'least-recently-drilled';
  };
  asset: { tier: number; rpo: string; rto: string; owner: string; classification: string };
  scope: 'full' | 'sample';
  sample_percent: number | null;
  source: {
    repository_name: string;
    site: string;
    offsite: boolean;
    immutable: boolean;
    snapshot_id: string | null;
    recovery_point_time: string | null;
    level: string | null;
  };
  target: {
    environment: 'isolated-sandbox';
    path: string | null;
    same_as_source: false;
    overwrote_production: false;
  };
  timeline: {
    started_at: string;
    restore_started_at: string | null;
    data_restored_at: string | null;
    validated_at: string | null;
    completed_at: string;
  };
  measurements: {
    restore_seconds: number | null;
    bytes_restored: number;
    files_restored: number;
    bytes_per_second: number | null;
    files_per_second: number | null;
    snapshot_bytes: number | null;
    snapshot_files: number | null;
    restore_time_kind: 'measured' | 'forecast' | null;
    restore_time_seconds: number | null;
    rto_seconds: number;
    rto_met: boolean | null;
    recovery_point_age_seconds: number | null;
    rpo_seconds: number;
    rpo_met: boolean | null;
  };
  validation: {
    integrity: { method: 'blob-rehash'; files: number; mismatched: number };
    metadata: { checked: number; mismatched: number };
    checks: DrillCheckResult[];
  };
  failure: { stage: DrillStage | null; reason: string | null };
  corrective_action: string | null;
  cleanup: { removed_at: string | null; kept?: boolean };
}

/** True for a drill record of this schema (quickstart's restore tests are not). */
export function isDrillRecord(r: JournalRecord): boolean {
  return r.operation === 'drill' && r.details.schema === drillSchemaName;
}

/**
 * True for a drill that counts as evidence: a real drill that ran to its end, not a
 * simulated (`--dry-run`) or an interrupted one.
 */
export function isEvidenceDrill(r: JournalRecord): boolean {
  return isDrillRecord(r) && r.details.simulated !== true && r.result !== 'interrupted';
}
