import type { Dataset, SetName } from './datasets.js';
import type { ManifestDiff } from './manifest.js';
import type { RemoteKind } from './remote.js';
import { type StepName, stepNames, stepTitles, type ToolName } from './tools.js';

/** Outcome of one measured step. */
export interface StepRecord {
  step: StepName;
  status: 'ok' | 'failed' | 'timeout' | 'skipped';
  /** Why a step failed or was skipped. */
  reason?: string;
  wall?: number;
  user?: number;
  sys?: number;
  maxRssKiB?: number;
  exitCode?: number | null;
  /** Repository size (`du -sb`) after the step, for backups. */
  repoBytes?: number;
  /** 1-minute load average just before the step: a hint of how busy the shared machine was. */
  loadBefore: number;
  outputTail?: string;
}

/** One tool's run over one data set. */
export interface RunRecord {
  set: SetName;
  /** The server the repository was on; absent for a local repository. */
  remote?: RemoteKind;
  tool: ToolName;
  run: number;
  /** False when the restored tree differs from the source (or no restore happened). */
  valid: boolean;
  validation?: ManifestDiff & { sourceHash: string; restoredHash: string };
  error?: string;
  steps: StepRecord[];
}

/** Middle value (mean of the two middle ones for an even count); NaN for none. */
export function median(xs: number[]): number {
  const v = xs.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 ? v[mid]! : (v[mid - 1]! + v[mid]!) / 2;
}

/** The medians of one tool's step over the runs that count. */
export interface StepSummary {
  wall: number;
  cpu: number;
  rssKiB: number;
  repoBytes: number;
  /** Runs whose numbers went into the medians. */
  n: number;
  /** Smallest and largest wall time, to show the spread. */
  wallMin: number;
  wallMax: number;
  /** True when no valid run had this step succeed, so the medians come from invalid runs. */
  fromInvalid: boolean;
}

/**
 * Summarises a step over runs: valid runs with the step ok; if there are none, the
 * invalid runs' successful steps, flagged, so a wrong result never passes for a good one.
 */
export function summarise(runs: RunRecord[], step: StepName): StepSummary | undefined {
  const pick = (rs: RunRecord[]) =>
    rs.flatMap((r) => r.steps.filter((s) => s.step === step && s.status === 'ok'));
  let steps = pick(runs.filter((r) => r.valid));
  let fromInvalid = false;
  if (steps.length === 0) {
    steps = pick(runs);
    fromInvalid = steps.length > 0;
  }
  if (steps.length === 0) return undefined;
  const walls = steps.map((s) => s.wall ?? Number.NaN);
  return {
    wall: median(walls),
    cpu: median(steps.map((s) => (s.user ?? Number.NaN) + (s.sys ?? Number.NaN))),
    rssKiB: median(steps.map((s) => s.maxRssKiB ?? Number.NaN)),
    repoBytes: median(steps.map((s) => s.repoBytes ?? Number.NaN)),
    n: steps.length,
    wallMin: Math.min(...walls),
    wallMax: Math.max(...walls),
    fromInvalid,
  };
}

/** Seconds with about three significant digits. */
export function fmtSec(x: number): string {
  if (!Number.isFinite(x)) return '—';
  if (x < 10) return `${x.toFixed(2)} s`;
  if (x < 100) return `${x.toFixed(1)} s`;
  return `${x.toFixed(0)} s`;
}

/** Decimal megabytes or gigabytes. */
export function fmtBytes(x: number): string {
  if (!Number.isFinite(x)) return '—';
  if (x >= 1e9) return `${(x / 1e9).toFixed(2)} GB`;
  return `${(x / 1e6).toFixed(1)} MB`;
}

/** Peak RSS in MiB. */
export function fmtRss(kib: number): string {
  return Number.isFinite(kib) ? `${(kib / 1024).toFixed(0)} MiB` : '—';
}

/** arca / restic: above 1 means arca takes longer (or uses more). */
export function fmtRatio(a: number, b: number): string {
  if (!Number.isFinite(a) || !Number.isFinite(b) || b <= 0) return '—';
  return `${(a / b).toFixed(2)}×`;
}

/** What one data set's section of the report says. */
export interface SetSection {
  dataset: Dataset;
  /** The server the repositories were on; absent for local repositories. */
  remote?: RemoteKind;
  runs: RunRecord[];
  runsPerTool: number;
}

function cell(s: StepSummary | undefined, f: (s: StepSummary) => string): string {
  if (!s) return 'failed';
  return f(s) + (s.fromInvalid ? ' ⚠invalid' : '');
}

/** The markdown section of one data set: the step table, validity and repository sizes. */
export function setMarkdown(sec: SetSection): string {
  const { dataset: d, runs } = sec;
  const of = (tool: ToolName) => runs.filter((r) => r.tool === tool);
  const lines: string[] = [];
  lines.push(
    `### ${d.name}${sec.remote ? ` via ${sec.remote}` : ''}: ${fmtBytes(d.bytes)}, ${d.files.toLocaleString('en')} files, ${d.dirs.toLocaleString('en')} dirs, ${d.symlinks} symlinks`,
  );
  lines.push('');
  lines.push(
    '| step | arca wall | restic wall | ratio wall | arca CPU | restic CPU | ratio CPU | arca RSS | restic RSS | ratio RSS |',
  );
  lines.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const step of stepNames) {
    const a = summarise(of('arca'), step);
    const r = summarise(of('restic'), step);
    lines.push(
      `| ${stepTitles[step]} | ${cell(a, (s) => fmtSec(s.wall))} | ${cell(r, (s) => fmtSec(s.wall))} | ${fmtRatio(a?.wall ?? Number.NaN, r?.wall ?? Number.NaN)} | ` +
        `${cell(a, (s) => fmtSec(s.cpu))} | ${cell(r, (s) => fmtSec(s.cpu))} | ${fmtRatio(a?.cpu ?? Number.NaN, r?.cpu ?? Number.NaN)} | ` +
        `${cell(a, (s) => fmtRss(s.rssKiB))} | ${cell(r, (s) => fmtRss(s.rssKiB))} | ${fmtRatio(a?.rssKiB ?? Number.NaN, r?.rssKiB ?? Number.NaN)} |`,
    );
  }
  lines.push('');
  lines.push('| repository size | arca | restic | ratio | arca / input | restic / input |');
  lines.push('|---|---:|---:|---:|---:|---:|');
  const repoRows = [
    ['backup-first', 'after first backup'],
    ['backup-nochange', 'after no-change backup'],
    ['backup-change', 'after ~1% change backup'],
  ] as const;
  for (const [step, title] of repoRows) {
    const sa = summarise(of('arca'), step);
    const sr = summarise(of('restic'), step);
    const a = sa?.repoBytes ?? Number.NaN;
    const r = sr?.repoBytes ?? Number.NaN;
    lines.push(
      `| ${title} | ${cell(sa, (s) => fmtBytes(s.repoBytes))} | ${cell(sr, (s) => fmtBytes(s.repoBytes))} | ${fmtRatio(a, r)} | ${(a / d.bytes).toFixed(3)} | ${(r / d.bytes).toFixed(3)} |`,
    );
  }
  lines.push('');
  lines.push(
    `Medians of ${sec.runsPerTool} run(s) per tool; CPU = user + sys of the child; RSS = peak resident set; ratio = arca / restic (above 1: arca slower or bigger).`,
  );
  lines.push('Wall spread (min–max) and validity per tool:');
  lines.push('');
  for (const tool of ['arca', 'restic'] as const) {
    const rs = of(tool);
    const valid = rs.filter((r) => r.valid).length;
    const spread = stepNames
      .map((st) => {
        const s = summarise(rs, st);
        return s
          ? `${stepTitles[st]} ${s.wallMin.toFixed(2)}–${s.wallMax.toFixed(2)}`
          : `${stepTitles[st]} failed`;
      })
      .join('; ');
    const meta = rs.reduce((n, r) => n + (r.validation?.metaDiffers ?? 0), 0);
    lines.push(
      `- ${tool}: restored tree identical to the source in ${valid}/${rs.length} runs` +
        (meta > 0 ? ` (${meta} entries with differing mode/mtime, not counted as invalid)` : '') +
        `; wall s: ${spread}`,
    );
    for (const r of rs) {
      if (!r.valid)
        lines.push(
          `  - run ${r.run} INVALID: ${r.error ?? r.validation?.examples.join(', ') ?? 'no restore'}`,
        );
      for (const s of r.steps) {
        if (s.status === 'failed' || s.status === 'timeout')
          lines.push(`  - run ${r.run} ${stepTitles[s.step]}: ${s.status} ${s.reason ?? ''}`.trimEnd());
      }
    }
  }
  lines.push('');
  return lines.join('\n');
}
