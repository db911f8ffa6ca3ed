/**
 * The retention policy: which snapshots `forget` keeps, decided exactly as restic 0.14 decides
 * (`internal/restic/snapshot_policy.go`, `snapshot_group.go`, `duration.go`, `tag_list.go`),
 * checked against the real binary by `test/forget.oracle.test.ts`.
 *
 * Time semantics, as restic has them:
 * - Hourly/daily/weekly/monthly/yearly buckets use the wall clock *recorded in the snapshot*
 *   (its own UTC offset), not the zone of the process running `forget`, so the same
 *   repository is bucketed identically everywhere. Weeks are ISO 8601 weeks.
 * - `within*` durations count back from the newest snapshot of the group that is not in
 *   the future (snapshots at or after `now` are ignored for the reference; if every snapshot
 *   is in the future, the reference is Go's zero time and everything is "within"). Years,
 *   months and days are calendar steps with Go's `AddDate` normalisation (31 March minus one
 *   month is 3 March), hours are exact 3600 s. A snapshot exactly at the cutoff is not within.
 * - The calendar step is taken in the reference snapshot's zone. Go parses a recorded offset
 *   into the process's local zone when that zone had the offset at that instant, so then the
 *   step follows local DST rules; otherwise it is a fixed offset. This is the one place the
 *   result depends on the process zone (TZ), in restic as here: with TZ=Europe/Berlin,
 *   2022-04-10 02:00+02:00 minus 30d is 2022-03-11 02:00+01:00; with TZ=UTC it is 01:00+01:00.
 *   An offset of 0 is taken as `Z` (Go's UTC, never local), which is how restic writes it.
 *
 * Where restic HEAD differs from 0.14, this module follows 0.14 except:
 * - a count of -1 means "unlimited" and other negative counts and negative durations are
 *   rejected (restic ≥ 0.15). restic 0.14 accepts negative values silently and then keeps
 *   nothing by that rule while the policy still counts as non-empty, which removes
 *   everything else: a data-loss trap this module refuses to reproduce.
 * - Not adopted: restic ≥ 0.16 also keeps a group's oldest snapshot while a count is left;
 *   0.14 does not, and neither does this module.
 * Snapshots with identical times keep their input order (restic HEAD sorts stably too; its
 * input order comes from the repository listing, so exact ties are not oracle-comparable).
 */
import { ArcaError } from '../errors.js';
import { type GoTime, goTimeToNs, parseGoTime } from '../repo/gojson.js';
import type { Snapshot } from '../repo/snapshot.js';

/** A `--keep-within*` span, as restic's `Duration`: calendar years, months, days and hours. */
export interface Duration {
  years: number;
  months: number;
  days: number;
  hours: number;
}

/** What `forget` keeps; absent fields are 0 (or empty), and a policy with nothing set keeps everything. */
export interface KeepPolicy {
  /** Keep the newest n snapshots; -1 keeps all. */
  last?: number;
  /** Keep the newest snapshot of each of the n newest hours that have one; -1: of every hour. */
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
  /** Keep every snapshot newer than the newest snapshot minus this. */
  within?: Duration;
  /** Keep the newest snapshot of each hour within this span of the newest snapshot. */
  withinHourly?: Duration;
  withinDaily?: Duration;
  withinWeekly?: Duration;
  withinMonthly?: Duration;
  withinYearly?: Duration;
  /** `--keep-tag` values: each a comma-separated list; a snapshot with all tags of any list is kept. */
  tags?: string[];
}

/** How many keeps each counted rule had left after a snapshot; zero counters are absent (restic's `omitempty`). */
export interface KeepCounters {
  last?: number;
  hourly?: number;
  daily?: number;
  weekly?: number;
  monthly?: number;
  yearly?: number;
}

/** A kept snapshot, the rules that kept it (restic's `matches`) and the counters after it. */
export interface KeptSnapshot {
  snapshot: Snapshot;
  reasons: string[];
  counters: KeepCounters;
}

/** The outcome for one group: both lists newest first. */
export interface PolicyResult {
  keep: KeptSnapshot[];
  remove: Snapshot[];
}

/** Which snapshot fields split snapshots into groups that the policy treats separately. */
export interface GroupBy {
  host: boolean;
  paths: boolean;
  tags: boolean;
}

/** restic's default grouping, `--group-by host,paths`. */
export const defaultGroupBy: Readonly<GroupBy> = Object.freeze({ host: true, paths: true, tags: false });

/** What a group's snapshots share (restic's `SnapshotGroupKey`); fields not grouped by are `''`/`null`. */
export interface SnapshotGroupKey {
  hostname: string;
  /** Sorted. */
  paths: string[] | null;
  /** Sorted; `null` also for untagged snapshots when grouping by tags. */
  tags: string[] | null;
}

/** Snapshots sharing a group key, in input order. */
export interface SnapshotGroup {
  key: SnapshotGroupKey;
  snapshots: Snapshot[];
}

type CountRule = 'last' | 'hourly' | 'daily' | 'weekly' | 'monthly' | 'yearly';
type WithinRule = 'withinHourly' | 'withinDaily' | 'withinWeekly' | 'withinMonthly' | 'withinYearly';

const countRules: readonly CountRule[] = ['last', 'hourly', 'daily', 'weekly', 'monthly', 'yearly'];
const withinRules: readonly WithinRule[] = [
  'withinHourly',
  'withinDaily',
  'withinWeekly',
  'withinMonthly',
  'withinYearly',
];

/** Go's `strings.TrimSpace`: Unicode White_Space at both ends. */
function _goTrimSpace(s: string): string {
  return s.replace(/^\p{White_Space}+|\p{White_Space}+$/gu, '');
}

/**
 * Parses a duration as restic's `ParseDuration` does: `<n><unit>` pairs with units y, m
 * (months), d, h, e.g. `1y2m3d4h`; surrounding white space is ignored, a later pair for the
 * same unit replaces an earlier one, `-` negates a number, and `''` is the zero duration.
 * Throws ArcaError `usage` with restic's reason ("no number found", "no unit found after
 * number 30", "invalid unit 'w' found after number 2"); where restic panics (digits other
 * than 0–9, numbers beyond 2^53) it throws too.
 */
export function parseDuration(text: string): Duration {
  const d: Duration = { years: 0, months: 0, days: 0, hours: 0 };
  const fail = (why: string): never => {
    throw new ArcaError('usage', `invalid duration ${JSON.stringify(text)}: ${why}`);
  };
  let rest = _goTrimSpace(text);
  while (rest !== '') {
    // restic collects every Unicode number character, then asks strconv.Atoi for the value.
    const m = /^(-?)(\p{N}*)/u.exec(rest)!;
    const digits = m[2] ?? '';
    if (digits === '') fail('no number found');
    if (!/^[0-9]+$/.test(digits)) fail(`${JSON.stringify(digits)} is not a decimal number`);
    const magnitude = Number(digits);
    if (!Number.isSafeInteger(magnitude)) fail(`number ${digits} is too large`);
    const num = m[1] === '-' && magnitude !== 0 ? -magnitude : magnitude;
    rest = rest.slice(m[0].length);
    if (rest === '') fail(`no unit found after number ${num}`);
    const unit = String.fromCodePoint(rest.codePointAt(0)!);
    if (unit === 'y') d.years = num;
    else if (unit === 'm') d.months = num;
    else if (unit === 'd') d.days = num;
    else if (unit === 'h') d.hours = num;
    else fail(`invalid unit '${unit}' found after number ${num}`);
    rest = rest.slice(1);
  }
  return d;
}

/** A duration as restic prints it (`1y2m3d4h`, zero parts left out; `''` for zero). */
export function formatDuration(d: Duration): string {
  let s = '';
  if (d.years !== 0) s += `${d.years}y`;
  if (d.months !== 0) s += `${d.months}m`;
  if (d.days !== 0) s += `${d.days}d`;
  if (d.hours !== 0) s += `${d.hours}h`;
  return s;
}

function _isZero(d: Duration | undefined): boolean {
  return d === undefined || (d.years === 0 && d.months === 0 && d.days === 0 && d.hours === 0);
}

/** True when nothing is set: restic's `forget` then removes nothing and prints nothing with `--json`. */
export function isEmptyPolicy(p: KeepPolicy): boolean {
  return (
    (p.tags ?? []).length === 0 &&
    countRules.every((r) => (p[r] ?? 0) === 0) &&
    _isZero(p.within) &&
    withinRules.every((r) => _isZero(p[r]))
  );
}

/** Throws ArcaError `usage` unless counts are whole numbers ≥ -1 and durations have no negative part (restic ≥ 0.15's checks). */
export function validatePolicy(p: KeepPolicy): void {
  for (const rule of countRules) {
    const n = p[rule] ?? 0;
    if (!Number.isSafeInteger(n) || n < -1) {
      throw new ArcaError('usage', `keep-${rule} must be a whole number ≥ 0, or -1 for unlimited (got ${n})`);
    }
  }
  for (const rule of ['within', ...withinRules] as const) {
    const d = p[rule];
    if (d === undefined) continue;
    const parts = [d.years, d.months, d.days, d.hours];
    if (!parts.every(Number.isSafeInteger)) {
      throw new ArcaError('usage', `${rule} must have whole-number parts (got ${JSON.stringify(d)})`);
    }
    if (parts.some((n) => n < 0)) {
      throw new ArcaError(
        'usage',
        `durations containing negative values are not allowed (${rule} ${formatDuration(d)})`,
      );
    }
  }
}

/** restic's `Applying Policy: …` text, e.g. `keep 2 latest, 7 daily snapshots and all snapshots within 1y of the newest`. */
export function describePolicy(p: KeepPolicy): string {
  const names: Record<CountRule, string> = {
    last: 'latest',
    hourly: 'hourly',
    daily: 'daily',
    weekly: 'weekly',
    monthly: 'monthly',
    yearly: 'yearly',
  };
  const keeps: string[] = [];
  for (const rule of countRules) {
    const n = p[rule] ?? 0;
    if (n > 0) keeps.push(`${n} ${names[rule]}`);
    else if (n === -1) keeps.push(`all ${names[rule]}`);
  }
  const withins = withinRules
    .filter((rule) => !_isZero(p[rule]))
    .map((rule) => `${rule.slice(6).toLowerCase()} snapshots within ${formatDuration(p[rule]!)}`);
  let s = keeps.length > 0 ? `${keeps.join(', ')} snapshots` : '';
  if (withins.length > 0) s += (s === '' ? '' : ', ') + withins.join(', ');
  const tagLists = (p.tags ?? []).map(_splitTagList);
  if (tagLists.length > 0) {
    s += (s === '' ? '' : ' and ') + `all snapshots with tags [${tagLists.map(_showTagList).join(' ')}]`;
  }
  if (!_isZero(p.within))
    s += (s === '' ? '' : ' and ') + `all snapshots within ${formatDuration(p.within!)} of the newest`;
  return 'keep ' + s;
}

/**
 * Parses `--group-by`: comma-separated `host`/`hosts`, `path`/`paths`, `tag`/`tags`; empty
 * items are ignored, so `''` means one group. Case and white space matter, as in restic.
 */
export function parseGroupBy(text: string): GroupBy {
  const g: GroupBy = { host: false, paths: false, tags: false };
  for (const option of text.split(',')) {
    if (option === 'host' || option === 'hosts') g.host = true;
    else if (option === 'path' || option === 'paths') g.paths = true;
    else if (option === 'tag' || option === 'tags') g.tags = true;
    else if (option !== '') throw new ArcaError('usage', `unknown grouping option: '${option}'`);
  }
  return g;
}

/** Go's `sort.Strings` order: by UTF-8 bytes. */
function _byBytes(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, 'utf8'), Buffer.from(b, 'utf8'));
}

/**
 * Splits snapshots into groups as restic's `GroupSnapshots` does: same host (if grouped by
 * host), same set of paths (compared sorted), same set of tags (sorted). Groups come out
 * ordered by host, paths, tags (restic's map order is random); snapshots keep input order.
 */
export function groupSnapshots(snaps: readonly Snapshot[], groupBy: GroupBy): SnapshotGroup[] {
  const groups = new Map<string, SnapshotGroup>();
  for (const s of snaps) {
    const key: SnapshotGroupKey = {
      hostname: groupBy.host ? (s.hostname ?? '') : '',
      paths: groupBy.paths ? [...s.paths].sort(_byBytes) : null,
      tags: groupBy.tags && s.tags !== undefined ? [...s.tags].sort(_byBytes) : null,
    };
    const k = JSON.stringify(key);
    const group = groups.get(k);
    if (group === undefined) groups.set(k, { key, snapshots: [s] });
    else group.snapshots.push(s);
  }
  return [...groups.values()].sort((a, b) => _compareKeys(a.key, b.key));
}

/** Orders group keys by host, then paths, then tags (`null` first, then element by element). */
function _compareKeys(a: SnapshotGroupKey, b: SnapshotGroupKey): number {
  const lists = (x: string[] | null, y: string[] | null): number => {
    if (x === null || y === null) return (x === null ? 0 : 1) - (y === null ? 0 : 1);
    for (let i = 0; i < Math.min(x.length, y.length); i++) {
      const c = _byBytes(x[i]!, y[i]!);
      if (c !== 0) return c;
    }
    return x.length - y.length;
  };
  return _byBytes(a.hostname, b.hostname) || lists(a.paths, b.paths) || lists(a.tags, b.tags);
}

/** restic's `splitTagList`: split at commas, trim each tag. */
function _splitTagList(list: string): string[] {
  return list.split(',').map(_goTrimSpace);
}

/** restic's `TagList.String`. */
function _showTagList(tags: readonly string[]): string {
  return `[${tags.join(', ')}]`;
}

/**
 * restic's `HasTags`, order quirk included: an empty tag matches an untagged snapshot as
 * soon as it is reached, so `,x` keeps untagged snapshots and `x,` keeps nothing.
 */
function _hasTags(s: Snapshot, list: readonly string[]): boolean {
  const have = s.tags ?? [];
  for (const tag of list) {
    if (tag === '' && have.length === 0) return true;
    if (!have.includes(tag)) return false;
  }
  return true;
}

/**
 * A time as Go's `json.Unmarshal` leaves it: the instant, its recorded offset, and whether
 * Go chose the process's local zone for it (it does when that zone had the offset then).
 */
interface _Instant {
  ns: bigint;
  time: Required<GoTime>;
  local: boolean;
}

/** The process zone's UTC offset in seconds at Unix second `sec` (Go's `Local.lookup`). */
function _localOffsetSec(sec: number): number {
  return -new Date(sec * 1000).getTimezoneOffset() * 60;
}

function _instant(text: string): _Instant {
  const time = parseGoTime(text);
  const offset = time.offsetMinutes * 60;
  return { ns: goTimeToNs(time), time, local: offset !== 0 && _localOffsetSec(Number(time.sec)) === offset };
}

/** Go's zero `time.Time` (0001-01-01 UTC), restic's reference when every snapshot is in the future. */
const goZeroTime: _Instant = (() => {
  const time = { sec: -62_135_596_800n, nsec: 0, offsetMinutes: 0 };
  return { ns: goTimeToNs(time), time, local: false };
})();

/** The wall clock of `t` in its own zone, as the UTC fields of a Date. */
function _wall(t: Required<GoTime>): Date {
  return new Date((Number(t.sec) + t.offsetMinutes * 60) * 1000);
}

/**
 * Go's `t.AddDate(-y, -m, -d).Add(-h hours)` in nanoseconds: a calendar step on `t`'s wall
 * clock, converted back in `t`'s zone (Go's `Date` offset resolution for the local zone).
 */
function _pastTime(t: _Instant, d: Duration): bigint {
  const wall = _wall(t.time);
  wall.setUTCFullYear(
    wall.getUTCFullYear() - d.years,
    wall.getUTCMonth() - d.months,
    wall.getUTCDate() - d.days,
  );
  const wallSec = wall.getTime() / 1000;
  // Beyond the Date range the cutoff lies before any snapshot (durations are not negative).
  if (Number.isNaN(wallSec)) return -(2n ** 128n);
  let offset = t.time.offsetMinutes * 60;
  if (t.local) {
    const guess = _localOffsetSec(wallSec);
    offset = guess === 0 ? 0 : _localOffsetSec(wallSec - guess);
  }
  const sec = BigInt(wallSec - offset) - BigInt(d.hours) * 3600n;
  return sec * 1_000_000_000n + BigInt(t.time.nsec);
}

function _isoWeek(wall: Date): number {
  const dayMs = 86_400_000;
  const thursday = new Date(wall.getTime() + (3 - ((wall.getUTCDay() + 6) % 7)) * dayMs);
  const jan1 = new Date(thursday.getTime());
  jan1.setUTCMonth(0, 1);
  return thursday.getUTCFullYear() * 100 + Math.floor((thursday.getTime() - jan1.getTime()) / dayMs / 7) + 1;
}

type Bucketer = (wall: Date, nr: number) => number;

const bucketers: Record<CountRule, Bucketer> = {
  last: (_wall, nr) => nr,
  hourly: (w) =>
    w.getUTCFullYear() * 1_000_000 + (w.getUTCMonth() + 1) * 10_000 + w.getUTCDate() * 100 + w.getUTCHours(),
  daily: (w) => w.getUTCFullYear() * 10_000 + (w.getUTCMonth() + 1) * 100 + w.getUTCDate(),
  weekly: _isoWeek,
  monthly: (w) => w.getUTCFullYear() * 100 + w.getUTCMonth() + 1,
  yearly: (w) => w.getUTCFullYear(),
};

const withinBuckets: readonly { rule: WithinRule; bucketer: Bucketer; reason: string }[] = [
  { rule: 'withinHourly', bucketer: bucketers.hourly, reason: 'hourly within' },
  { rule: 'withinDaily', bucketer: bucketers.daily, reason: 'daily within' },
  { rule: 'withinWeekly', bucketer: bucketers.weekly, reason: 'weekly within' },
  { rule: 'withinMonthly', bucketer: bucketers.monthly, reason: 'monthly within' },
  { rule: 'withinYearly', bucketer: bucketers.yearly, reason: 'yearly within' },
];

/**
 * restic's `ApplyPolicy` for one group: walks the snapshots newest first and keeps one when
 * it has a `tags` list, is `within` the newest, or opens a new hour/day/week/month/year bucket
 * of a rule that has keeps left (which uses one up), or of a `within*` rule within its span.
 * Reasons are restic's strings in restic's order. `now` only decides which snapshots are in
 * the future (excluded as the `within` reference). Throws ArcaError `usage` for an invalid
 * policy and `corrupt` for an unreadable snapshot time.
 */
export function applyPolicy(
  snaps: readonly Snapshot[],
  policy: KeepPolicy,
  now: Date = new Date(),
): PolicyResult {
  validatePolicy(policy);
  const list = snaps
    .map((snapshot) => ({ snapshot, when: _instant(snapshot.time) }))
    .sort((a, b) => (a.when.ns < b.when.ns ? 1 : a.when.ns > b.when.ns ? -1 : 0));
  if (isEmptyPolicy(policy)) {
    return {
      keep: list.map(({ snapshot }) => ({ snapshot, reasons: ['policy is empty'], counters: {} })),
      remove: [],
    };
  }

  const nowNs = BigInt(now.getTime()) * 1_000_000n;
  let latest = goZeroTime;
  for (const { when } of list) {
    if (when.ns > latest.ns && when.ns < nowNs) latest = when;
  }
  const cutoff = (d: Duration | undefined): bigint | null => (_isZero(d) ? null : _pastTime(latest, d!));
  const withinCutoff = cutoff(policy.within);
  const counted = countRules.map((rule) => ({ rule, left: policy[rule] ?? 0, last: -1 }));
  const withins = withinBuckets.map((b) => ({ ...b, cutoff: cutoff(policy[b.rule]), last: -1 }));
  const tagLists = (policy.tags ?? []).map(_splitTagList);

  const result: PolicyResult = { keep: [], remove: [] };
  list.forEach(({ snapshot, when }, nr) => {
    const reasons: string[] = [];
    for (const tags of tagLists) {
      if (_hasTags(snapshot, tags)) reasons.push(`has tags ${_showTagList(tags)}`);
    }
    if (withinCutoff !== null && when.ns > withinCutoff)
      reasons.push(`within ${formatDuration(policy.within!)}`);
    const wall = _wall(when.time);
    for (const bucket of counted) {
      if (bucket.left === 0) continue;
      const value = bucketers[bucket.rule](wall, nr);
      if (value === bucket.last) continue;
      bucket.last = value;
      if (bucket.left > 0) bucket.left--;
      reasons.push(`${bucket.rule} snapshot`);
    }
    for (const bucket of withins) {
      if (bucket.cutoff === null || when.ns <= bucket.cutoff) continue;
      const value = bucket.bucketer(wall, nr);
      if (value === bucket.last) continue;
      bucket.last = value;
      reasons.push(`${bucket.reason} ${formatDuration(policy[bucket.rule]!)}`);
    }
    if (reasons.length === 0) {
      result.remove.push(snapshot);
      return;
    }
    const counters: KeepCounters = {};
    for (const { rule, left } of counted) if (left !== 0) counters[rule] = left;
    result.keep.push({ snapshot, reasons, counters });
  });
  return result;
}
