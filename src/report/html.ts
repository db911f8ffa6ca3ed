/**
 * The HTML evidence pack: one self-contained file (inline CSS, inline SVG charts, no script
 * and no external resource), readable on screen and printable. Every text taken from the
 * report is escaped.
 */
import { durationMs } from '../policy/duration.js';
import type { DatasetReport, Report } from './compute.js';
import { barChart, escapeHtml, lineChart } from './svg.js';
import { lastDay, reportSections, type Section, seconds, shortBytes, type Table } from './tables.js';

const css = `
:root { color-scheme: light; }
body { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", sans-serif; color: #1b1f24; margin: 2rem auto; max-width: 1100px; padding: 0 1rem; }
h1 { font-size: 1.6rem; margin-bottom: .2rem; }
h2 { font-size: 1.25rem; border-bottom: 2px solid #d0d7de; padding-bottom: .2rem; margin-top: 2rem; }
h3 { font-size: 1rem; margin: 1rem 0 .3rem; }
table { border-collapse: collapse; width: 100%; margin: .4rem 0 1rem; }
th, td { border: 1px solid #d0d7de; padding: .25rem .45rem; text-align: left; vertical-align: top; overflow-wrap: anywhere; }
th { background: #f3f5f7; }
caption { text-align: left; font-weight: 600; padding: .3rem 0; }
nav ul { columns: 2; padding-left: 1.2rem; }
.muted { color: #57606a; }
.charts { display: flex; flex-wrap: wrap; gap: .8rem; }
.chart { width: 100%; max-width: 520px; height: auto; border: 1px solid #d0d7de; background: #fff; }
.chart-title { font-size: 12px; font-weight: 600; fill: #1b1f24; }
.axis { stroke: #57606a; stroke-width: 1; }
.grid { stroke: #eaeef2; stroke-width: 1; }
.tick { font-size: 10px; fill: #57606a; }
.series { fill: none; stroke: #0969da; stroke-width: 2; }
.dot { fill: #0969da; }
.dot.hollow { fill: #fff; stroke: #cf222e; stroke-width: 1.5; }
.bar { fill: #1a7f37; }
.bar.miss { fill: #cf222e; }
.bar.forecast { fill: #ffffff; stroke: #1a7f37; stroke-width: 2; stroke-dasharray: 4 2; }
.bar.forecast.miss { fill: #ffebe9; stroke: #cf222e; }
.legend { font-size: 10px; fill: #1b1f24; }
.limit { stroke: #9a6700; stroke-width: 1.5; stroke-dasharray: 5 3; }
.st-met, .st-pass { color: #1a7f37; font-weight: 600; }
.st-not-met, .st-fail { color: #cf222e; font-weight: 600; }
.st-partly-met, .st-attested, .st-organisational { color: #9a6700; font-weight: 600; }
td[class^="st-"] { white-space: nowrap; }
@media print {
  body { margin: 0; max-width: none; font-size: 10pt; }
  nav { display: none; }
  h2 { break-before: auto; break-after: avoid; }
  table, .chart { break-inside: avoid; }
  a { color: inherit; text-decoration: none; }
}
`;

const statusWords = new Set([
  'met',
  'not met',
  'partly met',
  'organisational',
  'not evaluated',
  'pass',
  'fail',
  'attested',
]);

function cell(text: string): string {
  const cls = statusWords.has(text) ? ` class="st-${text.replace(/ /g, '-')}"` : '';
  return `<td${cls}>${escapeHtml(text)}</td>`;
}

function table(t: Table): string {
  const caption = t.caption === undefined ? '' : `<caption>${escapeHtml(t.caption)}</caption>`;
  const head = `<tr>${t.headers.map((h) => `<th>${escapeHtml(h)}</th>`).join('')}</tr>`;
  const rows =
    t.rows.length === 0
      ? `<tr><td colspan="${t.headers.length}" class="muted">none</td></tr>`
      : t.rows.map((r) => `<tr>${r.map(cell).join('')}</tr>`).join('');
  return `<table>${caption}<thead>${head}</thead><tbody>${rows}</tbody></table>`;
}

/** The charts of one dataset: backup duration and size over time, restore time against the RTO. */
export function datasetCharts(d: DatasetReport): string {
  const runs = d.history.filter((h) => h.duration_seconds !== null);
  const duration = lineChart(
    `${d.name}: backup duration`,
    runs.map((h) => ({ t: Date.parse(h.at), value: h.duration_seconds!, hollow: h.result !== 'success' })),
    (v) => seconds(v),
  );
  const size = lineChart(
    `${d.name}: backup size (bytes read)`,
    d.history
      .filter((h) => h.bytes_read !== null)
      .map((h) => ({ t: Date.parse(h.at), value: h.bytes_read!, hollow: h.result !== 'success' })),
    (v) => shortBytes(v),
  );
  const restore = barChart(
    `${d.name}: restore time against the RTO (${d.rto})`,
    d.drills
      .filter((x) => x.restore_time_seconds !== null)
      .map((x) => ({
        label: x.at.slice(5, 10),
        value: x.restore_time_seconds!,
        forecast: x.restore_time_kind === 'forecast',
        miss: x.rto_met === false,
      })),
    durationMs(d.rto) / 1000,
    `RTO ${d.rto}`,
    (v) => seconds(v),
  );
  return `<div class="charts">${duration}${size}${restore}</div>`;
}

function section(s: Section, report: Report): string {
  const d = s.dataset === undefined ? undefined : report.datasets.find((x) => x.name === s.dataset);
  return (
    `<section id="${escapeHtml(s.id)}"><h2>${escapeHtml(s.title)}</h2>` +
    s.paragraphs.map((p) => `<p>${escapeHtml(p)}</p>`).join('') +
    (d ? datasetCharts(d) : '') +
    s.tables.map(table).join('') +
    '</section>'
  );
}

/** Renders the report as one self-contained HTML document. */
export function renderHtml(report: Report): string {
  const sections = reportSections(report);
  const title = `Backup evidence pack: ${report.policy.id} ${report.period.from.slice(0, 10)} to ${lastDay(report.period)}`;
  const nav = `<nav><ul>${sections.map((s) => `<li><a href="#${escapeHtml(s.id)}">${escapeHtml(s.title)}</a></li>`).join('')}</ul></nav>`;
  return (
    '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">' +
    '<meta name="viewport" content="width=device-width, initial-scale=1">' +
    `<title>${escapeHtml(title)}</title><style>${css}</style></head><body>` +
    `<header><h1>${escapeHtml(title)}</h1><p class="muted">Computed by arca from the policy (sha256 ${escapeHtml(report.policy.sha256)}), the journal and the repositories; nothing in it is typed by hand. ` +
    'index.json beside this file lists every artifact with its SHA-256.</p></header>' +
    nav +
    sections.map((s) => section(s, report)).join('') +
    '</body></html>\n'
  );
}
