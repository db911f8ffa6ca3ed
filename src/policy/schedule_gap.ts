/**
 * The longest time a dataset can go without a new recovery point under its schedule: the
 * largest gap between consecutive runs of all its levels together (every snapshot is a
 * complete recovery point, whatever its level). R15 asks that it not exceed the RPO.
 *
 * Cron schedules are played in the scheduler's time zone. Where the clocks change, a daily
 * 01:30 job in Europe/Berlin is 23 hours from the run before in spring and 25 in autumn.
 * The hour the clocks go back is not counted: a gap is measured in real time, less any
 * hour the wall clock repeats within it, so that daily 01:30 counts as 24h all year and a
 * 24h RPO holds. Counting it would report every daily schedule in a zone with daylight
 * saving time (the machine's, by default) as missing a 24h RPO, for one night a year on
 * which the schedule still runs once per calendar day as written, and push RPOs to 25h,
 * which would then hide a real 25h gap on the other 364 nights. The spring gap, shorter in
 * real time than on the wall clock, counts as its real length.
 */
import { type Cron, nextRun, parseCron, previousRun } from './cron.js';
import { durationMs } from './duration.js';
import type { Trigger } from './schedules.js';

/** The largest gap: how long, and between which runs when cron runs bound it. */
export interface ScheduleGap {
  /**
   * The gap as measured against the RPO: real time less an hour the clocks repeat in it
   * (so `to - from` may be an hour more). Infinity when nothing runs again.
   */
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
 * The largest gap between recovery points under `triggers`, from `start` on, with cron
 * expressions read in `timezone` (undefined: the machine's).
 *
 * Intervals (`every: 6h`) are anchored wherever the scheduler starts, so their phase is not
 * known in advance: an interval guarantees a run at least that often, and that guarantee
 * is what is measured against the cron schedules.
 */
export function scheduleGap(triggers: readonly Trigger[], start: Date, timezone?: string): ScheduleGap {
  const crons = triggers.filter((t): t is string => typeof t === 'string');
  const interval = Math.min(
    ...triggers.filter((t): t is { every: string } => typeof t !== 'string').map((t) => durationMs(t.every)),
  );
  const cron = crons.length === 0 ? undefined : largestCronGap(crons, start, timezone);
  return cron === undefined || interval < cron.ms ? { ms: interval } : cron;
}

/** The UTC offset of a time zone at an instant, in milliseconds (wall clock minus real time). */
function offsetIn(timezone: string | undefined): (t: number) => number {
  const format = new Intl.DateTimeFormat('en-US', {
    timeZone: timezone,
    hourCycle: 'h23',
    year: 'numeric',
    month: 'numeric',
    day: 'numeric',
    hour: 'numeric',
    minute: 'numeric',
    second: 'numeric',
  });
  return (t) => {
    const p: Record<string, number> = {};
    for (const { type, value } of format.formatToParts(t)) p[type] = Number(value);
    const wall = Date.UTC(p.year!, p.month! - 1, p.day!, p.hour!, p.minute!, p.second!);
    return wall - Math.floor(t / 1000) * 1000;
  };
}

/** One local calendar day: when it starts and ends, and the UTC offset at each moment of it. */
interface Day {
  start: number;
  end: number;
  /** The offset at the start and at the end. */
  before: number;
  after: number;
  /** When the offset changes (`end` when it does not). */
  switchAt: number;
  /** The clocks change on it, or it does not start at midnight: its runs are not at their usual times. */
  changes: boolean;
}

const offsetAt = (day: Day, t: number) => (t < day.switchAt ? day.before : day.after);

/**
 * The local days of the window, from the day of `start`. A day that starts at midnight and
 * has the same offset 24 hours later is an ordinary one; on other days croner finds the
 * next midnight like any run (where midnight is skipped the day starts after the gap), and
 * the moment the clocks change is found by halving.
 */
function localDays(timezone: string | undefined, start: Date, count: number): Day[] {
  const offset = offsetIn(timezone);
  const midnight = parseCron('0 0 0 * * *', timezone);
  const days: Day[] = [];
  const firstMidnight = previousRun(midnight, start);
  if (firstMidnight === null) throw new RangeError(`no midnight in ${timezone ?? 'the local time zone'}`);
  let dayStart = firstMidnight.getTime();
  let before = offset(dayStart);
  for (let i = 0; i < count; i++) {
    if ((dayStart + before) % DAY_MS === 0 && offset(dayStart + DAY_MS) === before) {
      const end = dayStart + DAY_MS;
      days.push({ start: dayStart, end, before, after: before, switchAt: end, changes: false });
      dayStart = end;
      continue;
    }
    const end = nextRun(midnight, new Date(dayStart))!.getTime();
    const after = offset(end);
    let [lo, hi] = [dayStart, end]; // the offset at lo is the day's first, at hi its last
    while (before !== after && hi - lo > 1000) {
      const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
      if (offset(mid) === before) lo = mid;
      else hi = mid;
    }
    days.push({ start: dayStart, end, before, after, switchAt: hi, changes: true });
    [dayStart, before] = [end, after];
  }
  return days;
}

/** What the union of some cron expressions does within one day, as offsets from its start. */
interface DayPattern {
  first: number;
  last: number;
  gap?: { from: number; to: number; ms: number };
}

function nextOf(crons: readonly Cron[], t: number): number | undefined {
  let best: number | undefined;
  for (const c of crons) {
    const n = nextRun(c, new Date(t))?.getTime();
    if (n !== undefined && (best === undefined || n < best)) best = n;
  }
  return best;
}

/** The runs of `crons` from `from` to before `to` on their clock, `shift` earlier (at most one a second). */
function* runsOf(crons: readonly Cron[], from: number, to: number, shift = 0): Generator<number> {
  for (let t = nextOf(crons, from - 1); t !== undefined && t < to; t = nextOf(crons, t)) yield t - shift;
}

/** The first and last of `runs` relative to `start`, and the largest gap between them as `measure` counts it. */
function dayPattern(
  runs: Iterable<number>,
  start: number,
  measure: (from: number, to: number) => number,
): DayPattern | undefined {
  let pattern: DayPattern | undefined;
  for (const t of runs) {
    if (pattern === undefined) pattern = { first: t - start, last: t - start };
    else {
      const ms = measure(start + pattern.last, t);
      if (ms > (pattern.gap?.ms ?? 0)) pattern.gap = { from: pattern.last, to: t - start, ms };
      pattern.last = t - start;
    }
  }
  return pattern;
}

/** How near the moment the clocks change croner's DST rules may move a run: more than any zone's shift. */
const DST_REACH_MS = 3 * 3_600_000;

/**
 * The runs on a day the clocks change. Away from the change they are at their wall-clock
 * times, as on any day; within {@link DST_REACH_MS} of it croner lists them in the zone. A day
 * that does not start and end at midnight (the clocks change at midnight) is listed whole.
 */
function* changeDayRuns(real: readonly Cron[], wallClock: readonly Cron[], day: Day): Generator<number> {
  const [wallStart, wallEnd] = [day.start + day.before, day.end + day.after];
  if (wallStart % DAY_MS !== 0 || wallEnd % DAY_MS !== 0) {
    yield* runsOf(real, day.start, day.end);
    return;
  }
  const near = Math.max(day.start, day.switchAt - DST_REACH_MS);
  const far = Math.min(day.end, day.switchAt + DST_REACH_MS);
  yield* runsOf(wallClock, wallStart, near + day.before, day.before);
  yield* runsOf(real, near, far);
  yield* runsOf(wallClock, far + day.after, wallEnd, day.after);
}

/**
 * The largest gap between consecutive runs of the union of `expressions` read in
 * `timezone`, over `days` local days from the day of `start`, and up to the first run after
 * them; the hour the clocks go back is not counted (see the header).
 *
 * Listing every run would cost a year of minutes for `* * * * *`, and croner converts
 * through Intl at each step in a named zone; instead this uses what cron expressions are.
 * On an ordinary day (no clock change) the runs are at the wall-clock times the hour,
 * minute and second fields give, as in UTC on the same date: so each day is looked at in
 * UTC, where croner is quick, and on every day the same expressions run, their runs fall at
 * the same times. Each distinct set of expressions running on a day is listed once; each
 * day then costs one `nextRun` per expression, and the gaps between days follow from each
 * day's first and last run. A day on which the clocks change is listed on its own, in its
 * time zone around the change, so croner's DST rules decide the runs there.
 */
export function largestCronGap(
  expressions: readonly string[],
  start: Date,
  timezone?: string,
  days = GAP_WINDOW_DAYS,
): ScheduleGap {
  const crons = expressions.map((e) => parseCron(e, timezone));
  const wallClock = expressions.map((e) => parseCron(e, 'UTC'));
  const offset = offsetIn(timezone);
  const patterns = new Map<string, DayPattern | undefined>();
  let best: ScheduleGap = { ms: 0 };
  const consider = (from: number, to: number | undefined, ms: number) => {
    if (ms > best.ms) best = { ms, from: new Date(from), ...(to === undefined ? {} : { to: new Date(to) }) };
  };
  // Real time, less the hour the clocks go back between the two runs.
  const measure = (from: number, to: number, fromOffset: number, toOffset: number) =>
    to - from - Math.max(0, fromOffset - toOffset);
  let previous: { t: number; offset: number } | undefined; // the last run so far
  const window = localDays(timezone, start, days);
  for (const day of window) {
    let p: DayPattern | undefined;
    if (day.changes) {
      p = dayPattern(changeDayRuns(crons, wallClock, day), day.start, (a, b) =>
        measure(a, b, offsetAt(day, a), offsetAt(day, b)),
      );
    } else {
      const wallStart = day.start + day.before;
      const wallEnd = wallStart + DAY_MS;
      const running = wallClock.filter(
        (c) => (nextRun(c, new Date(wallStart - 1))?.getTime() ?? wallEnd) < wallEnd,
      );
      const key = running.map((c) => wallClock.indexOf(c)).join(',');
      if (!patterns.has(key))
        patterns.set(
          key,
          dayPattern(runsOf(running, wallStart, wallEnd), wallStart, (a, b) => b - a),
        );
      p = patterns.get(key);
    }
    if (p === undefined) continue;
    const first = day.start + p.first;
    if (previous !== undefined)
      consider(previous.t, first, measure(previous.t, first, previous.offset, offsetAt(day, first)));
    if (p.gap !== undefined) consider(day.start + p.gap.from, day.start + p.gap.to, p.gap.ms);
    previous = { t: day.start + p.last, offset: offsetAt(day, day.start + p.last) };
  }
  // The gap after the last run in the window (a yearly schedule runs about once in it).
  const anchor = previous?.t ?? nextOf(crons, (window[0]?.start ?? start.getTime()) - 1);
  if (anchor === undefined) return { ms: Number.POSITIVE_INFINITY };
  const after = nextOf(crons, anchor);
  if (after === undefined) consider(anchor, undefined, Number.POSITIVE_INFINITY);
  else consider(anchor, after, measure(anchor, after, offset(anchor), offset(after)));
  return best;
}
