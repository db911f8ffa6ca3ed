/**
 * Calendar dates in the policy file (`2025-01-31`). YAML 1.2 reads an unquoted date as a
 * string, so the policy keeps dates as written and compares them as UTC days.
 */
import { z } from 'zod';

const DAY_MS = 86_400_000;

/** The UTC midnight of `text` in milliseconds, or undefined when it is not a real `YYYY-MM-DD` date. */
export function parseDate(text: string): number | undefined {
  const m = /^(\d{4})-(\d{2})-(\d{2})$/.exec(text);
  if (m === null) return undefined;
  const [y, mo, d] = [Number(m[1]), Number(m[2]), Number(m[3])];
  const ms = Date.UTC(y, mo - 1, d);
  const back = new Date(ms);
  // Date.UTC rolls 2025-02-30 over into March; a real date survives the round trip.
  if (back.getUTCFullYear() !== y || back.getUTCMonth() !== mo - 1 || back.getUTCDate() !== d)
    return undefined;
  return ms;
}

/** The date of `moment` in UTC, as `YYYY-MM-DD`. */
export function formatDate(moment: Date | number): string {
  return new Date(moment).toISOString().slice(0, 10);
}

/** `date` plus `months` calendar months; a day the target month lacks becomes its last day (31 Jan + 1 month = 28/29 Feb). */
export function addMonths(date: number, months: number): number {
  const d = new Date(date);
  const first = Date.UTC(d.getUTCFullYear(), d.getUTCMonth() + months, 1);
  const f = new Date(first);
  const lastDay = new Date(Date.UTC(f.getUTCFullYear(), f.getUTCMonth() + 1, 0)).getUTCDate();
  return first + (Math.min(d.getUTCDate(), lastDay) - 1) * DAY_MS;
}

/** A date in the schema: `YYYY-MM-DD`. */
export const dateSchema = z
  .string({ error: 'expected a date like 2025-01-31' })
  .refine((text) => parseDate(text) !== undefined, { error: 'expected a real date like 2025-01-31' })
  .meta({ description: 'a date, YYYY-MM-DD', format: 'date' });
