/**
 * The requirement table of the evidence pack: each control item an auditor reads (ISO/IEC
 * 27001 A.8.13 / A.12.3.1 with the 27002 §8.13 items, CIS Controls 11.1–11.5, NIST SP
 * 800-53 CP-9 and its enhancements) mapped to the R-ids of REQUIREMENTS.md, a status
 * computed from the report, and the evidence behind it. What software cannot know (an
 * approval, physical protection) is shown as attested in the policy, never as met. No
 * standard's text is reproduced: items are cited by number with a short topic.
 */

import { durationMs, formatMs } from '../policy/duration.js';
import { MAX_DRILL_MS } from '../policy/findings.js';
import type { Policy } from '../policy/schema.js';
import { type DatasetReport, drillInCadence, type Report } from './compute.js';

export type RequirementStatus = 'met' | 'partly met' | 'not met' | 'organisational' | 'not evaluated';

/** The words shown for an item the organisation attests rather than arca measures. */
export const ORGANISATIONAL = 'organisational — attested in the policy';

/** One row of the table. */
export interface RequirementRow {
  framework: 'ISO/IEC 27001' | 'CIS Controls v8' | 'NIST SP 800-53';
  control: string;
  topic: string;
  /** R-ids of REQUIREMENTS.md §1. */
  requirements: string[];
  status: RequirementStatus;
  evidence: string;
}

const WEEK_MS = 7 * 86_400_000;

/** Met when every dataset passes, not met when none does, partly met otherwise. */
function over(datasets: readonly DatasetReport[], pass: (d: DatasetReport) => boolean): RequirementStatus {
  const n = datasets.filter(pass).length;
  if (datasets.length > 0 && n === datasets.length) return 'met';
  return n === 0 ? 'not met' : 'partly met';
}

function which(datasets: readonly DatasetReport[], pass: (d: DatasetReport) => boolean): string {
  const failing = datasets.filter((d) => !pass(d)).map((d) => d.name);
  return failing.length === 0 ? 'every dataset' : `not: ${failing.join(', ')}`;
}

/** Every repository the dataset reaches was checked without errors within its drill cadence. */
function checked(d: DatasetReport, to: string): boolean {
  const every = d.drill_every === null ? MAX_DRILL_MS : durationMs(d.drill_every);
  return d.checks.every((c) => c.at !== null && c.errors === 0 && Date.parse(to) - Date.parse(c.at) <= every);
}

const digit = (d: DatasetReport, name: string) => d.rule_32110.digits.find((x) => x.digit === name)?.status;

/** Builds the table from a computed report (its `requirements` field is not read). */
export function requirementTable(report: Report, policy: Policy): RequirementRow[] {
  const ds = report.datasets;
  // Recency is judged at the period's end, or at generation when the period ends later.
  const to = report.judged_at;
  const m = policy.metadata;
  const findingsFor = (r: string) => report.policy.findings.filter((f) => f.requirement === r);
  const reviewOk = findingsFor('R02').length === 0;
  const policyErrors = report.policy.findings.filter((f) => f.severity === 'error');
  const rpoOk = (d: DatasetReport) => d.achieved_rpo.met;
  const recent = (d: DatasetReport) =>
    d.last_backup !== null &&
    Date.parse(to) - Date.parse(d.last_backup.at) <= Math.min(WEEK_MS, durationMs(d.rpo));
  const offsite = (d: DatasetReport) => digit(d, '1 offsite') === 'pass';
  const immutable = (d: DatasetReport) => digit(d, '1 immutable') !== 'fail';
  const drilled = (d: DatasetReport) => drillInCadence(d, to);
  const encrypted = (d: DatasetReport) => d.encryption.every((e) => e.info?.encrypted === true);
  const retained = (d: DatasetReport) => d.retention.configured;
  const unresolved = report.alerts.filter((a) => !a.resolved);
  const openCas = report.corrective_actions.filter((c) => c.status === 'open');
  const copiedOffsite = (d: DatasetReport) =>
    d.copies.some((c) => c.offsite && c.snapshots > 0 && c.newest !== null && c.newest === newestOf(d));
  const achieved = ds
    .map(
      (d) =>
        `${d.name} ${d.achieved_rpo.seconds === null ? 'no recovery point' : formatMs(d.achieved_rpo.seconds * 1000)} / ${d.rpo}`,
    )
    .join('; ');
  const encryptionEvidence = `restic format: AES-256-CTR + Poly1305-AES, key derived by scrypt (${report.repositories
    .map((r) =>
      r.encryption
        ? `${r.name}: N=${r.encryption.kdf_params.N} r=${r.encryption.kdf_params.r} p=${r.encryption.kdf_params.p}`
        : `${r.name}: not read`,
    )
    .join('; ')})`;
  const iso = (
    control: string,
    topic: string,
    requirements: string[],
    status: RequirementStatus,
    evidence: string,
  ) => ({ framework: 'ISO/IEC 27001', control, topic, requirements, status, evidence }) as const;
  const cis = (
    control: string,
    topic: string,
    requirements: string[],
    status: RequirementStatus,
    evidence: string,
  ) => ({ framework: 'CIS Controls v8', control, topic, requirements, status, evidence }) as const;
  const nist = (
    control: string,
    topic: string,
    requirements: string[],
    status: RequirementStatus,
    evidence: string,
  ) => ({ framework: 'NIST SP 800-53', control, topic, requirements, status, evidence }) as const;
  const journalEvidence = `journal ${report.journal.ok ? 'intact' : 'BROKEN'} (${report.journal.records} records, head ${report.journal.head?.hash?.slice(0, 16) ?? 'none'}…)`;
  const policyEvidence = `policy ${m.id} version ${m.version}, sha256 ${report.policy.sha256.slice(0, 16)}…`;

  return [
    iso(
      'A.8.13 / A.12.3.1',
      'topic-specific backup policy, approved and reviewed',
      ['R01', 'R02', 'R03'],
      'organisational',
      `${ORGANISATIONAL}: ${policyEvidence}, approved by ${m.approved_by} on ${m.approved_on}, next review ${m.next_review}` +
        (reviewOk ? '' : ' (review overdue: see findings)'),
    ),
    iso(
      'A.8.13 / A.12.3.1',
      'backup plans implemented for every asset',
      ['R05', 'R16'],
      policyErrors.length === 0 ? over(ds, (d) => d.last_backup !== null) : 'not met',
      `${ds.length} ${ds.length === 1 ? 'dataset' : 'datasets'} scheduled in the policy; last good backup: ${which(ds, (d) => d.last_backup !== null)}` +
        (policyErrors.length ? `; ${policyErrors.length} policy errors` : ''),
    ),
    iso(
      '27002 8.13(a)',
      'accurate and complete records of backup copies',
      ['R18', 'R50'],
      report.journal.ok ? 'met' : 'not met',
      `${journalEvidence}; ${report.summary.backups} backups recorded in the period`,
    ),
    iso(
      '27002 8.13(a)',
      'documented restoration procedures',
      ['R06'],
      'not evaluated',
      'runbooks are written by arca runbook; not part of this pack',
    ),
    iso(
      '27002 8.13(b)',
      'extent and frequency meet the RPO',
      ['R13', 'R15'],
      over(ds, rpoOk),
      `achieved RPO (largest gap between good recovery points) vs objective: ${achieved}`,
    ),
    iso(
      '27002 8.13(c)',
      'a copy at a remote location',
      ['R32'],
      over(ds, offsite),
      `offsite copy: ${which(ds, offsite)}`,
    ),
    iso(
      '27002 8.13(d)',
      'physical and environmental protection of backups',
      ['R36'],
      'organisational',
      `${ORGANISATIONAL}: sites ${[...new Set(report.repositories.map((r) => r.site))].join(', ')}`,
    ),
    iso(
      '27002 8.13(e)',
      'media tested; restores tested against the required time, on a test system',
      ['R21', 'R23', 'R25', 'R26'],
      over(ds, (d) => drilled(d) && checked(d, to)),
      `drill passed within cadence: ${which(ds, drilled)}; every copy checked without errors: ${which(ds, (d) => checked(d, to))}`,
    ),
    iso(
      '27002 8.13(f)',
      'backups encrypted according to risk',
      ['R37'],
      over(ds, encrypted),
      encryptionEvidence,
    ),
    iso(
      '27002 8.13(g)',
      'inadvertent data loss detected before backup',
      ['R45'],
      'not evaluated',
      'arca has no change-rate anomaly detection yet',
    ),
    iso(
      'A.8.13 / A.12.3.1',
      'backup execution monitored and failures addressed',
      ['R19'],
      unresolved.length === 0 ? 'met' : 'partly met',
      `${report.alerts.length} failures and alerts in the period, ${unresolved.length} unresolved; ` +
        `${report.notifications.length} notifications`,
    ),
    iso(
      'A.8.13 / A.12.3.1',
      'retention set, archive copies kept',
      ['R41', 'R42'],
      over(ds, retained),
      `retention rules: ${which(ds, retained)}; basis: ${ORGANISATIONAL}`,
    ),
    iso(
      '27002 8.13 (cloud)',
      'cloud-held information backed up; provider backup assessed',
      ['R11'],
      'organisational',
      ORGANISATIONAL,
    ),
    cis(
      '11.1',
      'data recovery process documented and reviewed yearly',
      ['R01', 'R02', 'R03'],
      reviewOk ? 'organisational' : 'not met',
      reviewOk
        ? `${ORGANISATIONAL}: ${policyEvidence}, approved ${m.approved_on}, next review ${m.next_review}`
        : findingsFor('R02')
            .map((f) => f.message)
            .join('; '),
    ),
    cis(
      '11.2',
      'automated backups, weekly or more often',
      ['R16', 'R17'],
      over(ds, recent),
      `good backup within the RPO and at most 7 days before the period end: ${which(ds, recent)}`,
    ),
    cis('11.3', 'recovery data protected', ['R37'], over(ds, encrypted), encryptionEvidence),
    cis(
      '11.4',
      'an isolated instance of recovery data',
      ['R34'],
      ds.length > 0 && ds.every(immutable) ? 'organisational' : over(ds, immutable),
      `immutable copy marked in the policy (not probed): ${which(ds, immutable)}`,
    ),
    cis(
      '11.5',
      'recovery tested at least quarterly on a sample',
      ['R23', 'R24', 'R31'],
      over(ds, drilled),
      `non-simulated drill passed within cadence: ${which(ds, drilled)}; ` +
        `${ds.reduce((n, d) => n + d.simulated_drills_ignored, 0)} simulated drills ignored; ` +
        `${openCas.length} open corrective actions`,
    ),
    nist(
      'CP-9',
      'system backup at the defined frequency, consistent with RTO/RPO',
      ['R15', 'R16', 'R17', 'R18', 'R19'],
      over(ds, (d) => rpoOk(d) && recent(d)),
      `${report.summary.backups} backups, success rate ${pct(report.summary.success_rate)}; ${journalEvidence}`,
    ),
    nist(
      'CP-9(1)',
      'testing for reliability and integrity',
      ['R21', 'R22'],
      over(ds, (d) => checked(d, to)),
      `every copy checked without errors within cadence: ${which(ds, (d) => checked(d, to))}`,
    ),
    nist(
      'CP-9(2)',
      'test restoration using sampling',
      ['R24', 'R26', 'R27'],
      over(ds, drilled),
      ds
        .map((d) =>
          d.last_drill === null
            ? `${d.name}: no drill`
            : `${d.name}: ${d.last_drill.result} ${d.last_drill.at}` +
              (d.last_drill.restore_time_seconds === null
                ? ''
                : `, ${d.last_drill.restore_time_kind ?? 'unknown'} ${d.last_drill.restore_time_seconds} s vs RTO ${d.rto}`),
        )
        .join('; '),
    ),
    nist(
      'CP-9(3)',
      'separate storage for critical information',
      ['R33'],
      over(ds, offsite),
      `offsite copy: ${which(ds, offsite)}`,
    ),
    nist(
      'CP-9(5)',
      'transfer to alternate storage site',
      ['R20'],
      over(ds, copiedOffsite),
      `newest snapshot also in an offsite repository: ${which(ds, copiedOffsite)}`,
    ),
    nist('CP-9(8)', 'cryptographic protection', ['R37'], over(ds, encrypted), encryptionEvidence),
  ];
}

function newestOf(d: DatasetReport): string | null {
  const times = d.copies.map((c) => c.newest).filter((t): t is string => t !== null);
  return times.sort().at(-1) ?? null;
}

/** A rate as a percentage with one decimal, or `n/a`. */
export function pct(rate: number | null): string {
  return rate === null ? 'n/a' : `${(rate * 100).toFixed(1)}%`;
}
