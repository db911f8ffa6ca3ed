/**
 * What `arca report` does: gather the policy, the journal and the repositories, compute the
 * report, write the pack, and (unless --no-store) back it up into every repository. Kept
 * apart from the command's registration so that its modules load only when it runs.
 */
import path from 'node:path';
import { ArcaError } from '../errors.js';
import { Journal } from '../journal/journal.js';
import { journalPath } from '../journal/path.js';
import { readPolicy, resolvePolicyFile } from '../policy/load.js';
import { computeReport } from '../report/compute.js';
import { gatherReport, type ReportPeriod } from '../report/gather.js';
import { type ReportFormat, reportFormats, storePack, writePack } from '../report/pack.js';
import { lastDay } from '../report/tables.js';
import { hostName } from '../runner/context.js';
import type { RepoAccess } from '../runner/repos.js';
import { parseTime } from './cmd_journal.js';
import type { ReportOptions } from './cmd_report.js';
import type { Output } from './context.js';

const DEFAULT_DAYS = 90;
const dateOnly = /^\d{4}-\d{2}-\d{2}$/;

/** The period from `--from`/`--to`: a date alone as `--to` includes that whole day. */
export function parsePeriod(from: string | undefined, to: string | undefined, now: Date): ReportPeriod {
  let end = to === undefined ? now : parseTime(to, '--to', now.getTime());
  if (to !== undefined && dateOnly.test(to)) end = new Date(end.getTime() + 86_400_000);
  const start =
    from === undefined
      ? new Date(end.getTime() - DEFAULT_DAYS * 86_400_000)
      : parseTime(from, '--from', now.getTime());
  if (start >= end)
    throw new ArcaError('usage', `the period is empty: --from ${from ?? ''} is not before --to ${to ?? ''}`);
  return { from: start.toISOString(), to: end.toISOString() };
}

/** The formats from `--format` (repeated or comma-separated); all by default. */
export function parseFormats(values: readonly string[] | undefined): ReportFormat[] {
  if (values === undefined || values.length === 0) return [...reportFormats];
  const out = new Set<ReportFormat>();
  for (const v of values.flatMap((x) => x.split(','))) {
    const f = v.trim();
    if (!(reportFormats as readonly string[]).includes(f))
      throw new ArcaError('usage', `invalid --format ${JSON.stringify(f)} (${reportFormats.join(', ')})`);
    out.add(f as ReportFormat);
  }
  return [...out];
}

/** `arca report`: writes the pack; exit 1 when it could not be stored into a repository. */
export async function reportCommand(o: ReportOptions, out: Output): Promise<void> {
  const now = new Date();
  const period = parsePeriod(o.from, o.to, now);
  const formats = parseFormats(o.format);
  const loaded = readPolicy(resolvePolicyFile(o.policy));
  const dir = path.resolve(o.out ?? `arca-report-${lastDay(period)}`);
  const access: RepoAccess = {
    env: process.env,
    cacheDir: o.cache === false ? false : o.cacheDir,
    onRetry: (line) => out.warn(`arca: ${line}`),
    onWarning: (line) => out.warn(`arca: warning: ${line}`),
    keys: new Map(),
  };
  const file = journalPath(o.journal);
  const reader = Journal.open(file, { readonly: true });
  let report: ReturnType<typeof computeReport>;
  try {
    report = computeReport(await gatherReport(loaded, reader, access, period, now));
  } finally {
    reader.close();
  }
  for (const r of report.repositories)
    if (!r.reachable) out.warn(`arca: warning: repository ${r.name}: ${r.error ?? 'unreachable'}`);
  const index = writePack(report, dir, formats);
  for (const a of index.artifacts)
    out.info(`wrote ${path.join(dir, a.name)} (${a.bytes} bytes, sha256 ${a.sha256})`);
  out.info(`wrote ${path.join(dir, 'index.json')}`);
  if (o.store === false) {
    if (out.json) out.printJson({ dir, index, stored: [] });
    return;
  }
  const writer = Journal.open(file);
  let stored: Awaited<ReturnType<typeof storePack>>;
  try {
    stored = await storePack(dir, index, {
      loaded,
      journal: writer,
      access,
      host: hostName(),
      name: path.basename(dir),
    });
  } finally {
    writer.close();
  }
  for (const s of stored) {
    if (s.error === null)
      out.info(`stored in ${s.repository}: snapshot ${s.snapshot_id?.slice(0, 8) ?? '?'}`);
    else out.warn(`arca: could not store the report in ${s.repository}: ${s.error}`);
  }
  if (out.json) out.printJson({ dir, index, stored });
  const failed = stored.filter((s) => s.error !== null);
  if (failed.length > 0)
    throw new ArcaError(
      'io',
      `the report was written to ${dir} but not stored in ${failed.map((s) => s.repository).join(', ')}`,
    );
}
