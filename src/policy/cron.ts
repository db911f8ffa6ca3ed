/**
 * Cron expressions for backup and prune schedules, evaluated by croner in a time zone.
 *
 * A thin wrapper that fixes the dialect arca accepts, so that `policy check` and the
 * scheduler read an expression the same way:
 * - 5 fields (minute hour day-of-month month day-of-week) or 6 with a leading second; no
 *   year field, and no ISO date (croner would take one as a single run);
 * - the nicknames @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly;
 * - croner's syntax in each field, `L`, `W`, `#` and `+` included; a step needs `*` or a
 *   range before it (`*\/15`, `0-30/10`): croner refuses `5/15`, which crons read differently;
 * - day of month and day of week combine as in Vixie cron: when both are restricted a day
 *   matching either runs, but when either field starts with `*` or `?` (`*\/2`), both must
 *   match. croner treats only a bare `*` that way, so the other case sets `domAndDow`;
 * - DST as in Vixie cron: a job whose seconds, minutes and hours have no wildcard or step
 *   (`30 2 * * *`, `0 2,14 * * *`) runs once when its time occurs twice and just after the
 *   gap when its time is skipped, so a backup is never dropped; other jobs run on wall-clock
 *   times that exist, both passes of a repeated hour included.
 *
 * croner's messages number fields from the seconds and count days and months from 0
 * (`Invalid value for month: 12` for 13): those are put in terms of the expression.
 */
import { Cron } from 'croner';
import { ArcaError } from '../errors.js';

export type { Cron } from 'croner';

const NICKNAMES = ['@yearly', '@annually', '@monthly', '@weekly', '@daily', '@midnight', '@hourly'];

/** The six fields as croner numbers them (seconds first), with their names and ranges. */
const FIELDS = [
  { name: 'second', min: 0, max: 59 },
  { name: 'minute', min: 0, max: 59 },
  { name: 'hour', min: 0, max: 23 },
  { name: 'day of month', min: 1, max: 31 },
  { name: 'month', min: 1, max: 12 },
  { name: 'day of week', min: 0, max: 7 },
] as const;

/** croner's internal field names, as its messages give them. */
const CRONER_NAMES: Readonly<Record<string, number>> = {
  second: 0,
  minute: 1,
  hour: 2,
  day: 3,
  nearestWeekdays: 3,
  month: 4,
  dayOfWeek: 5,
};

/** How far {@link previousRun} looks back. */
const LOOKBACK_MS = 400 * 86_400_000;

function fail(text: string, why: string): never {
  throw new ArcaError('usage', `cron expression ${JSON.stringify(text)}: ${why}`);
}

/** The first number in `field` outside the range of field `index` (steps and `#n` are not values). */
function outOfRange(field: string, index: number): number | undefined {
  const { min, max } = FIELDS[index]!;
  for (const item of field.split(',')) {
    const values = (item.split('/')[0] ?? '').split('#')[0] ?? '';
    for (const part of values.split('-')) {
      const digits = part.replace(/[LW+]/gi, '');
      if (/^\d+$/.test(digits) && (Number(digits) < min || Number(digits) > max)) return Number(digits);
    }
  }
  return undefined;
}

/** croner's reason for refusing the expression, in terms of `fields` (seconds first). */
function reason(message: string, fields: readonly string[]): string {
  const why = message.replace(/^CronPattern: /, '');
  const range = /^Invalid value for (\w+)/.exec(why);
  const rangeIndex = range === null ? undefined : CRONER_NAMES[range[1]!];
  if (rangeIndex !== undefined) {
    const f = FIELDS[rangeIndex]!;
    const n = outOfRange(fields[rangeIndex] ?? '', rangeIndex);
    return `${f.name} ${n ?? JSON.stringify(fields[rangeIndex])} is out of range ${f.min}-${f.max}`;
  }
  const illegal = /^configuration entry (\d) \((.*)\) contains illegal characters/.exec(why);
  if (illegal !== null)
    return `"${illegal[2]}" is not a valid ${FIELDS[Number(illegal[1])]?.name ?? 'field'}`;
  const empty = /^configuration entry (\w+) \(.*\) is empty/.exec(why);
  const emptyIndex = empty === null ? undefined : CRONER_NAMES[empty[1]!];
  if (emptyIndex !== undefined) {
    return `empty item in the ${FIELDS[emptyIndex]!.name} field ${JSON.stringify(fields[emptyIndex])}`;
  }
  return why;
}

/** True when `timezone` is a name the platform knows (`UTC`, `Europe/Berlin`). */
export function knownTimeZone(timezone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: timezone });
    return true;
  } catch {
    return false;
  }
}

/**
 * Parses and validates a cron expression (5 fields, or 6 with leading seconds; nicknames);
 * ArcaError('usage') with croner's reason otherwise. It is evaluated in `timezone` (an IANA
 * name; undefined means the machine's local time zone).
 */
export function parseCron(text: string, timezone?: string): Cron {
  if (timezone !== undefined && !knownTimeZone(timezone)) {
    throw new ArcaError(
      'usage',
      `time zone ${JSON.stringify(timezone)} is not known (use an IANA name such as Europe/Berlin or UTC)`,
    );
  }
  const trimmed = text.trim();
  let fields: string[] = [];
  if (trimmed.startsWith('@')) {
    if (!NICKNAMES.includes(trimmed.toLowerCase()))
      fail(text, `unknown nickname (use one of ${NICKNAMES.join(', ')})`);
  } else {
    fields = trimmed === '' ? [] : trimmed.split(/\s+/);
    if (fields.length !== 5 && fields.length !== 6) {
      fail(
        text,
        `expected 5 fields (minute hour day-of-month month day-of-week) or 6 (second first), got ${fields.length}`,
      );
    }
    if (fields.length === 5) fields.unshift('0');
  }
  // Every nickname has a bare `*` in a day field, so croner's own rule serves for them.
  const wild = (f: string | undefined) => f !== undefined && (f.startsWith('*') || f.startsWith('?'));
  try {
    return new Cron(trimmed, {
      paused: true,
      mode: '5-or-6-parts',
      fixedTimeRule: 'no-wildcard',
      domAndDow: wild(fields[3]) || wild(fields[5]),
      // croner converts through Intl at every step in a named zone; UTC needs no conversion,
      // and the fixed offset 0 is the same zone, evaluated about ten times faster.
      ...(timezone === undefined ? {} : timezone === 'UTC' ? { utcOffset: 0 } : { timezone }),
    });
  } catch (err) {
    return fail(text, reason(err instanceof Error ? err.message : String(err), fields));
  }
}

/** The first run strictly after `after`, or null when it never runs again. */
export function nextRun(cron: Cron, after: Date): Date | null {
  return cron.nextRun(after);
}

/**
 * The last run at or before `at`, or null when there is none (searching back at most 400 days).
 * croner counts a run earlier in the same second as its reference, and runs fall on whole
 * seconds, so asking from just after the start of `at`'s second includes a run at `at`.
 */
export function previousRun(cron: Cron, at: Date): Date | null {
  const reference = Math.floor(at.getTime() / 1000) * 1000 + 1;
  const run = cron.previousRuns(1, new Date(reference))[0];
  return run === undefined || run.getTime() < at.getTime() - LOOKBACK_MS ? null : run;
}
