/**
 * Durations in the policy file: `30s`, `15m`, `24h`, `7d`, `4w`, `1y`, or several units largest
 * first (`1d12h`, `1m30s`). `m` is minutes, never months (restic's `--keep-within` reads `m` as months;
 * the policy does not, so a value means the same wherever it appears). A year counts 365 days
 * when durations are compared; retention's `within` keeps it a calendar year.
 */
import { z } from 'zod';
import { ArcaError } from '../errors.js';

const SECOND = 1000;
const MINUTE = 60 * SECOND;
const HOUR = 60 * MINUTE;
const DAY = 24 * HOUR;
const WEEK = 7 * DAY;
const YEAR = 365 * DAY;

/** A parsed policy duration: its parts as written and its length in milliseconds. */
export interface PolicyDuration {
  years: number;
  weeks: number;
  days: number;
  hours: number;
  minutes: number;
  seconds: number;
  ms: number;
}

const FORMAT = /^(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?$/;

/** The hint every message about a malformed duration carries. */
export const durationHint = 'expected a duration like 30s, 15m, 24h, 7d or 4w';

/** Parses a policy duration; throws ArcaError `usage` for anything else, or for a zero length. */
export function parsePolicyDuration(text: string): PolicyDuration {
  const m = FORMAT.exec(text);
  if (m === null || text === '') throw new ArcaError('usage', `${JSON.stringify(text)}: ${durationHint}`);
  const [years, weeks, days, hours, minutes, seconds] = m.slice(1).map((g) => Number(g ?? 0)) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const ms = years * YEAR + weeks * WEEK + days * DAY + hours * HOUR + minutes * MINUTE + seconds * SECOND;
  if (!Number.isSafeInteger(ms)) throw new ArcaError('usage', `${JSON.stringify(text)}: too long`);
  if (ms === 0) throw new ArcaError('usage', `${JSON.stringify(text)}: must be longer than zero`);
  return { years, weeks, days, hours, minutes, seconds, ms };
}

/** The parsed duration, or undefined when `text` is not one. */
export function tryParseDuration(text: string): PolicyDuration | undefined {
  try {
    return parsePolicyDuration(text);
  } catch {
    return undefined;
  }
}

/** The length of a duration already validated by {@link durationSchema}, in milliseconds. */
export function durationMs(text: string): number {
  return parsePolicyDuration(text).ms;
}

/** A length in milliseconds written as a policy duration, largest units first (`1d12h`, `45m`); rounds down to seconds. */
export function formatMs(ms: number): string {
  if (!Number.isFinite(ms)) return 'forever';
  let rest = Math.floor(ms / SECOND) * SECOND;
  let s = '';
  for (const [unit, size] of [
    ['w', WEEK],
    ['d', DAY],
    ['h', HOUR],
    ['m', MINUTE],
    ['s', SECOND],
  ] as const) {
    const n = Math.floor(rest / size);
    if (n > 0) s += `${n}${unit}`;
    rest -= n * size;
  }
  return s === '' ? '0s' : s;
}

/** A policy duration in the schema: a string such as `24h`. */
export const durationSchema = z
  .string({ error: durationHint })
  .superRefine((text, ctx) => {
    try {
      parsePolicyDuration(text);
    } catch (err) {
      ctx.addIssue({ code: 'custom', message: err instanceof ArcaError ? err.message : String(err) });
    }
  })
  .meta({ description: 'a duration: 30s, 15m, 24h, 7d, 4w, 1y, or combined largest first (1d12h)' });
