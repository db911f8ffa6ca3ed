/**
 * The email a notification becomes: a subject that says what happened to which dataset, and a
 * plain-text body a person reads top-down — the summary line, the facts as `key: value`
 * lines, then the event's JSON for anyone who wants to feed it to a program.
 */
import type { ArcaEvent } from './event.js';

/** `[arca] FAILED backup of dataset files (POL-BKP-001)`, and likewise for an RPO breach, a success or a failed drill. */
export function emailSubject(event: ArcaEvent): string {
  const subject =
    event.dataset !== undefined ? `dataset ${event.dataset}` : `repository ${event.repository ?? '?'}`;
  const operation = event.operation ?? 'backup';
  const what = {
    failure: `FAILED ${operation} of ${subject}`,
    'rpo-breach': `RPO breach: ${subject}`,
    success: `${operation} of ${subject} succeeded`,
    'drill-failure':
      event.stage === null || event.stage === undefined
        ? `restore drill of ${subject} MISSED its RTO or RPO`
        : `FAILED restore drill of ${subject}`,
  }[event.event];
  return `[arca] ${what} (${event.policy})`;
}

/** The plain-text body: the summary, the facts one per line, then the event as JSON. */
export function emailText(event: ArcaEvent): string {
  const facts: string[] = [];
  for (const [key, value] of Object.entries(event)) {
    if (key === 'summary' || value === undefined) continue;
    facts.push(`${key}: ${describeValue(value)}`);
  }
  return `${event.summary}\n\n${facts.join('\n')}\n\n${JSON.stringify(event, null, 2)}\n`;
}

function describeValue(value: unknown): string {
  if (value === null) return 'none';
  if (Array.isArray(value)) return value.join(', ');
  // A multi-line error stays readable: its further lines are indented under the key.
  return String(value).replace(/\r?\n/g, '\n  ');
}
