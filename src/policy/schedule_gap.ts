/**
 * The longest time a dataset can go without a new recovery point under its schedule: the
 * largest gap between consecutive runs of all its levels together (every snapshot is a
 * complete recovery point, whatever its level). R15 asks that it not exceed the RPO.
 */
import { type CronExpression, nextRun, parseCron } from './cron.js';
import { durationMs } from './duration.js';
import type { Trigger } from './schedules.js';

/** The largest gap: how long, and between which runs when cron runs bound it. */
export interface ScheduleGap {
  /** Infinity when nothing runs again. */
  ms: number;
  /** The run before the gap; absent when an interval sets the gap. */
  from?: Date;
  /** The run after it; absent when an interval sets the gap or nothing runs again. */
  to?: Date;
}

const DAY_MS = 86_400_000;

/** Over how many days cron schedules are played: a year and a day covers every month and weekday pattern. */
export const GAP_WINDOW_DAYS = 367;

/**
 * The largest gap between recovery points under `triggers`, from `start` on.
 *
 * Intervals (`every: 6h`) are anchored wherever the scheduler starts, so their phase is not
 * known in advance: an interval guarantees a run at least that often, and that guarantee
 * is what is measured against the cron schedules.
 */
export function scheduleGap(triggers: readonly Trigger[], start: Date): ScheduleGap {
  const crons = triggers.filter((t): t is string => typeof t === 'string').map(parseCron);
  const interval = Math.min(
    ...triggers.filter((t): t is { every: string } => typeof t !== 'string').map((t) => durationMs(t.every)),
  );
  const cron = crons.length === 0 ? undefined : largestCronGap(crons, start);
  return cron === undefined || interval < cron.ms ? { ms: interval } : cron;
}

/** What the union of some cron expressions does within one UTC day, as offsets from midnight. */
interface DayPattern {
  first: number;
  last: number;
  gap?: { from: number; to: number };
}

function nextOf(crons: readonly CronExpression[], t: number): number | undefined {
  let best: number | undefined;
  for (const c of crons) {
    const n = nextRun(c, new Date(t))?.getTime();
    if (n !== undefined && (best === undefined || n < best)) best = n;
  }
  return best;
}

/** Lists the runs of `crons` on the day starting at `day` (at most one a second, so the loop ends). */
function dayPattern(crons: readonly CronExpression[], day: number): DayPattern {
  const pattern: DayPattern = { first: -1, last: -1 };
  for (let t = nextOf(crons, day - 1); t !== undefined && t < day + DAY_MS; t = nextOf(crons, t)) {
    if (pattern.first < 0) pattern.first = t - day;
    else if (t - day - pattern.last > (pattern.gap ? pattern.gap.to - pattern.gap.from : 0)) {
      pattern.gap = { from: pattern.last, to: t - day };
    }
    pattern.last = t - day;
  }
  return pattern;
}

/**
 * The largest gap between consecutive runs of the union of `crons`, over `days` days from
 * the UTC day of `start`, and up to the first run after them.
 *
 * Listing every run would cost a year of minutes for `* * * * *`; instead this uses what
 * cron expressions are: the times of day come from the hour, minute and second fields
 * alone, so on every day the same expressions run, their runs fall at the same times.
 * Each distinct set of expressions running on a day is listed once; each day then costs one
 * `nextRun` per expression, and the gaps between days follow from each day's first and
 * last run. It uses nothing but `nextRun`, so it works the same with croner's.
 */
export function largestCronGap(
  crons: readonly CronExpression[],
  start: Date,
  days = GAP_WINDOW_DAYS,
): ScheduleGap {
  const patterns = new Map<string, DayPattern>();
  let best: ScheduleGap = { ms: 0 };
  const consider = (from: number, to: number | undefined) => {
    const ms = to === undefined ? Number.POSITIVE_INFINITY : to - from;
    if (ms > best.ms) best = { ms, from: new Date(from), ...(to === undefined ? {} : { to: new Date(to) }) };
  };
  const firstDay = Math.floor(start.getTime() / DAY_MS) * DAY_MS;
  let previous: number | undefined; // the last run so far
  for (let day = firstDay; day < firstDay + days * DAY_MS; day += DAY_MS) {
    const running = crons.filter(
      (c) => (nextRun(c, new Date(day - 1))?.getTime() ?? day + DAY_MS) < day + DAY_MS,
    );
    if (running.length === 0) continue;
    const key = running.map((c) => crons.indexOf(c)).join(',');
    let p = patterns.get(key);
    if (p === undefined) {
      p = dayPattern(running, day);
      patterns.set(key, p);
    }
    if (previous !== undefined) consider(previous, day + p.first);
    if (p.gap !== undefined) consider(day + p.gap.from, day + p.gap.to);
    previous = day + p.last;
  }
  // The gap after the last run in the window (a yearly schedule runs about once in it).
  const anchor = previous ?? nextOf(crons, firstDay - 1);
  if (anchor === undefined) return { ms: Number.POSITIVE_INFINITY };
  consider(anchor, nextOf(crons, anchor));
  return best;
}
