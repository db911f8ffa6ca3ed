/**
 * The evidence pack's content as titled tables of text, shared by the HTML and markdown
 * renderings so both say exactly the same thing; only the layout differs (and the HTML
 * adds charts).
 */
import { binaryUnits, formatBytes } from '../cli/format.js';
import { formatMs } from '../policy/duration.js';
import type { DatasetReport, Report } from './compute.js';
import type { ReportPeriod } from './gather.js';
import { pct } from './requirements.js';

/** A table: header cells and rows of text. */
export interface Table {
  caption?: string;
  headers: string[];
  rows: string[][];
}

/** A section of the report: a title, some paragraphs, tables. */
export interface Section {
  id: string;
  title: string;
  paragraphs: string[];
  tables: Table[];
  /** Set for a dataset's section: where the HTML puts its charts. */
  dataset?: string;
}

/** Seconds as a policy-style duration (`1h2m`), or with a fraction below a minute (`1.23 s`). */
export function seconds(s: number | null): string {
  if (s === null) return '—';
  if (s < 60) return `${Number(s.toFixed(2))} s`;
  return formatMs(s * 1000);
}

/** The last day a period includes (`to` is exclusive: a period to 2026-10-01T00:00Z ends with 2026-09-30). */
export function lastDay(period: ReportPeriod): string {
  return new Date(Date.parse(period.to) - 1).toISOString().slice(0, 10);
}

/** Bytes in binary units, or a dash. */
export function bytes(n: number | null): string {
  return n === null ? '—' : formatBytes(n);
}

/** Bytes in binary units with three significant digits, for chart axes (`285 KiB`). */
export function shortBytes(n: number): string {
  const { value, unit } = binaryUnits(n);
  return `${Number(value.toPrecision(3))} ${unit}`;
}

const t = (iso: string | null) => (iso === null ? '—' : iso.replace(/\.\d{3}Z$/, 'Z'));
const yes = (b: boolean | null) => (b === null ? '—' : b ? 'yes' : 'no');

/** Every section of the report, in reading order. */
export function reportSections(r: Report): Section[] {
  return [
    summarySection(r),
    policySection(r),
    repositoriesSection(r),
    ...r.datasets.map(datasetSection),
    alertsSection(r),
    correctiveSection(r),
    requirementsSection(r),
    journalSection(r),
  ];
}

function summarySection(r: Report): Section {
  const s = r.summary;
  return {
    id: 'summary',
    title: 'Summary',
    paragraphs: [
      `Period ${t(r.period.from)} to ${t(r.period.to)}; generated ${t(r.generated_at)} from the policy, the journal and the repositories.` +
        (r.judged_at === r.period.to
          ? ''
          : ` The period ends after the report was generated: the achieved RPO, cadences and recency are judged at ${t(r.judged_at)}.`),
    ],
    tables: [
      {
        headers: ['measure', 'value'],
        rows: [
          ['datasets', String(s.datasets)],
          ['backups in the period', String(s.backups)],
          ['backup success rate', pct(s.success_rate)],
          ['datasets within their RPO (achieved)', `${s.rpo_met} of ${s.datasets}`],
          ['datasets meeting 3-2-1-1-0', `${s.rule_32110_holds} of ${s.datasets}`],
          ['datasets with a passed drill within cadence', `${s.drills_passed_in_cadence} of ${s.datasets}`],
          ['unresolved failures and alerts', String(s.unresolved_alerts)],
          ['open corrective actions', String(s.open_corrective_actions)],
          ['journal chain', r.journal.ok ? `intact (${r.journal.records} records)` : 'BROKEN'],
        ],
      },
    ],
  };
}

function policySection(r: Report): Section {
  const p = r.policy;
  return {
    id: 'policy',
    title: 'Policy',
    paragraphs: [],
    tables: [
      {
        headers: ['field', 'value'],
        rows: [
          ['id', p.id],
          ['version', p.version],
          ['sha256', p.sha256],
          ['file', p.file],
          ['owner', p.owner],
          ['approved by (attested)', `${p.approved_by} on ${p.approved_on}`],
          ['next review', p.next_review],
        ],
      },
      {
        caption: `Findings of arca policy check (${p.findings.length})`,
        headers: ['severity', 'requirement', 'subject', 'finding'],
        rows: p.findings.map((f) => [f.severity, f.requirement, f.subject, f.message]),
      },
    ],
  };
}

function repositoriesSection(r: Report): Section {
  return {
    id: 'repositories',
    title: 'Repositories',
    paragraphs: [
      'restic repositories are always encrypted (AES-256-CTR with Poly1305-AES); the key is derived from the password by scrypt with the parameters shown, read from the key file.',
    ],
    tables: [
      {
        headers: [
          'name',
          'location',
          'site',
          'media',
          'offsite',
          'immutable',
          'state',
          'snapshots',
          'encryption',
        ],
        rows: r.repositories.map((x) => [
          x.name,
          x.location,
          x.site,
          x.media,
          yes(x.offsite),
          x.immutable ? 'yes (attested, not probed)' : 'no',
          x.reachable ? 'reachable' : `unreachable: ${x.error ?? ''}`,
          `${x.snapshots} (journal ${x.journal_snapshots}, reports ${x.report_snapshots})`,
          x.encryption
            ? `${x.encryption.cipher} + ${x.encryption.mac}; ${x.encryption.kdf} N=${x.encryption.kdf_params.N} r=${x.encryption.kdf_params.r} p=${x.encryption.kdf_params.p}; format v${x.encryption.repository_version}`
            : '—',
        ]),
      },
    ],
  };
}

function datasetSection(d: DatasetReport): Section {
  const b = d.backups;
  const a = d.achieved_rpo;
  const ret = d.retention;
  const drill = d.last_drill;
  return {
    id: `dataset-${d.name}`,
    title: `Dataset ${d.name}`,
    dataset: d.name,
    paragraphs: [
      `Tier ${d.tier}, owner ${d.owner}, classification ${d.classification}; RPO ${d.rpo}, RTO ${d.rto}, MTD ${d.mtd}; drills every ${d.drill_every ?? '(not set)'}.`,
    ],
    tables: [
      {
        headers: ['measure', 'value'],
        rows: [
          [
            'last successful backup',
            d.last_backup
              ? `${t(d.last_backup.at)} (${d.last_backup.level ?? '?'}, snapshot ${d.last_backup.snapshot_id?.slice(0, 8) ?? '—'}, ${d.last_backup.repository ?? '—'})`
              : 'none',
          ],
          [
            'backups in the period',
            `${b.total}: ${b.success} success, ${b.partial} partial, ${b.failed} failed, ${b.interrupted} interrupted`,
          ],
          ['success rate', pct(b.success_rate)],
          [
            'achieved RPO',
            a.seconds === null
              ? `no good recovery point (objective ${d.rpo}): not met`
              : `${seconds(a.seconds)} (largest gap ${t(a.from)} to ${t(a.to)}; ${a.points} points in the period) against ${d.rpo}: ${a.met ? 'met' : 'NOT met'}`,
          ],
          [
            'last drill',
            drill
              ? `${drill.drill_id ?? `seq ${drill.seq}`} ${t(drill.at)}: ${drill.result}; restore time ${seconds(drill.restore_time_seconds)} (${drill.restore_time_kind ?? '—'}) against RTO ${d.rto}: ${drill.rto_met === null ? '—' : drill.rto_met ? 'met' : 'missed'}` +
                (drill.failure ? `; ${drill.failure}` : '')
              : 'none',
          ],
          ['simulated drills (not counted)', String(d.simulated_drills_ignored)],
          [
            'encryption',
            d.encryption
              .map(
                (e) =>
                  `${e.name}: ${e.info ? `${e.info.cipher} + ${e.info.mac}, ${e.info.kdf}` : 'not read'}`,
              )
              .join('; '),
          ],
        ],
      },
      {
        caption: 'Copies',
        headers: [
          'repository',
          'site',
          'media',
          'offsite',
          'immutable',
          'snapshots',
          'newest',
          'last written',
          'counts for 3-2-1-1-0',
        ],
        rows: d.copies.map((c) => [
          c.repository,
          c.site,
          c.media,
          yes(c.offsite),
          yes(c.immutable),
          c.reachable ? String(c.snapshots) : `unreachable: ${c.error ?? ''}`,
          t(c.newest),
          t(c.last_written_at),
          c.not_counted === null ? 'yes' : 'no (see 3-2-1-1-0)',
        ]),
      },
      {
        caption: `3-2-1-1-0: ${d.rule_32110.holds ? 'holds' : 'does not hold'}`,
        headers: ['digit', 'status', 'why'],
        rows: d.rule_32110.digits.map((x) => [x.digit, x.status, x.reason]),
      },
      {
        caption: 'Retention',
        headers: ['field', 'value'],
        rows: [
          ['keep rules', ret.keep ? JSON.stringify(ret.keep) : 'none configured'],
          ['archive tags', ret.archive_tags.join(', ') || '—'],
          ['legal hold', ret.legal_hold ? JSON.stringify(ret.legal_hold) : 'none'],
          ['basis (attested)', ret.basis ?? '—'],
          [
            'snapshots kept',
            Object.entries(ret.snapshots_kept)
              .map(([k, v]) => `${k}: ${v}`)
              .join('; '),
          ],
          [
            'last forget',
            ret.last_forget
              ? `${t(ret.last_forget.at)} in ${ret.last_forget.repository ?? '—'}: ${ret.last_forget.result}, ${ret.last_forget.removed ?? 0} removed`
              : '—',
          ],
        ],
      },
      {
        caption: 'Integrity checks (newest per repository)',
        headers: ['repository', 'when', 'result', 'errors', 'data read'],
        rows: d.checks.map((c) => [
          c.repository,
          t(c.at),
          c.result ?? 'never checked',
          c.errors === null ? '—' : String(c.errors),
          c.read_data ?? '—',
        ]),
      },
      {
        caption: 'Drills in the period (simulated drills excluded)',
        headers: ['drill', 'when', 'from', 'scope', 'result', 'restore time', 'kind', 'RTO met', 'RPO met'],
        rows: d.drills.map((x) => [
          x.drill_id ?? `seq ${x.seq}`,
          t(x.at),
          x.repository ?? '—',
          x.scope ?? '—',
          x.result,
          seconds(x.restore_time_seconds),
          x.restore_time_kind ?? '—',
          yes(x.rto_met),
          x.rpo_met === null ? 'not judged' : yes(x.rpo_met),
        ]),
      },
      {
        caption: 'Backups in the period',
        headers: ['started', 'level', 'result', 'repository', 'duration', 'read', 'added'],
        rows: d.history.map((h) => [
          t(h.at),
          h.level ?? '—',
          h.result,
          h.repository ?? '—',
          seconds(h.duration_seconds),
          bytes(h.bytes_read),
          bytes(h.bytes_added),
        ]),
      },
    ],
  };
}

function alertsSection(r: Report): Section {
  return {
    id: 'alerts',
    title: 'Failures and alerts',
    paragraphs: [
      'A failure is resolved by the next success of the same operation for the same dataset (or repository); an RPO breach by the next good backup.',
    ],
    tables: [
      {
        headers: ['seq', 'when', 'operation', 'dataset', 'repository', 'result', 'error', 'resolved'],
        rows: r.alerts.map((a) => [
          String(a.seq),
          t(a.at),
          a.operation,
          a.dataset ?? '—',
          a.repository ?? '—',
          a.result,
          a.error ?? '—',
          a.resolved ? `yes, by seq ${a.resolved_by_seq} at ${t(a.resolved_at)}` : 'NO',
        ]),
      },
      {
        caption: 'Notifications',
        headers: ['seq', 'when', 'dataset', 'channel', 'event', 'result', 'error'],
        rows: r.notifications.map((n) => [
          String(n.seq),
          t(n.at),
          n.dataset ?? '—',
          n.channel ?? '—',
          n.event ?? '—',
          n.result,
          n.error ?? '—',
        ]),
      },
    ],
  };
}

function correctiveSection(r: Report): Section {
  return {
    id: 'corrective-actions',
    title: 'Corrective actions',
    paragraphs: [],
    tables: [
      {
        headers: ['id', 'dataset', 'opened', 'drill', 'stage', 'description', 'status', 'closed'],
        rows: r.corrective_actions.map((c) => [
          c.id,
          c.dataset ?? '—',
          t(c.opened_at),
          c.drill_id ?? '—',
          c.stage ?? '—',
          c.description ?? '—',
          c.status,
          c.status === 'closed' ? `${t(c.closed_at)} by ${c.closed_by_drill ?? '—'}` : '—',
        ]),
      },
    ],
  };
}

function requirementsSection(r: Report): Section {
  return {
    id: 'requirements',
    title: 'Requirements and evidence',
    paragraphs: [
      'Status computed from the data above. R-ids refer to the requirement list arca implements. Items software cannot know are shown as organisational, attested in the policy, and not claimed.',
    ],
    tables: [
      {
        headers: ['framework', 'control', 'topic', 'requirements', 'status', 'evidence'],
        rows: r.requirements.map((x) => [
          x.framework,
          x.control,
          x.topic,
          x.requirements.join(', '),
          x.status,
          x.evidence,
        ]),
      },
    ],
  };
}

function journalSection(r: Report): Section {
  const j = r.journal;
  return {
    id: 'journal',
    title: 'Journal chain verification',
    paragraphs: [
      j.ok
        ? `The hash chain of ${j.records} records is intact. Note the head to prove later that the journal has only grown (arca journal verify --expect-head).`
        : `The hash chain is BROKEN: ${j.problems.join('; ')}`,
    ],
    tables: [
      {
        headers: ['field', 'value'],
        rows: [
          ['journal', j.file],
          ['records checked', String(j.records)],
          ['head seq', String(j.head?.seq ?? '—')],
          ['head hash', j.head?.hash ?? '—'],
        ],
      },
    ],
  };
}
