/**
 * The numbers of the evidence pack, computed from {@link ReportData} by pure functions:
 * success rate, achieved RPO, copies, the 3-2-1-1-0 evaluation, drills against the RTO,
 * alerts with their resolution, corrective actions and the requirement table. Nothing here
 * reads a file or a clock, so every number can be checked against hand-made records.
 */
import type { JournalRecord, JsonObject, JsonValue } from '../journal/record.js';
import { durationMs, formatMs } from '../policy/duration.js';
import { checkPolicy, type Finding, MAX_DRILL_MS } from '../policy/findings.js';
import type { Policy } from '../policy/schema.js';
import type { EncryptionInfo, ReportData, ReportPeriod, RepositoryState } from './gather.js';
import { type RequirementRow, requirementTable } from './requirements.js';

/** A backup attempt as the charts and tables show it. */
export interface BackupPoint {
  at: string;
  level: string | null;
  result: string;
  repository: string | null;
  snapshot_id: string | null;
  duration_seconds: number | null;
  bytes_read: number | null;
  bytes_added: number | null;
  files_read: number | null;
}

/** Backup attempts in the period, by how they ended. */
export interface BackupCounts {
  total: number;
  success: number;
  partial: number;
  failed: number;
  interrupted: number;
  /** Successful (or partial: the snapshot was saved) attempts ÷ all attempts; null with none. */
  success_rate: number | null;
}

/** The largest gap between consecutive good recovery points (R15). */
export interface AchievedRpo {
  /** null when the dataset has no good recovery point at all. */
  seconds: number | null;
  /** Where the largest gap starts and ends. */
  from: string | null;
  to: string | null;
  /** Good recovery points in the period. */
  points: number;
  rpo_seconds: number;
  met: boolean;
}

/** The dataset's copies in one repository. */
export interface CopyState {
  repository: string;
  location: string;
  site: string;
  media: string;
  offsite: boolean;
  immutable: boolean;
  reachable: boolean;
  error: string | null;
  snapshots: number;
  newest: string | null;
  /** The newest successful `copy` (or `backup`) record that wrote there. */
  last_written_at: string | null;
  /**
   * Why this copy does not count for 3-2-1-1-0 (no snapshot of the dataset, or its newest is
   * older than the dataset's RPO before the newest good recovery point); null when it counts.
   */
  not_counted: string | null;
}

export type DigitStatus = 'pass' | 'fail' | 'attested';

/** One digit of 3-2-1-1-0 and why it holds or not. */
export interface Digit {
  digit: '3' | '2' | '1 offsite' | '1 immutable' | '0';
  status: DigitStatus;
  reason: string;
}

/** The 3-2-1-1-0 evaluation of a dataset (REQUIREMENTS §2.3). */
export interface Rule32110 {
  digits: Digit[];
  /** Every digit passes (an attested immutable copy counts, the reason says it is not probed). */
  holds: boolean;
}

/** The newest `check` of a repository. */
export interface CheckState {
  repository: string;
  at: string | null;
  result: string | null;
  errors: number | null;
  read_data: string | null;
}

/** A restore drill, from its journal record (contract: restore-drill/v1). */
export interface DrillSummary {
  drill_id: string | null;
  seq: number;
  at: string;
  result: string;
  repository: string | null;
  snapshot_id: string | null;
  scope: string | null;
  restore_time_seconds: number | null;
  restore_time_kind: 'measured' | 'forecast' | null;
  rto_seconds: number | null;
  rto_met: boolean | null;
  rpo_met: boolean | null;
  failure: string | null;
}

/** Retention as configured, and what is kept now. */
export interface RetentionState {
  configured: boolean;
  keep: JsonObject | null;
  archive_tags: string[];
  legal_hold: JsonObject | null;
  basis: string | null;
  snapshots_kept: Record<string, number>;
  last_forget: { at: string; repository: string | null; removed: number | null; result: string } | null;
}

/** Everything the report says about one dataset. */
export interface DatasetReport {
  name: string;
  tier: number;
  owner: string;
  classification: string;
  rpo: string;
  rto: string;
  mtd: string;
  drill_every: string | null;
  last_backup: BackupPoint | null;
  backups: BackupCounts;
  achieved_rpo: AchievedRpo;
  history: BackupPoint[];
  copies: CopyState[];
  rule_32110: Rule32110;
  encryption: { name: string; info: EncryptionInfo | null }[];
  retention: RetentionState;
  checks: CheckState[];
  last_drill: DrillSummary | null;
  drills: DrillSummary[];
  simulated_drills_ignored: number;
}

/** A failure or alert, and what resolved it. */
export interface Alert {
  seq: number;
  at: string;
  operation: string;
  dataset: string | null;
  repository: string | null;
  result: string;
  error: string | null;
  resolved: boolean;
  resolved_by_seq: number | null;
  resolved_at: string | null;
}

/** A notification sent (or not) to a channel. */
export interface NotificationEntry {
  seq: number;
  at: string;
  dataset: string | null;
  channel: string | null;
  event: string | null;
  result: string;
  error: string | null;
}

/** A corrective action opened by a drill, open until a closing record names its id. */
export interface CorrectiveAction {
  id: string;
  dataset: string | null;
  opened_at: string;
  drill_id: string | null;
  stage: string | null;
  description: string | null;
  status: 'open' | 'closed';
  closed_at: string | null;
  closed_by_drill: string | null;
}

/** The computed evidence pack: what report.json holds and the HTML and markdown show. */
export interface Report {
  schema: 'arca-report/v1';
  generated_at: string;
  period: ReportPeriod;
  /**
   * The moment recency is judged at (the achieved RPO's last gap, drill and check cadence,
   * "recent backup"): the period's end, or the generation time when the period ends later.
   */
  judged_at: string;
  policy: {
    file: string;
    id: string;
    version: string;
    sha256: string;
    owner: string;
    approved_by: string;
    approved_on: string;
    next_review: string;
    findings: Finding[];
  };
  journal: {
    file: string;
    ok: boolean;
    records: number;
    head: { seq: number | null; hash: string | null } | null;
    problems: string[];
  };
  repositories: (Omit<RepositoryState, 'snapshots'> & {
    snapshots: number;
    journal_snapshots: number;
    report_snapshots: number;
  })[];
  datasets: DatasetReport[];
  alerts: Alert[];
  notifications: NotificationEntry[];
  corrective_actions: CorrectiveAction[];
  requirements: RequirementRow[];
  summary: {
    datasets: number;
    backups: number;
    success_rate: number | null;
    rpo_met: number;
    rule_32110_holds: number;
    drills_passed_in_cadence: number;
    unresolved_alerts: number;
    open_corrective_actions: number;
  };
}

const good = (r: JournalRecord) => r.result === 'success' || r.result === 'partial';
const ms = (iso: string) => Date.parse(iso);
const inPeriod = (r: JournalRecord, p: ReportPeriod) =>
  ms(r.started_at) >= ms(p.from) && ms(r.started_at) < ms(p.to);
const str = (v: JsonValue | undefined): string | null => (typeof v === 'string' ? v : null);
const num = (v: JsonValue | undefined): number | null => (typeof v === 'number' ? v : null);
const bool = (v: JsonValue | undefined): boolean | null => (typeof v === 'boolean' ? v : null);
const obj = (v: JsonValue | undefined): JsonObject =>
  v !== null && typeof v === 'object' && !Array.isArray(v) ? v : {};

/**
 * When recency is judged: the period's end, but never after `generated_at` (a period given
 * as `--to 2026-09-30` ends at the next midnight, which may be hours in the future; measuring
 * up to it would count time that has not passed yet as time without a backup).
 */
export function judgedAt(period: ReportPeriod, generatedAt: string): string {
  return ms(generatedAt) < ms(period.to) ? new Date(ms(generatedAt)).toISOString() : period.to;
}

/** Computes the whole report. */
export function computeReport(data: ReportData): Report {
  const { policy, sha256, file } = data.policy;
  const now = new Date(data.generated_at);
  const asOf = judgedAt(data.period, data.generated_at);
  const datasets = Object.keys(policy.datasets)
    .sort((a, b) => policy.datasets[a]!.tier - policy.datasets[b]!.tier || a.localeCompare(b))
    .map((name) => datasetReport(name, policy, data, asOf));
  const alerts = alertsOf(data.records, data.period);
  const corrective = correctiveActions(data.records);
  const findings = checkPolicy(policy, { now });
  const v = data.journal.verify;
  const report: Report = {
    schema: 'arca-report/v1',
    generated_at: data.generated_at,
    period: data.period,
    judged_at: asOf,
    policy: {
      file,
      id: policy.metadata.id,
      version: policy.metadata.version,
      sha256,
      owner: policy.metadata.owner,
      approved_by: policy.metadata.approved_by,
      approved_on: policy.metadata.approved_on,
      next_review: policy.metadata.next_review,
      findings,
    },
    journal: {
      file: data.journal.file,
      ok: v.ok,
      records: v.records,
      head: v.head,
      problems: v.problems.map((p) => `${p.kind} at position ${p.position}: ${p.message}`),
    },
    repositories: data.repositories.map((r) => ({
      ...r,
      snapshots: r.snapshots.length,
      journal_snapshots: r.snapshots.filter((s) => s.tags.includes('arca-journal')).length,
      report_snapshots: r.snapshots.filter((s) => s.tags.includes('arca-report')).length,
    })),
    datasets,
    alerts,
    notifications: notificationsOf(data.records, data.period),
    corrective_actions: corrective,
    requirements: [],
    summary: {
      datasets: datasets.length,
      backups: datasets.reduce((n, d) => n + d.backups.total, 0),
      success_rate: rate(
        datasets.reduce((n, d) => n + d.backups.success + d.backups.partial, 0),
        datasets.reduce((n, d) => n + d.backups.total, 0),
      ),
      rpo_met: datasets.filter((d) => d.achieved_rpo.met).length,
      rule_32110_holds: datasets.filter((d) => d.rule_32110.holds).length,
      drills_passed_in_cadence: datasets.filter((d) => drillInCadence(d, asOf)).length,
      unresolved_alerts: alerts.filter((a) => !a.resolved).length,
      open_corrective_actions: corrective.filter((c) => c.status === 'open').length,
    },
  };
  report.requirements = requirementTable(report, policy);
  return report;
}

function rate(n: number, total: number): number | null {
  return total === 0 ? null : n / total;
}

function datasetReport(name: string, policy: Policy, data: ReportData, asOf: string): DatasetReport {
  const d = policy.datasets[name]!;
  const mine = data.records.filter((r) => r.dataset === name);
  const backups = mine.filter((r) => r.operation === 'backup');
  const inside = backups.filter((r) => inPeriod(r, data.period));
  const lastGood = backups.filter(good).at(-1);
  const rpoMs = durationMs(d.rpo);
  const found = copyStates(name, d.copies, data);
  const newestPoint = newestRecoveryPoint(lastGood?.started_at ?? null, found);
  const copies = found.map((c) => ({ ...c, not_counted: whyNotCounted(c, newestPoint, rpoMs) }));
  const checks = checkStates(d.copies, data);
  // Drill records of the restore-drill contract only (quickstart's restore test is not one).
  const allDrills = mine.filter((r) => r.operation === 'drill' && r.details.schema === 'restore-drill/v1');
  const real = allDrills.filter((r) => !isSimulated(r)).map(drillSummary);
  const cadenceMs = d.drill ? durationMs(d.drill.every) : MAX_DRILL_MS;
  const last = real.at(-1) ?? null;
  return {
    name,
    tier: d.tier,
    owner: d.owner,
    classification: d.classification,
    rpo: d.rpo,
    rto: d.rto,
    mtd: d.mtd,
    drill_every: d.drill?.every ?? null,
    last_backup: lastGood ? backupPoint(lastGood) : null,
    backups: backupCounts(inside),
    achieved_rpo: achievedRpo(
      backups.filter(good).map((r) => r.started_at),
      data.period,
      rpoMs / 1000,
      asOf,
    ),
    history: inside.map(backupPoint),
    copies,
    rule_32110: rule32110({
      copies,
      checks,
      lastDrill: last,
      cadenceMs,
      to: asOf,
      newestPoint,
      rpoMs,
    }),
    encryption: d.copies.map((n) => ({
      name: n,
      info: data.repositories.find((r) => r.name === n)?.encryption ?? null,
    })),
    retention: retentionState(name, policy, data, mine),
    checks,
    last_drill: last,
    drills: real.filter((x) => ms(x.at) >= ms(data.period.from) && ms(x.at) < ms(data.period.to)),
    simulated_drills_ignored: allDrills.length - real.length,
  };
}

/** A backup record as a point of the history. */
export function backupPoint(r: JournalRecord): BackupPoint {
  return {
    at: r.started_at,
    level: r.level,
    result: r.result,
    repository: str(r.details.repository_name) ?? r.repository,
    snapshot_id: r.snapshot_id,
    duration_seconds: r.duration_ms === null ? null : r.duration_ms / 1000,
    bytes_read: r.bytes_read,
    bytes_added: r.bytes_added,
    files_read: r.files_read,
  };
}

/** Counts backup attempts by result; the success rate counts partial backups as saved. */
export function backupCounts(records: readonly JournalRecord[]): BackupCounts {
  const by = (result: string) => records.filter((r) => r.result === result).length;
  const c = {
    total: records.length,
    success: by('success'),
    partial: by('partial'),
    failed: by('failed'),
    interrupted: by('interrupted'),
  };
  return { ...c, success_rate: rate(c.success + c.partial, c.total) };
}

/**
 * The achieved RPO: the largest gap between consecutive good recovery points, counting the
 * newest point before the period (when there is one) and the gap from the newest point to
 * the period's end (data written since then would be lost at that moment), or to `now`
 * when the period ends later: time that has not passed yet is not a gap. With no point
 * before the period, the count starts at its first point.
 */
export function achievedRpo(
  pointTimes: readonly string[],
  period: ReportPeriod,
  rpoSeconds: number,
  now: string = period.to,
): AchievedRpo {
  const from = ms(period.from);
  const to = Math.min(ms(period.to), ms(now));
  const sorted = [...pointTimes]
    .map(ms)
    .filter((t) => t < to)
    .sort((a, b) => a - b);
  const before = sorted.filter((t) => t < from).at(-1);
  const inside = sorted.filter((t) => t >= from);
  const points = before === undefined ? inside : [before, ...inside];
  if (points.length === 0)
    return { seconds: null, from: null, to: null, points: 0, rpo_seconds: rpoSeconds, met: false };
  let best = { gap: -1, a: 0, b: 0 };
  const chain = [...points, to];
  for (let i = 1; i < chain.length; i++) {
    const gap = chain[i]! - chain[i - 1]!;
    if (gap > best.gap) best = { gap, a: chain[i - 1]!, b: chain[i]! };
  }
  const seconds = best.gap / 1000;
  return {
    seconds,
    from: new Date(best.a).toISOString(),
    to: new Date(best.b).toISOString(),
    points: inside.length,
    rpo_seconds: rpoSeconds,
    met: seconds <= rpoSeconds,
  };
}

function copyStates(name: string, copies: readonly string[], data: ReportData): CopyState[] {
  const tag = `dataset:${name}`;
  return copies.map((repoName) => {
    const r = data.repositories.find((x) => x.name === repoName)!;
    const snaps = r.snapshots.filter((s) => s.tags.includes(tag));
    const written = data.records
      .filter(
        (x) =>
          x.dataset === name &&
          (x.operation === 'copy' || x.operation === 'backup') &&
          good(x) &&
          (x.details.repository_name === repoName || x.repository === r.location),
      )
      .at(-1);
    return {
      repository: repoName,
      location: r.location,
      site: r.site,
      media: r.media,
      offsite: r.offsite,
      immutable: r.immutable,
      reachable: r.reachable,
      error: r.error,
      snapshots: snaps.length,
      newest: snaps.at(-1)?.time ?? null,
      last_written_at: written?.started_at ?? null,
      not_counted: null,
    };
  });
}

/**
 * The dataset's newest good recovery point: its newest `success`/`partial` backup record,
 * or the newest of its snapshots in any of its repositories when that is later (a backup
 * the journal does not know of still is one).
 */
export function newestRecoveryPoint(
  lastGoodBackup: string | null,
  copies: readonly CopyState[],
): string | null {
  const times = [lastGoodBackup, ...copies.map((c) => c.newest)].filter((t): t is string => t !== null);
  if (times.length === 0) return null;
  return new Date(Math.max(...times.map(ms))).toISOString();
}

/**
 * Why a copy does not count for 3-2-1-1-0, or null when it does: it must hold a snapshot of
 * the dataset, and its newest one must be within the dataset's RPO of the newest good
 * recovery point (a copy a year old protects against little).
 */
export function whyNotCounted(c: CopyState, newestPoint: string | null, rpoMs: number): string | null {
  if (c.snapshots === 0 || c.newest === null)
    return `no snapshot in ${c.repository}${c.reachable ? '' : ' (unreachable)'}`;
  if (newestPoint === null) return null;
  const behind = ms(newestPoint) - ms(c.newest);
  if (behind <= rpoMs) return null;
  return (
    `${c.repository} is stale: its newest snapshot (${c.newest}) is ${formatMs(behind)} older than the ` +
    `newest recovery point (${newestPoint}), more than the RPO (${formatMs(rpoMs)})`
  );
}

function checkStates(copies: readonly string[], data: ReportData): CheckState[] {
  return copies.map((repoName) => {
    const r = data.repositories.find((x) => x.name === repoName)!;
    const last = data.records
      .filter(
        (x) =>
          x.operation === 'check' && (x.details.repository_name === repoName || x.repository === r.location),
      )
      .at(-1);
    return {
      repository: repoName,
      at: last?.started_at ?? null,
      result: last?.result ?? null,
      errors: last ? (num(last.details.errors) ?? (last.result === 'success' ? 0 : null)) : null,
      read_data: last ? str(last.details.read_data) : null,
    };
  });
}

/** A drill is evidence only when it is not marked simulated (R31). */
export function isSimulated(r: JournalRecord): boolean {
  return r.details.simulated === true;
}

/** The parts of a drill record the report shows. */
export function drillSummary(r: JournalRecord): DrillSummary {
  const m = obj(r.details.measurements);
  const failure = obj(r.details.failure);
  const kind = str(m.restore_time_kind);
  const stage = str(failure.stage);
  const reason = str(failure.reason) ?? r.error;
  return {
    drill_id: str(r.details.drill_id),
    seq: r.seq,
    at: r.started_at,
    result: r.result,
    repository: str(obj(r.details.source).repository_name) ?? r.repository,
    snapshot_id: r.snapshot_id,
    scope: str(r.details.scope),
    restore_time_seconds: num(m.restore_time_seconds) ?? num(m.restore_seconds),
    restore_time_kind: kind === 'measured' || kind === 'forecast' ? kind : null,
    rto_seconds: num(m.rto_seconds),
    rto_met: bool(m.rto_met),
    rpo_met: bool(m.rpo_met),
    failure: reason === null ? null : `${stage === null ? '' : `${stage}: `}${reason}`,
  };
}

/** The inputs of the 3-2-1-1-0 evaluation of one dataset. */
export interface Rule32110Input {
  copies: readonly CopyState[];
  checks: readonly CheckState[];
  lastDrill: DrillSummary | null;
  /** How recent the last drill and checks must be. */
  cadenceMs: number;
  /** The moment they are judged at (the period's end, or the report's generation when earlier). */
  to: string;
  /** The dataset's newest good recovery point (see {@link newestRecoveryPoint}). */
  newestPoint: string | null;
  /** The dataset's RPO: a copy counts only when its newest snapshot is this close to `newestPoint`. */
  rpoMs: number;
}

/**
 * 3-2-1-1-0 as REQUIREMENTS §2.3 makes it checkable, counting only repositories that hold
 * a current copy of the dataset now (a snapshot within the RPO of its newest good recovery
 * point, see {@link whyNotCounted}): 3 = production and ≥ 2 backup copies in distinct
 * repositories; 2 = ≥ 2 media types; 1 = a repository marked offsite; 1 = one marked
 * immutable (attested: arca does not probe it yet); 0 = the last drill passed and every
 * repository's last check found no error, both within the cadence. Each digit that fails
 * says which copies were left out and why.
 */
export function rule32110(input: Rule32110Input): Rule32110 {
  const reasons = new Map(input.copies.map((c) => [c, whyNotCounted(c, input.newestPoint, input.rpoMs)]));
  const holding = input.copies.filter((c) => reasons.get(c) === null);
  const names = (list: readonly CopyState[]) => list.map((c) => c.repository).join(', ') || 'none';
  const digits: Digit[] = [];
  const leftOut = (which: (c: CopyState) => boolean) => {
    const out = input.copies.filter((c) => which(c) && reasons.get(c) !== null).map((c) => reasons.get(c)!);
    return out.length ? `; ${out.join('; ')}` : '';
  };
  const why = leftOut(() => true);
  digits.push({
    digit: '3',
    status: holding.length >= 2 ? 'pass' : 'fail',
    reason: `production + ${holding.length} backup ${holding.length === 1 ? 'copy' : 'copies'} (${names(holding)})${why}`,
  });
  const media = [...new Set(holding.map((c) => c.media))];
  digits.push({
    digit: '2',
    status: media.length >= 2 ? 'pass' : 'fail',
    reason: `${media.length} media ${media.length === 1 ? 'type' : 'types'} (${media.join(', ') || 'none'})`,
  });
  const offsite = holding.filter((c) => c.offsite);
  digits.push({
    digit: '1 offsite',
    status: offsite.length > 0 ? 'pass' : 'fail',
    reason: offsite.length
      ? `offsite copy in ${names(offsite)} (site ${offsite.map((c) => c.site).join(', ')})`
      : `no repository marked offsite holds a current copy${leftOut((c) => c.offsite)}`,
  });
  const immutable = holding.filter((c) => c.immutable);
  digits.push({
    digit: '1 immutable',
    status: immutable.length > 0 ? 'attested' : 'fail',
    reason: immutable.length
      ? `${names(immutable)} marked immutable in the policy (recorded, not yet probed by a deletion attempt)`
      : `no repository marked immutable holds a current copy${leftOut((c) => c.immutable)}`,
  });
  digits.push(zeroDigit(input));
  return { digits, holds: digits.every((d) => d.status !== 'fail') };
}

function zeroDigit(input: Rule32110Input): Digit {
  const to = ms(input.to);
  const fresh = (at: string | null) => at !== null && to - ms(at) <= input.cadenceMs;
  const problems: string[] = [];
  const drill = input.lastDrill;
  if (drill === null) problems.push('no restore drill recorded');
  else if (drill.result !== 'success') problems.push(`the last drill (${drill.at}) ${drill.result}`);
  else if (!fresh(drill.at)) problems.push(`the last drill (${drill.at}) is older than the cadence`);
  for (const c of input.checks) {
    if (c.at === null) problems.push(`no check of ${c.repository}`);
    else if (c.errors !== 0)
      problems.push(`the last check of ${c.repository} found ${c.errors ?? 'unknown'} errors`);
    else if (!fresh(c.at))
      problems.push(`the last check of ${c.repository} (${c.at}) is older than the cadence`);
  }
  return {
    digit: '0',
    status: problems.length === 0 ? 'pass' : 'fail',
    reason:
      problems.length === 0 ? 'last drill passed and every copy checked without errors' : problems.join('; '),
  };
}

/** True when the dataset's last real drill passed within its cadence before `to`. */
export function drillInCadence(d: DatasetReport, to: string): boolean {
  const every = d.drill_every === null ? MAX_DRILL_MS : durationMs(d.drill_every);
  return d.last_drill?.result === 'success' && ms(to) - ms(d.last_drill.at) <= every;
}

function retentionState(
  name: string,
  policy: Policy,
  data: ReportData,
  mine: readonly JournalRecord[],
): RetentionState {
  const r = policy.datasets[name]!.retention;
  const tag = `dataset:${name}`;
  const kept: Record<string, number> = {};
  for (const repoName of policy.datasets[name]!.copies) {
    const repo = data.repositories.find((x) => x.name === repoName)!;
    kept[repoName] = repo.snapshots.filter((s) => s.tags.includes(tag)).length;
  }
  const forget = mine.filter((x) => x.operation === 'forget').at(-1);
  const removed = forget?.details.removed;
  return {
    configured: r !== undefined,
    keep: r ? (JSON.parse(JSON.stringify(r.keep)) as JsonObject) : null,
    archive_tags: r?.archive?.tags ?? [],
    legal_hold: r?.archive?.legal_hold
      ? (JSON.parse(JSON.stringify(r.archive.legal_hold)) as JsonObject)
      : null,
    basis: r?.basis ?? null,
    snapshots_kept: kept,
    last_forget: forget
      ? {
          at: forget.started_at,
          repository: str(forget.details.repository_name) ?? forget.repository,
          removed: Array.isArray(removed) ? removed.length : num(removed),
          result: forget.result,
        }
      : null,
  };
}

const alertOperations = new Set(['notification', 'corrective-action']);

/**
 * Failures and alerts in the period (failed or partial records, RPO breaches), each with
 * the record that resolved it: the next success of the same operation for the same dataset
 * (and repository, for work on a repository), or for an RPO breach the next good backup.
 */
export function alertsOf(records: readonly JournalRecord[], period: ReportPeriod): Alert[] {
  const out: Alert[] = [];
  for (const [i, r] of records.entries()) {
    if (!inPeriod(r, period) || alertOperations.has(r.operation)) continue;
    if (r.operation === 'drill' && isSimulated(r)) continue;
    if (r.result !== 'failed' && r.result !== 'partial' && r.operation !== 'rpo-breach') continue;
    const later = records.slice(i + 1);
    const fix =
      r.operation === 'rpo-breach'
        ? later.find((x) => x.operation === 'backup' && x.dataset === r.dataset && good(x))
        : later.find(
            (x) =>
              x.operation === r.operation &&
              x.dataset === r.dataset &&
              (r.dataset !== null || x.repository === r.repository) &&
              x.result === 'success' &&
              !(x.operation === 'drill' && isSimulated(x)),
          );
    out.push({
      seq: r.seq,
      at: r.started_at,
      operation: r.operation,
      dataset: r.dataset,
      repository: str(r.details.repository_name) ?? r.repository,
      result: r.result,
      error: r.error,
      resolved: fix !== undefined,
      resolved_by_seq: fix?.seq ?? null,
      resolved_at: fix?.started_at ?? null,
    });
  }
  return out;
}

function notificationsOf(records: readonly JournalRecord[], period: ReportPeriod): NotificationEntry[] {
  return records
    .filter((r) => r.operation === 'notification' && inPeriod(r, period))
    .map((r) => ({
      seq: r.seq,
      at: r.started_at,
      dataset: r.dataset,
      channel: str(r.details.channel),
      event: str(r.details.event),
      result: r.result,
      error: r.error,
    }));
}

/** Corrective actions by id: opened by a record with status open, closed by one with status closed. */
export function correctiveActions(records: readonly JournalRecord[]): CorrectiveAction[] {
  const byId = new Map<string, CorrectiveAction>();
  for (const r of records) {
    if (r.operation !== 'corrective-action') continue;
    const id = str(r.details.id);
    if (id === null) continue;
    const status = str(r.details.status);
    const known = byId.get(id);
    if (status === 'closed') {
      if (known) {
        known.status = 'closed';
        known.closed_at = r.started_at;
        known.closed_by_drill = str(r.details.closed_by_drill);
      }
      continue;
    }
    if (known) continue;
    byId.set(id, {
      id,
      dataset: r.dataset,
      opened_at: r.started_at,
      drill_id: str(r.details.drill_id),
      stage: str(r.details.stage),
      description: str(r.details.description) ?? r.error,
      status: 'open',
      closed_at: null,
      closed_by_drill: null,
    });
  }
  return [...byId.values()];
}
