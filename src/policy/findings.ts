/**
 * Findings against the control: what `arca policy check` reports about a valid policy, each
 * with the requirement it concerns (R… in REQUIREMENTS.md). Errors are what the control
 * cannot be met with (a schedule that misses the RPO, an RTO beyond the MTD, no retention,
 * a secret written into the file); warnings are what an auditor would question.
 */
import { findInlineSecrets } from './credentials.js';
import { addMonths, formatDate, parseDate } from './date.js';
import { durationMs, formatMs } from './duration.js';
import { formatPath } from './load.js';
import { scheduleGap } from './schedule_gap.js';
import { backupLevels } from './schedules.js';
import type { Policy } from './schema.js';

export type Severity = 'error' | 'warning';

/** One finding: how bad, which requirement, about what (`dataset web`), and what is wrong. */
export interface Finding {
  severity: Severity;
  requirement: string;
  subject: string;
  message: string;
}

/** What {@link checkPolicy} needs besides the policy. */
export interface CheckOptions {
  /** The moment the check is made: review dates are compared with it, schedules played from it. */
  now: Date;
  /** Report warnings as errors. */
  strict?: boolean;
}

/** The longest restore-drill cadence accepted: 3 months (CIS 11.5), taken as the longest 3 calendar months. */
export const MAX_DRILL_MS = 92 * 86_400_000;

const REF_HINT = 'give it by reference: {env: VAR}, {file: PATH} or {command: CMD}';

/** Checks a validated policy against the control; findings in policy order. */
export function checkPolicy(policy: Policy, options: CheckOptions): Finding[] {
  const findings = [
    ...reviewFindings(policy, options.now),
    ...credentialFindings(policy),
    ...Object.keys(policy.datasets).flatMap((name) => datasetFindings(policy, name, options.now)),
  ];
  return options.strict ? findings.map((f) => ({ ...f, severity: 'error' })) : findings;
}

/** `error R15 dataset web: …`, the line `policy check` prints. */
export function formatFinding(f: Finding): string {
  return `${f.severity} ${f.requirement} ${f.subject}: ${f.message}`;
}

/** R02: approved within the last 12 months, and the next review not yet passed. */
function reviewFindings(policy: Policy, now: Date): Finding[] {
  const m = policy.metadata;
  const subject = `policy ${m.id}`;
  const today = parseDate(formatDate(now))!;
  const out: Finding[] = [];
  if (addMonths(parseDate(m.approved_on)!, 12) < today) {
    out.push({
      severity: 'warning',
      requirement: 'R02',
      subject,
      message: `approved on ${m.approved_on}, more than 12 months ago: review it and record the new approval`,
    });
  }
  if (parseDate(m.next_review)! < today) {
    out.push({
      severity: 'warning',
      requirement: 'R02',
      subject,
      message: `its review was due on ${m.next_review}`,
    });
  }
  return out;
}

/** R38: every secret written into the file, by its place (never by its value). */
function credentialFindings(policy: Policy): Finding[] {
  const found = findInlineSecrets(
    policy,
    [
      ['repositories', '*', 'password'],
      ['notifications', 'smtp', 'password'],
      ['datasets', '*', 'sources', 'postgres', '*', 'password'],
      ['datasets', '*', 'sources', 'mysql', '*', 'password'],
    ],
    [
      ['repositories', '*', 'env'],
      ['repositories', '*', 'options'],
      ['notifications', 'smtp'],
    ],
  );
  return found.map(({ path, what }) => ({
    severity: 'error',
    requirement: 'R38',
    subject: subjectOf(path),
    message: `${formatPath(path)}: ${what}; ${REF_HINT}`,
  }));
}

/** A moment to the second, in UTC: `2030-01-06T01:30:00Z`. */
function utc(d: Date): string {
  return `${d.toISOString().slice(0, 19)}Z`;
}

function subjectOf(path: readonly (string | number)[]): string {
  if (path[0] === 'repositories') return `repository ${String(path[1])}`;
  if (path[0] === 'datasets') return `dataset ${String(path[1])}`;
  return String(path[0] ?? 'policy');
}

function datasetFindings(policy: Policy, name: string, now: Date): Finding[] {
  const d = policy.datasets[name]!;
  const subject = `dataset ${name}`;
  const out: Finding[] = [];
  const add = (severity: Severity, requirement: string, message: string) =>
    out.push({ severity, requirement, subject, message });

  // R15: recovery points no further apart than the RPO.
  const levels = backupLevels.filter((l) => d.schedule[l] !== undefined);
  const gap = scheduleGap(
    levels.map((l) => d.schedule[l]!),
    now,
    policy.scheduler?.timezone,
  );
  if (gap.ms > durationMs(d.rpo)) {
    const between =
      gap.from === undefined
        ? ''
        : gap.to === undefined
          ? ` (nothing runs after ${utc(gap.from)})`
          : ` (from ${utc(gap.from)} to ${utc(gap.to)})`;
    add(
      'error',
      'R15',
      `its schedule (${levels.join(', ')}) leaves up to ${formatMs(gap.ms)} between backups${between}, ` +
        `more than its rpo of ${d.rpo}`,
    );
  }

  // R14: a restore that takes longer than the tolerable downtime cannot meet it.
  if (durationMs(d.rto) > durationMs(d.mtd)) {
    add('error', 'R14', `its rto of ${d.rto} is longer than its mtd of ${d.mtd}`);
  }

  // R41: retention set.
  if (d.retention === undefined) {
    add(
      'error',
      'R41',
      'no retention: add retention.keep rules (and archive rules if copies must be kept for good)',
    );
  }

  // R32, R34: an offsite copy and an immutable copy among the repositories it reaches.
  const repos = d.copies.map((r) => policy.repositories[r]!);
  const reaches = `it reaches ${d.copies.join(', ')}`;
  if (!repos.some((r) => r.offsite)) {
    add(
      'warning',
      'R32',
      `no offsite copy (${reaches}); add a repository at another site with offsite: true to its copies`,
    );
  }
  if (!repos.some((r) => r.immutable)) {
    add(
      'warning',
      'R34',
      `no immutable copy (${reaches}); add an append-only or object-locked repository with immutable: true`,
    );
  }

  // R23: restore drills at least quarterly.
  if (d.drill === undefined) {
    add('warning', 'R23', 'no restore-drill cadence: add drill.every (at most 3 months, e.g. 30d)');
  } else if (durationMs(d.drill.every) > MAX_DRILL_MS) {
    add('warning', 'R23', `restore drills every ${d.drill.every}, less often than every 3 months`);
  }
  return out;
}
