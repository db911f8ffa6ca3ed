/**
 * Cron expressions for backup schedules: the syntax check and the next run after a moment.
 *
 * A stand-in, kept in this one file on purpose: the scheduler will use croner, which then
 * replaces this file (`parseCron` ↔ `new Cron(text)`, `nextRun` ↔ `cron.nextRun(after)`);
 * nothing else in arca depends on how it works. It accepts the subset of croner's syntax
 * that every cron agrees on, so a policy valid here stays valid there:
 * - 5 fields (minute hour day-of-month month day-of-week) or 6 with a leading second;
 * - in each field `*`, a number, a range `a-b`, a step `*\/n`, `a-b/n` or `a/n` (from a to the
 *   end), and comma-separated lists of those; `?` means `*` in the two day fields;
 * - month names JAN–DEC and weekday names SUN–SAT (any case); weekday 7 is Sunday as 0 is;
 * - the nicknames @yearly, @annually, @monthly, @weekly, @daily, @midnight and @hourly.
 * Day of month and day of week combine as in Vixie cron (and croner's default): when both
 * are restricted, a day matching either runs; a field starting with `*` is unrestricted.
 * croner's `L`, `W` and `#` are refused with a message saying so.
 *
 * The fields are checked character by character, without regular expressions, so every
 * refusal can say exactly which part is wrong. Times are evaluated in UTC.
 */
import { ArcaError } from '../errors.js';

/** A parsed cron expression: for each field, which values run. */
export interface CronExpression {
  readonly source: string;
  readonly seconds: readonly boolean[];
  readonly minutes: readonly boolean[];
  readonly hours: readonly boolean[];
  /** Index 1–31. */
  readonly days: readonly boolean[];
  /** Index 1–12. */
  readonly months: readonly boolean[];
  /** Index 0–6, Sunday = 0. */
  readonly weekdays: readonly boolean[];
  /** Both day fields are restricted, so a day runs when either matches. */
  readonly dayOr: boolean;
}

interface FieldSpec {
  name: string;
  min: number;
  max: number;
  /** Names for the values from `min` on. */
  names?: readonly string[];
  /** `?` may stand for `*`. */
  question?: boolean;
}

const SECOND: FieldSpec = { name: 'second', min: 0, max: 59 };
const MINUTE: FieldSpec = { name: 'minute', min: 0, max: 59 };
const HOUR: FieldSpec = { name: 'hour', min: 0, max: 23 };
const DAY: FieldSpec = { name: 'day of month', min: 1, max: 31, question: true };
const MONTH: FieldSpec = {
  name: 'month',
  min: 1,
  max: 12,
  names: ['JAN', 'FEB', 'MAR', 'APR', 'MAY', 'JUN', 'JUL', 'AUG', 'SEP', 'OCT', 'NOV', 'DEC'],
};
// 0-7 so that ranges such as 5-7 (Friday to Sunday) are accepted; 7 folds onto 0.
const WEEKDAY: FieldSpec = {
  name: 'day of week',
  min: 0,
  max: 7,
  names: ['SUN', 'MON', 'TUE', 'WED', 'THU', 'FRI', 'SAT'],
  question: true,
};

const NICKNAMES: Readonly<Record<string, string>> = {
  '@yearly': '0 0 1 1 *',
  '@annually': '0 0 1 1 *',
  '@monthly': '0 0 1 * *',
  '@weekly': '0 0 * * 0',
  '@daily': '0 0 * * *',
  '@midnight': '0 0 * * *',
  '@hourly': '0 * * * *',
};

/** How far ahead {@link nextRun} looks: a 29 February schedule runs at least once in 8 years. */
const HORIZON_MS = 8 * 366 * 86_400_000;

function fail(source: string, why: string): never {
  throw new ArcaError('usage', `cron expression ${JSON.stringify(source)}: ${why}`);
}

function isDigits(s: string): boolean {
  if (s === '') return false;
  for (const ch of s) if (ch < '0' || ch > '9') return false;
  return true;
}

/** Splits on runs of spaces and tabs. */
function splitFields(text: string): string[] {
  const out: string[] = [];
  let cur = '';
  for (const ch of text) {
    if (ch === ' ' || ch === '\t') {
      if (cur !== '') out.push(cur);
      cur = '';
    } else cur += ch;
  }
  if (cur !== '') out.push(cur);
  return out;
}

function value(source: string, token: string, spec: FieldSpec): number {
  if (isDigits(token)) {
    const n = Number(token);
    if (n < spec.min || n > spec.max)
      fail(source, `${spec.name} ${n} is out of range ${spec.min}-${spec.max}`);
    return n;
  }
  const i = spec.names?.indexOf(token.toUpperCase()) ?? -1;
  if (i >= 0) return spec.min + i;
  for (const special of ['L', 'W', '#']) {
    if (token.toUpperCase().includes(special))
      fail(source, `${spec.name} "${token}": L, W and # are not supported in arca policies`);
  }
  return fail(source, `"${token}" is not a valid ${spec.name}`);
}

function parseField(source: string, text: string, spec: FieldSpec): boolean[] {
  const set = new Array<boolean>(spec.max + 1).fill(false);
  for (const item of text.split(',')) {
    if (item === '') fail(source, `empty item in the ${spec.name} field "${text}"`);
    const parts = item.split('/');
    if (parts.length > 2) fail(source, `"${item}" has more than one step in the ${spec.name} field`);
    const [base = '', stepText] = parts;
    let step = 1;
    if (stepText !== undefined) {
      if (!isDigits(stepText) || Number(stepText) === 0)
        fail(source, `step "${stepText}" in the ${spec.name} field must be a whole number above 0`);
      step = Number(stepText);
    }
    let lo: number;
    let hi: number;
    if (base === '*' || (base === '?' && spec.question === true)) {
      lo = spec.min;
      hi = spec === WEEKDAY ? 6 : spec.max;
    } else {
      const dash = base.indexOf('-');
      if (dash >= 0) {
        lo = value(source, base.slice(0, dash), spec);
        hi = value(source, base.slice(dash + 1), spec);
        if (lo > hi) fail(source, `range "${base}" in the ${spec.name} field runs backwards`);
      } else {
        lo = value(source, base, spec);
        hi = stepText === undefined ? lo : spec.max;
      }
    }
    for (let v = lo; v <= hi; v += step) set[v] = true;
  }
  if (spec === WEEKDAY && set[7] === true) set[0] = true;
  return spec === WEEKDAY ? set.slice(0, 7) : set;
}

/** Parses and validates a cron expression; throws ArcaError `usage` naming the part that is wrong. */
export function parseCron(text: string): CronExpression {
  const trimmed = text.trim();
  const expanded = NICKNAMES[trimmed.toLowerCase()] ?? trimmed;
  if (expanded.startsWith('@'))
    fail(text, `unknown nickname (use one of ${Object.keys(NICKNAMES).join(', ')})`);
  const fields = splitFields(expanded);
  if (fields.length !== 5 && fields.length !== 6) {
    fail(
      text,
      `expected 5 fields (minute hour day-of-month month day-of-week) or 6 (second first), got ${fields.length}`,
    );
  }
  const [sec, min, hour, dom, mon, dow] = (fields.length === 6 ? fields : ['0', ...fields]) as [
    string,
    string,
    string,
    string,
    string,
    string,
  ];
  const restricted = (f: string) => !(f.startsWith('*') || f.startsWith('?'));
  return {
    source: text,
    seconds: parseField(text, sec, SECOND),
    minutes: parseField(text, min, MINUTE),
    hours: parseField(text, hour, HOUR),
    days: parseField(text, dom, DAY),
    months: parseField(text, mon, MONTH),
    weekdays: parseField(text, dow, WEEKDAY),
    dayOr: restricted(dom) && restricted(dow),
  };
}

function dayMatches(c: CronExpression, d: Date): boolean {
  const dom = c.days[d.getUTCDate()] === true;
  const dow = c.weekdays[d.getUTCDay()] === true;
  return c.dayOr ? dom || dow : dom && dow;
}

/**
 * The first time strictly after `after` (to the second) at which `c` runs, in UTC; null when
 * it never runs within 8 years (say, 30 February). Each step skips a whole month, day, hour
 * or minute that cannot match, so a call costs at most a few hundred steps per year searched.
 */
export function nextRun(c: CronExpression, after: Date): Date | null {
  let t = Math.floor(after.getTime() / 1000) * 1000 + 1000;
  const limit = t + HORIZON_MS;
  while (t <= limit) {
    const d = new Date(t);
    const [y, mo, day, h, mi] = [
      d.getUTCFullYear(),
      d.getUTCMonth(),
      d.getUTCDate(),
      d.getUTCHours(),
      d.getUTCMinutes(),
    ];
    if (c.months[mo + 1] !== true) t = Date.UTC(y, mo + 1, 1);
    else if (!dayMatches(c, d)) t = Date.UTC(y, mo, day + 1);
    else if (c.hours[h] !== true) t = Date.UTC(y, mo, day, h + 1);
    else if (c.minutes[mi] !== true) t = Date.UTC(y, mo, day, h, mi + 1);
    else if (c.seconds[d.getUTCSeconds()] !== true) t += 1000;
    else return d;
  }
  return null;
}
