/**
 * What is due: for each dataset, which backup level should run now and why, from the
 * policy's schedules and the journal's record of earlier runs (R15–R17). `arca plan` prints
 * this, `arca run` carries out what is due once, and the daemon works it out again after
 * every run and whenever a scheduled moment comes.
 *
 * The rules:
 * - A level is due when a scheduled moment of it (a cron occurrence, or its interval since
 *   the last run) has come since its last run. Runs of a higher level count for the lower
 *   ones: a full covers the differential and the incremental scheduled at the same moment.
 * - A level never run is due at once, so a new policy starts with a backup rather than at
 *   its first scheduled moment.
 * - Moments missed while nothing ran (the machine was off, the daemon stopped) collapse
 *   into one run: the catch-up.
 * - A failed run counts as a run: it was retried and reported already; the next scheduled
 *   moment tries again (`arca run --dataset D` retries at once).
 * - When several levels are due, the highest runs. A differential with no full to compare
 *   against, and an incremental with no earlier snapshot, run as a full when full is
 *   scheduled.
 * - A dataset whose newest successful backup is older than its RPO is in breach (R15, R19).
 * - A restore drill is due when the dataset's `drill.every` has passed since its last real
 *   drill (not simulated, not interrupted), or when it was never drilled and has a good
 *   backup (R23). After a failed drill the next comes sooner: min(`drill.every`, 1 day).
 */
import type { Cron } from 'croner';
import { isEvidenceDrill } from '../drill/record.js';
import type { JournalRecord } from '../journal/record.js';
import { nextRun, parseCron, previousRun } from '../policy/cron.js';
import { durationMs } from '../policy/duration.js';
import { type BackupLevel, backupLevels, type Trigger } from '../policy/schedules.js';
import type { Policy } from '../policy/schema.js';

/** What the journal says about one dataset's backups. */
export interface DatasetHistory {
  /** The start of the newest run of each level, whatever its result. */
  lastRun: Partial<Record<BackupLevel, Date>>;
  /** The result of the newest run of any level. */
  lastResult?: { level: BackupLevel; at: Date; result: string; error: string | null };
  /** The start of the newest successful (or partial) backup of any level. */
  lastGood?: Date;
  /** The start of the first attempt: with no good backup, the RPO counts from it. */
  firstRun: Date;
  /** The newest successful full exists (a differential needs one). */
  hasFull: boolean;
}

/** One level of one dataset, as the plan sees it. */
export interface LevelPlan {
  level: BackupLevel;
  /** The schedule as written: a cron expression or `every 6h`. */
  schedule: string;
  /** The newest run of this level or a higher one. */
  lastRun?: Date;
  due: boolean;
  /** Why it is due (`scheduled 2026-11-27T01:30:00Z`, `never run`, `every 6h, last run 7h ago`). */
  reason?: string;
  /** The next scheduled moment after now (for a due level, the one after the current). */
  next: Date | null;
}

/** How a dataset stands. */
export type DatasetStatus = 'ok' | 'due' | 'never-run' | 'failing' | 'late';

/** One dataset's plan. */
export interface DatasetPlan {
  dataset: string;
  tier: number;
  status: DatasetStatus;
  /** The level to run now, or null when nothing is due. */
  run: BackupLevel | null;
  /** Why that level (or why nothing). */
  reason: string;
  levels: LevelPlan[];
  lastGood?: Date;
  lastResult?: DatasetHistory['lastResult'];
  /** The newest good backup is older than the RPO (or there is none and the RPO has passed since the first attempt). */
  rpoBreach: boolean;
  /** The earliest next scheduled moment of any level. */
  next: Date | null;
}

/** One repository's prune schedule. */
export interface PrunePlan {
  repository: string;
  due: boolean;
  reason: string;
  lastRun?: Date;
  next: Date | null;
}

/** One dataset's restore-drill schedule. */
export interface DrillPlan {
  dataset: string;
  tier: number;
  due: boolean;
  reason: string;
  /** The start of the newest real drill. */
  lastRun?: Date;
  next: Date | null;
}

/** The whole plan at one moment. */
export interface Plan {
  at: Date;
  datasets: DatasetPlan[];
  prunes: PrunePlan[];
  drills: DrillPlan[];
  /** The earliest moment anything becomes due next. */
  next: Date | null;
}

/** Reads the history of every dataset from journal records of `backup` operations (any order). */
export function historyFrom(records: readonly JournalRecord[]): Map<string, DatasetHistory> {
  const out = new Map<string, DatasetHistory>();
  for (const r of records) {
    // An interrupted run (arca was stopped) did not happen: it is due again, so a restart catches it up.
    if (r.operation !== 'backup' || r.dataset === null || !isLevel(r.level) || r.result === 'interrupted')
      continue;
    const at = new Date(r.started_at);
    const h = out.get(r.dataset) ?? { lastRun: {}, hasFull: false, firstRun: at };
    out.set(r.dataset, h);
    if (at < h.firstRun) h.firstRun = at;
    if (!(h.lastRun[r.level]! >= at)) h.lastRun[r.level] = at;
    if (h.lastResult === undefined || h.lastResult.at <= at)
      h.lastResult = { level: r.level, at, result: r.result, error: r.error };
    const good = r.result === 'success' || r.result === 'partial';
    if (good && !(h.lastGood! >= at)) h.lastGood = at;
    if (good && r.level === 'full') h.hasFull = true;
  }
  return out;
}

/** When each repository was last pruned by the runner, from `prune` records naming it. */
export function pruneHistoryFrom(records: readonly JournalRecord[]): Map<string, Date> {
  const out = new Map<string, Date>();
  for (const r of records) {
    const name = r.details.repository_name;
    if (r.operation !== 'prune' || typeof name !== 'string') continue;
    const at = new Date(r.started_at);
    if (!(out.get(name)! >= at)) out.set(name, at);
  }
  return out;
}

/** A dataset's newest real drill: when it started and whether it failed. */
export interface LastDrill {
  at: Date;
  failed: boolean;
}

/**
 * Each dataset's newest real drill, from `drill` records: simulated and interrupted ones
 * never count (an interrupted drill did not happen, so a restart drills again).
 */
export function drillHistoryFrom(records: readonly JournalRecord[]): Map<string, LastDrill> {
  const out = new Map<string, LastDrill>();
  for (const r of records) {
    if (!isEvidenceDrill(r) || r.dataset === null) continue;
    const at = new Date(r.started_at);
    const prev = out.get(r.dataset);
    if (prev === undefined || prev.at <= at) out.set(r.dataset, { at, failed: r.result === 'failed' });
  }
  return out;
}

/** How soon a failed drill is tried again, at most: a day (or `drill.every` when shorter). */
export const drillRetryMs = 24 * 60 * 60 * 1000;

function isLevel(l: string | null): l is BackupLevel {
  return l !== null && (backupLevels as readonly string[]).includes(l);
}

/** Compiled schedules, kept between plans (the daemon plans often). */
export class Schedules {
  private readonly crons = new Map<string, Cron>();
  constructor(private readonly timezone: string | undefined) {}

  cron(expr: string): Cron {
    let c = this.crons.get(expr);
    if (c === undefined) {
      c = parseCron(expr, this.timezone);
      this.crons.set(expr, c);
    }
    return c;
  }

  /** Whether `trigger` has come since `last` (never run: yes), and when it comes next. */
  evaluate(
    trigger: Trigger,
    last: Date | undefined,
    now: Date,
  ): { due: boolean; reason?: string; next: Date | null } {
    if (typeof trigger === 'string') {
      const cron = this.cron(trigger);
      const next = nextRun(cron, now);
      if (last === undefined) return { due: true, reason: 'never run', next };
      const prev = previousRun(cron, now);
      if (prev !== null && prev > last) return { due: true, reason: `scheduled ${prev.toISOString()}`, next };
      return { due: false, next };
    }
    const every = durationMs(trigger.every);
    if (last === undefined) return { due: true, reason: 'never run', next: new Date(now.getTime() + every) };
    const at = new Date(last.getTime() + every);
    if (at <= now)
      return {
        due: true,
        reason: `every ${trigger.every}, last run ${last.toISOString()}`,
        next: new Date(now.getTime() + every),
      };
    return { due: false, next: at };
  }
}

/** The level a run of `wanted` becomes: a differential or incremental with nothing to compare against runs as a full when full is scheduled. */
export function effectiveLevel(
  wanted: BackupLevel,
  history: DatasetHistory | undefined,
  fullScheduled: boolean,
): { level: BackupLevel; promoted?: string } {
  if (!fullScheduled || wanted === 'full') return { level: wanted };
  if (wanted === 'differential' && !history?.hasFull)
    return { level: 'full', promoted: 'no full backup yet to compare against' };
  if (wanted === 'incremental' && history?.lastGood === undefined)
    return { level: 'full', promoted: 'no earlier backup to compare against' };
  return { level: wanted };
}

/** Works out the plan for `policy` at `now` from the journal's records. */
export function makePlan(
  policy: Policy,
  records: readonly JournalRecord[],
  now: Date,
  schedules = new Schedules(policy.scheduler?.timezone),
): Plan {
  const histories = historyFrom(records);
  const datasets: DatasetPlan[] = [];
  for (const [name, d] of Object.entries(policy.datasets)) {
    const h = histories.get(name);
    const levels: LevelPlan[] = [];
    for (const [i, level] of backupLevels.entries()) {
      const trigger = d.schedule[level];
      if (trigger === undefined) continue;
      // Runs of this level or a higher one (earlier in backupLevels) count.
      const lastRun = newest(backupLevels.slice(0, i + 1).map((l) => h?.lastRun[l]));
      const e = schedules.evaluate(trigger, lastRun, now);
      levels.push({
        level,
        schedule: typeof trigger === 'string' ? trigger : `every ${trigger.every}`,
        lastRun,
        due: e.due,
        reason: e.reason,
        next: e.next,
      });
    }
    const dueLevel = levels.find((l) => l.due);
    let run: BackupLevel | null = null;
    let reason: string;
    if (dueLevel === undefined) {
      const next = earliest(levels.map((l) => l.next));
      reason = next === null ? 'no scheduled moment left' : `nothing due; next at ${next.toISOString()}`;
    } else {
      const eff = effectiveLevel(dueLevel.level, h, d.schedule.full !== undefined);
      run = eff.level;
      reason = `${dueLevel.level}: ${dueLevel.reason}${eff.promoted ? `; runs as a full: ${eff.promoted}` : ''}`;
    }
    const rpoMs = durationMs(d.rpo);
    // With no good backup yet, the RPO counts from the first attempt.
    const since = h?.lastGood ?? h?.firstRun;
    const rpoBreach = since !== undefined && now.getTime() - since.getTime() > rpoMs;
    let status: DatasetStatus;
    if (h === undefined) status = 'never-run';
    else if (rpoBreach) status = 'late';
    else if (h.lastResult !== undefined && h.lastResult.result === 'failed') status = 'failing';
    else status = run === null ? 'ok' : 'due';
    datasets.push({
      dataset: name,
      tier: d.tier,
      status,
      run,
      reason,
      levels,
      lastGood: h?.lastGood,
      lastResult: h?.lastResult,
      rpoBreach,
      next: earliest(levels.map((l) => l.next)),
    });
  }
  const pruneHistory = pruneHistoryFrom(records);
  // A repository never pruned counts from the first backup: before it there is nothing to prune.
  const firstBackup = earliest(
    records.filter((r) => r.operation === 'backup').map((r) => new Date(r.started_at)),
  );
  const prunes: PrunePlan[] = [];
  for (const [name, r] of Object.entries(policy.repositories)) {
    if (r.prune === undefined) continue;
    const last = pruneHistory.get(name);
    const e =
      last === undefined && firstBackup === null
        ? { due: false, next: null, reason: undefined }
        : schedules.evaluate(r.prune.schedule, last ?? firstBackup ?? undefined, now);
    prunes.push({
      repository: name,
      due: e.due,
      reason: e.due
        ? (e.reason ?? '')
        : last === undefined && firstBackup === null
          ? 'nothing backed up yet'
          : 'not due',
      lastRun: last,
      next: e.next,
    });
  }
  const drillHistory = drillHistoryFrom(records);
  const drills: DrillPlan[] = [];
  for (const [name, d] of Object.entries(policy.datasets)) {
    if (d.drill === undefined) continue;
    const lastDrill = drillHistory.get(name);
    const last = lastDrill?.at;
    const base = { dataset: name, tier: d.tier, lastRun: last };
    if (last === undefined) {
      // The first drill waits for something to restore; the daemon plans again after each backup.
      const good = histories.get(name)?.lastGood !== undefined;
      drills.push({
        ...base,
        due: good,
        reason: good ? 'never drilled' : 'no good backup to drill yet',
        next: null,
      });
      continue;
    }
    if (lastDrill?.failed && durationMs(d.drill.every) > drillRetryMs) {
      // A failed drill is tried again a day later rather than a whole cadence on.
      const at = new Date(last.getTime() + drillRetryMs);
      const due = at <= now;
      drills.push({
        ...base,
        due,
        reason: due ? `the last drill failed, ${last.toISOString()}: retried after 1d` : 'not due',
        next: due ? new Date(now.getTime() + drillRetryMs) : at,
      });
      continue;
    }
    const e = schedules.evaluate({ every: d.drill.every }, last, now);
    drills.push({ ...base, due: e.due, reason: e.due ? (e.reason ?? '') : 'not due', next: e.next });
  }
  return {
    at: now,
    datasets,
    prunes,
    drills,
    next: earliest([
      ...datasets.map((d) => d.next),
      ...prunes.map((p) => p.next),
      ...drills.map((d) => d.next),
    ]),
  };
}

function newest(dates: readonly (Date | undefined)[]): Date | undefined {
  let out: Date | undefined;
  for (const d of dates) if (d !== undefined && (out === undefined || d > out)) out = d;
  return out;
}

function earliest(dates: readonly (Date | null)[]): Date | null {
  let out: Date | null = null;
  for (const d of dates) if (d !== null && (out === null || d < out)) out = d;
  return out;
}
