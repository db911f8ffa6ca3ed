/**
 * The markdown evidence pack: the same sections and tables as the HTML (tables.ts), for a
 * ticket, a wiki or a management review, without the charts.
 */
import type { Report } from './compute.js';
import { lastDay, reportSections, type Table } from './tables.js';

/**
 * Text from the journal or the policy as markdown text: markdown renderers pass HTML
 * through, so `<`, `>` and `&` become entities (a file name `<img src=x onerror=…>` in an
 * error must show as text, not run).
 */
export function escapeText(s: string): string {
  return s.replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'));
}

/** Text as one table cell: HTML escaped, `|` and backslashes escaped, on one line. */
function escapeCell(s: string): string {
  return escapeText(s).replace(/\\/g, '\\\\').replace(/\|/g, '\\|').replace(/\r?\n/g, ' ');
}

function table(t: Table): string[] {
  const out: string[] = [];
  if (t.caption !== undefined) out.push(`**${escapeCell(t.caption)}**`, '');
  if (t.rows.length === 0) return [...out, '_none_', ''];
  out.push(`| ${t.headers.map(escapeCell).join(' | ')} |`);
  out.push(`|${t.headers.map(() => '---').join('|')}|`);
  for (const r of t.rows) out.push(`| ${r.map(escapeCell).join(' | ')} |`);
  out.push('');
  return out;
}

/** Renders the report as markdown. */
export function renderMarkdown(report: Report): string {
  const lines = [
    `# Backup evidence pack: ${escapeText(report.policy.id)} ${report.period.from.slice(0, 10)} to ${lastDay(report.period)}`,
    '',
    `Computed by arca from the policy (sha256 \`${report.policy.sha256}\`), the journal and the repositories. ` +
      'index.json lists every artifact with its SHA-256.',
    '',
  ];
  for (const s of reportSections(report)) {
    lines.push(`## ${escapeText(s.title)}`, '');
    for (const p of s.paragraphs) lines.push(escapeText(p), '');
    for (const t of s.tables) lines.push(...table(t));
  }
  return `${lines.join('\n').trimEnd()}\n`;
}
