/**
 * Markdown text made safe for values that come from the policy or the journal. Markdown
 * renderers pass HTML through, so a file name such as `<img src=x onerror=…>` in a drill's
 * error would run in a wiki that shows the runbook: outside code spans `<`, `>` and `&`
 * become entities; inside code spans nothing is interpreted, so values are put there
 * whole, with a fence of backticks longer than any run of backticks they contain.
 */

/** `s` as markdown text on one line: `<`, `>` and `&` as entities, line breaks as spaces. */
export function mdText(s: string): string {
  return s
    .replace(/[&<>]/g, (c) => (c === '&' ? '&amp;' : c === '<' ? '&lt;' : '&gt;'))
    .replace(/\r?\n|\r/g, ' ');
}

/** `s` as an inline code span that shows it exactly, whatever backticks it holds (line breaks as spaces). */
export function code(s: string): string {
  const text = s.replace(/\r?\n|\r/g, ' ');
  const longest = Math.max(0, ...[...text.matchAll(/`+/g)].map((m) => m[0].length));
  const fence = '`'.repeat(longest + 1);
  // A space is stripped from each side of a span that starts and ends with one; pad so none of the value is.
  const pad = text.startsWith('`') || text.endsWith('`') || (text.startsWith(' ') && text.endsWith(' '));
  return pad ? `${fence} ${text} ${fence}` : `${fence}${text}${fence}`;
}
